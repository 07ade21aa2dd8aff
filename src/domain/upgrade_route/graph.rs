//! Parsing `oceanbase_upgrade_dep.yml` into an [`UpgradeGraph`].

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_saphyr::Spanned;

use super::version::{Version, VersionError};

/// The upgrade graph: one node per `version` entry, plus one for each
/// `can_be_upgraded_to` target that has no entry of its own (the seed's
/// `4.3.0.0`), and one edge per `can_be_upgraded_to` item.
#[derive(Debug, Clone)]
pub struct UpgradeGraph {
    pub(super) nodes: Vec<Node>,
    /// Node indices by their version without build, for matching.
    by_numbers: HashMap<Version, Vec<usize>>,
    edge_count: usize,
}

#[derive(Debug, Clone)]
pub(super) struct Node {
    pub version: Version,
    pub deprecated: bool,
    pub requirement: Requirement,
    /// Targets sorted by version, so the search's tie-break does not depend
    /// on the order the YAML lists them in.
    pub next: Vec<usize>,
}

/// `require_from_binary`, normalised.
#[derive(Debug, Clone)]
pub(super) enum Requirement {
    Never,
    Always,
    /// Only when the route's previous barrier matches one of these.
    WhenComeFrom(Vec<Version>),
}

impl Requirement {
    pub fn holds(&self, previous_barrier: &Version) -> bool {
        match self {
            Requirement::Never => false,
            Requirement::Always => true,
            Requirement::WhenComeFrom(from) => from.iter().any(|w| w.matches(previous_barrier)),
        }
    }
}

/// Why a dependency YAML was refused. The message is meant for the client
/// as is (the HTTP layer answers 400 with it), so it names the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// Not YAML, or not a list of entries of the expected shape.
    Yaml {
        line: Option<u64>,
        column: Option<u64>,
        message: String,
    },
    /// A version in `version`, `can_be_upgraded_to` or `when_come_from`
    /// does not parse.
    Version {
        line: u64,
        field: &'static str,
        error: VersionError,
    },
    /// Two entries declare the same version: which one holds is ambiguous.
    DuplicateVersion {
        version: Version,
        line: u64,
        first_line: u64,
    },
}

impl GraphError {
    /// The 1-based line the error is about, when known.
    pub fn line(&self) -> Option<u64> {
        match self {
            GraphError::Yaml { line, .. } => *line,
            GraphError::Version { line, .. } | GraphError::DuplicateVersion { line, .. } => {
                Some(*line)
            }
        }
    }

    fn from_yaml(err: &serde_saphyr::Error) -> Self {
        // The plain message ends in " at line L, column C"; the location is
        // put first instead, and the library's advice to its own users
        // ("set DuplicateKeyPolicy …") is dropped.
        let plain = err.without_snippet().to_string();
        let location = err.location().filter(|l| l.line() > 0);
        let mut message = plain.as_str();
        if let Some(l) = location {
            let suffix = format!(" at line {}, column {}", l.line(), l.column());
            message = message.strip_suffix(&suffix).unwrap_or(message);
        }
        if let Some((head, _)) = message.split_once(", set DuplicateKeyPolicy") {
            message = head;
        }
        GraphError::Yaml {
            line: location.map(|l| l.line()),
            column: location.map(|l| l.column()),
            message: message.to_owned(),
        }
    }
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::Yaml {
                line: Some(line),
                column,
                message,
            } => {
                write!(f, "malformed upgrade dependency YAML at line {line}")?;
                if let Some(column) = column {
                    write!(f, ", column {column}")?;
                }
                write!(f, ": {message}")
            }
            GraphError::Yaml { message, .. } => {
                write!(f, "malformed upgrade dependency YAML: {message}")
            }
            GraphError::Version { line, field, error } => {
                write!(f, "upgrade dependency YAML line {line}, `{field}`: {error}")
            }
            GraphError::DuplicateVersion {
                version,
                line,
                first_line,
            } => write!(
                f,
                "upgrade dependency YAML line {line}: version {version} is declared twice \
                 (first at line {first_line})"
            ),
        }
    }
}

impl std::error::Error for GraphError {}

/// One list entry as written. Unknown keys are ignored so that newer files
/// (obd also knows `when_upgraded_to`) still load.
#[derive(Deserialize)]
struct RawEntry {
    version: Spanned<String>,
    #[serde(default)]
    can_be_upgraded_to: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    deprecated: Option<bool>,
    #[serde(default)]
    require_from_binary: Option<RawRequirement>,
}

/// `require_from_binary: BOOL` or `{value: BOOL, when_come_from: [..]}`.
/// A hand-written visitor gives a clearer error than `untagged`.
enum RawRequirement {
    Flag(bool),
    Spec {
        value: bool,
        when_come_from: Option<Vec<Spanned<String>>>,
    },
}

