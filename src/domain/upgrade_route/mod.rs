//! The obshell upgrade-route planner: reads `oceanbase_upgrade_dep.yml`
//! (shipped in OceanBase RPMs) and finds the route from an installed version
//! to a target. Pure: no I/O, so the HTTP and CLI layers share it.
//!
//! The rules are the YAML header's, as `shared/reference/obshell.md` states
//! them (not what obshell or obd happen to do):
//! - each `version` entry is a node and each `can_be_upgraded_to` item an
//!   edge; the route is a shortest path (fewest hops);
//! - `A.B.C.D-BUILD` covers builds ≥ BUILD, `A.B.C.D` every build; where both
//!   cover a version the `-BUILD` node (highest BUILD not above it) is used;
//! - a `deprecated` node may start a route, never be a later hop or the target;
//! - a node whose `require_from_binary` holds is a binary barrier: a bool
//!   `true`, or `value: true` with `when_come_from` matching the previous
//!   barrier (the start at first; the start is the concrete `from` version).
//!
//! Ties: of several shortest routes the planner takes the one whose versions,
//! compared hop by hop from the start, are lowest at the first hop where they
//! differ. It does not depend on the order the YAML lists edges in, so the
//! same graph always gives the same route.

mod graph;
mod version;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;

pub use graph::{GraphError, UpgradeGraph, parse_dep_yaml};
pub use version::{Version, VersionError};

/// A planned upgrade. Versions in `hops` and `binary_route` are the graph's
/// nodes (so a `-BUILD` node shows as such); `from` and `to` are what was
/// asked for, which the caller needs to pick the exact start and target
/// packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub from: Version,
    pub to: Version,
    /// Every node in order: the start's node first, the target's node last.
    pub hops: Vec<Version>,
    /// The start, each barrier whose binaries must be installed on the way,
    /// then the target: the packages an upgrade needs at hand.
    pub binary_route: Vec<Version>,
}

/// Why no route was planned. Every case is the client's input or graph, so
/// the message is written for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// `from` or `to` is not a version (`role` is "start" or "target").
    InvalidVersion {
        role: &'static str,
        error: VersionError,
    },
    /// No node matches the start; `similar` lists nodes with the same numbers.
    UnknownStart {
        version: Version,
        similar: Vec<Version>,
    },
    UnknownTarget {
        version: Version,
        similar: Vec<Version>,
    },
    /// The target's node is deprecated, which the rules forbid as a target.
    DeprecatedTarget { version: Version, node: Version },
    /// No path; `only_through` is set when a path exists but only through
    /// this deprecated node.
    NoRoute {
        from: Version,
        to: Version,
        only_through: Option<Version>,
    },
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::InvalidVersion { role, error } => write!(f, "bad {role} version: {error}"),
            PlanError::UnknownStart { version, similar } => unknown(f, "start", version, similar),
            PlanError::UnknownTarget { version, similar } => unknown(f, "target", version, similar),
            PlanError::DeprecatedTarget { version, node } => {
                write!(f, "target version {version} ")?;
                if version != node {
                    write!(f, "falls under {node}, which ")?;
                }
                write!(
                    f,
                    "is deprecated: a deprecated version may start an upgrade but not be its target"
                )
            }
            PlanError::NoRoute {
                from,
                to,
                only_through,
            } => {
                write!(f, "no upgrade route from {from} to {to}")?;
                if let Some(node) = only_through {
                    write!(
                        f,
                        ": every route passes through {node}, which is deprecated and may only start an upgrade"
                    )
                } else if to.without_build() < from.without_build() {
                    write!(f, ": the target is older than the start")
                } else {
                    write!(f, ": the upgrade graph has no path between them")
                }
            }
        }
    }
}

fn unknown(
    f: &mut fmt::Formatter<'_>,
    role: &str,
    v: &Version,
    similar: &[Version],
) -> fmt::Result {
    write!(f, "{role} version {v} is not in the upgrade graph")?;
    if !similar.is_empty() {
        let list: Vec<String> = similar.iter().map(Version::to_string).collect();
        write!(
            f,
            " (it has {}; an A.B.C.D-BUILD entry covers only builds at or above BUILD)",
            list.join(", ")
        )?;
    }
    Ok(())
}

impl std::error::Error for PlanError {}

/// Plans the upgrade from `from` to `to` (each `A.B.C.D` or `A.B.C.D-BUILD`)
/// over `graph`. Breadth-first, so it is linear in the graph's size and
/// cannot loop on cycles.
pub fn plan(graph: &UpgradeGraph, from: &str, to: &str) -> Result<Route, PlanError> {
    let parse = |role, text| {
        Version::parse(text).map_err(|error| PlanError::InvalidVersion { role, error })
    };
    let from = parse("start", from)?;
    let to = parse("target", to)?;

    let start = graph
        .resolve(&from)
        .ok_or_else(|| PlanError::UnknownStart {
            version: from,
            similar: graph.same_numbers(&from),
        })?;
    let target = graph.resolve(&to).ok_or_else(|| PlanError::UnknownTarget {
        version: to,
        similar: graph.same_numbers(&to),
    })?;
    let nodes = &graph.nodes;
    if nodes[target].deprecated {
        return Err(PlanError::DeprecatedTarget {
            version: to,
            node: nodes[target].version,
        });
    }

    let Some(path) = shortest_path(graph, start, target, false) else {
        // Only to explain the failure: is a deprecated node in the way?
        let only_through = shortest_path(graph, start, target, true).and_then(|p| {
            p[1..]
                .iter()
                .find(|&&i| nodes[i].deprecated)
                .map(|&i| nodes[i].version)
        });
        return Err(PlanError::NoRoute {
            from: nodes[start].version,
            to: nodes[target].version,
            only_through,
        });
    };

    let mut binary_route = vec![nodes[start].version];
    let mut previous_barrier = from;
    if let Some((_, middle)) = path.split_last() {
        for &i in middle.iter().skip(1) {
            if nodes[i].requirement.holds(&previous_barrier) {
                binary_route.push(nodes[i].version);
                previous_barrier = nodes[i].version;
            }
        }
    }
    if path.len() > 1 {
        binary_route.push(nodes[target].version);
    }
    Ok(Route {
        from,
        to,
        hops: path.iter().map(|&i| nodes[i].version).collect(),
        binary_route,
    })
}

/// Breadth-first search from `start`. Edges are sorted by version, and a node
/// keeps the first parent that reaches it, which yields the lowest route
/// hop by hop among the shortest ones (see the module comment).
fn shortest_path(
    graph: &UpgradeGraph,
    start: usize,
    target: usize,
    through_deprecated: bool,
) -> Option<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let nodes = &graph.nodes;
    if start == target {
        return Some(vec![start]);
    }
    let mut parent = vec![UNSEEN; nodes.len()];
    parent[start] = start;
    let mut queue = VecDeque::from([start]);
    while let Some(u) = queue.pop_front() {
        for &v in &nodes[u].next {
            if parent[v] != UNSEEN || (nodes[v].deprecated && !through_deprecated) {
                continue;
            }
            parent[v] = u;
            if v == target {
                let mut path = vec![v];
                let mut at = v;
                while at != start {
                    at = parent[at];
                    path.push(at);
                }
                path.reverse();
                return Some(path);
            }
            queue.push_back(v);
        }
    }
    None
}