impl<'de> Deserialize<'de> for RawRequirement {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RequirementVisitor;
        impl<'de> Visitor<'de> for RequirementVisitor {
            type Value = RawRequirement;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean or a map {value: BOOL, when_come_from: [VERSIONS]}")
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
                Ok(RawRequirement::Flag(value))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut value = None;
                let mut when_come_from = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "value" => value = Some(map.next_value::<bool>()?),
                        "when_come_from" => when_come_from = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                // Defaulting a missing `value` to false would silently skip a
                // binary install the author probably meant; refuse instead.
                let value = value.ok_or_else(|| de::Error::missing_field("value"))?;
                Ok(RawRequirement::Spec {
                    value,
                    when_come_from,
                })
            }
        }
        deserializer.deserialize_any(RequirementVisitor)
    }
}

fn parse_spanned(text: &Spanned<String>, field: &'static str) -> Result<Version, GraphError> {
    Version::parse(&text.value).map_err(|error| GraphError::Version {
        line: text.referenced.line(),
        field,
        error,
    })
}

/// Parses the text of `oceanbase_upgrade_dep.yml`. A file with no entries
/// (empty, or only comments) gives an empty graph.
pub fn parse_dep_yaml(text: &str) -> Result<UpgradeGraph, GraphError> {
    let entries: Option<Vec<RawEntry>> =
        serde_saphyr::from_str(text).map_err(|e| GraphError::from_yaml(&e))?;
    let entries = entries.unwrap_or_default();

    let mut graph = UpgradeGraph {
        nodes: Vec::with_capacity(entries.len()),
        by_numbers: HashMap::new(),
        edge_count: 0,
    };
    // Declared versions first, so that edges may point at later entries.
    let mut index: HashMap<Version, (usize, u64)> = HashMap::with_capacity(entries.len());
    for entry in &entries {
        let version = parse_spanned(&entry.version, "version")?;
        let line = entry.version.referenced.line();
        if let Some(&(_, first_line)) = index.get(&version) {
            return Err(GraphError::DuplicateVersion {
                version,
                line,
                first_line,
            });
        }
        let requirement = match &entry.require_from_binary {
            None | Some(RawRequirement::Flag(false)) => Requirement::Never,
            Some(RawRequirement::Spec { value: false, .. }) => Requirement::Never,
            Some(RawRequirement::Flag(true)) => Requirement::Always,
            Some(RawRequirement::Spec {
                value: true,
                when_come_from: None,
            }) => Requirement::Always,
            Some(RawRequirement::Spec {
                value: true,
                when_come_from: Some(list),
            }) => Requirement::WhenComeFrom(
                list.iter()
                    .map(|v| parse_spanned(v, "when_come_from"))
                    .collect::<Result<_, _>>()?,
            ),
        };
        index.insert(version, (graph.nodes.len(), line));
        graph.push(Node {
            version,
            deprecated: entry.deprecated.unwrap_or(false),
            requirement,
            next: Vec::new(),
        });
    }

    for (from, entry) in entries.iter().enumerate() {
        for target in entry.can_be_upgraded_to.iter().flatten() {
            let version = parse_spanned(target, "can_be_upgraded_to")?;
            let to = match index.get(&version) {
                Some(&(i, _)) => i,
                None => {
                    // A target without its own entry: a plain node.
                    let i = graph.nodes.len();
                    index.insert(version, (i, target.referenced.line()));
                    graph.push(Node {
                        version,
                        deprecated: false,
                        requirement: Requirement::Never,
                        next: Vec::new(),
                    });
                    i
                }
            };
            graph.nodes[from].next.push(to);
        }
    }

    let versions: Vec<Version> = graph.nodes.iter().map(|n| n.version).collect();
    for node in &mut graph.nodes {
        node.next.sort_unstable_by_key(|&i| versions[i]);
        node.next.dedup();
        graph.edge_count += node.next.len();
    }
    Ok(graph)
}

impl UpgradeGraph {
    fn push(&mut self, node: Node) {
        self.by_numbers
            .entry(node.version.without_build())
            .or_default()
            .push(self.nodes.len());
        self.nodes.push(node);
    }

    /// Number of versions (declared entries and edge-only targets).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of distinct upgrade edges.
    pub fn edge_count(&self) -> usize {
        self.edge_count
    }

    /// The node a concrete version maps to: among the nodes that match it,
    /// the one with the highest build (so `A.B.C.D-BUILD` beats `A.B.C.D`).
    pub fn matching_node(&self, concrete: &Version) -> Option<&Version> {
        self.resolve(concrete).map(|i| &self.nodes[i].version)
    }

    pub(super) fn resolve(&self, concrete: &Version) -> Option<usize> {
        self.by_numbers
            .get(&concrete.without_build())?
            .iter()
            .copied()
            .filter(|&i| self.nodes[i].version.matches(concrete))
            .max_by_key(|&i| self.nodes[i].version.build())
    }

    /// Nodes with the same numbers as `v`, for "did you mean" hints.
    pub(super) fn same_numbers(&self, v: &Version) -> Vec<Version> {
        let mut found: Vec<Version> = self
            .by_numbers
            .get(&v.without_build())
            .into_iter()
            .flatten()
            .map(|&i| self.nodes[i].version)
            .collect();
        found.sort_unstable();
        found
    }
}
