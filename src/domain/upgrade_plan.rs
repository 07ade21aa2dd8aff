//! Planning an upgrade against what depot holds: the route from the
//! dependency YAML of a stored package (or one the caller sends), and for
//! each package the route needs, whether depot has it.

use entity::package;
use sea_orm::DatabaseConnection;

use super::upgrade_route::{Route, Version, parse_dep_yaml, plan};
use crate::db;
use crate::error::{Error, Result};

#[derive(Clone, Debug, Default)]
pub struct RouteRequest {
    pub from: String,
    pub to: String,
    /// The graph to plan on; by default the YAML of the newest stored
    /// upgrade package of the target version.
    pub yaml: Option<String>,
    /// The package name to look for; by default the YAML source's, else `oceanbase-ce`.
    pub name: Option<String>,
    /// Default: the YAML source package's.
    pub architectures: Vec<String>,
    pub distributions: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct RoutePlan {
    pub route: Route,
    /// The stored package whose YAML was used, when one was.
    pub source: Option<package::Model>,
    pub needs: Vec<Need>,
}

/// A package the route needs (the start, each binary barrier and the
/// target, per architecture and distribution).
#[derive(Clone, Debug)]
pub struct Need {
    pub version: Version,
    pub architecture: String,
    pub distribution: String,
    pub found: Option<package::Model>,
    /// What to upload when it is missing: exact for `A.B.C.D-BUILD` nodes, a
    /// pattern (`*` for the build) otherwise.
    pub missing_file_name: Option<String>,
}

pub async fn plan_upgrade(db: &DatabaseConnection, req: RouteRequest) -> Result<RoutePlan> {
    let target =
        Version::parse(&req.to).map_err(|e| Error::invalid(format!("bad target version: {e}")))?;
    let (yaml, source) = match req.yaml {
        Some(yaml) => (yaml, None),
        None => {
            let source = newest_upgrade_package(db, &target, req.name.as_deref()).await?;
            (source.1.upgrade_dep_yaml.clone(), Some(source.0))
        }
    };
    if yaml.trim().is_empty() {
        return Err(Error::invalid("the upgrade dependency YAML is empty"));
    }
    let graph = parse_dep_yaml(&yaml)
        .map_err(|e| Error::invalid(format!("oceanbase_upgrade_dep.yml: {e}")))?;
    let route = plan(&graph, &req.from, &req.to).map_err(Error::invalid)?;

    let name = req
        .name
        .or_else(|| source.as_ref().map(|s| s.name.clone()))
        .unwrap_or_else(|| "oceanbase-ce".into());
    // Default dimensions: the YAML source's, else those of the stored packages of this name.
    let stored = db::packages::find_by_name(db, &name).await?;
    let dimension = |given: Vec<String>, of: fn(&package::Model) -> &String| -> Vec<String> {
        if !given.is_empty() {
            return given;
        }
        let from: Vec<&package::Model> = match &source {
            Some(s) => vec![s],
            None => stored.iter().collect(),
        };
        let mut values: Vec<String> = from.into_iter().map(|p| of(p).clone()).collect();
        values.sort();
        values.dedup();
        values
    };
    let architectures = dimension(req.architectures, |p| &p.architecture);
    let distributions = dimension(req.distributions, |p| &p.operating_system);
    if architectures.is_empty() || distributions.is_empty() {
        return Err(Error::invalid(format!(
            "no {name} package is stored to take them from: say which architecture and distribution to check (architecture=x86_64&distribution=el7)"
        )));
    }

    let mut needs = Vec::new();
    let last = route.binary_route.len() - 1;
    for (i, node) in route.binary_route.iter().enumerate() {
        // The start and the target are what was asked for: a build given there is
        // that exact build. A barrier node's build is a minimum.
        let (wanted, exact) = match i {
            0 => (&route.from, route.from.build().is_some()),
            i if i == last => (&route.to, route.to.build().is_some()),
            _ => (node, false),
        };
        let version = wanted.without_build().to_string();
        for architecture in &architectures {
            for distribution in &distributions {
                let found = stored
                    .iter()
                    .filter(|p| p.version == version)
                    .filter(|p| {
                        &p.architecture == architecture && &p.operating_system == distribution
                    })
                    .filter_map(|p| Some((concrete_version(p)?, p)))
                    .filter(|(v, _)| {
                        if exact {
                            v == wanted
                        } else {
                            wanted.matches(v)
                        }
                    })
                    .max_by(|a, b| a.0.build().cmp(&b.0.build()))
                    .map(|(_, p)| p.clone());
                let missing_file_name = found.is_none().then(|| {
                    let build = wanted
                        .build()
                        .map_or_else(|| "*".to_string(), |b| b.to_string());
                    format!("{name}-{version}-{build}.{distribution}.{architecture}.rpm")
                });
                needs.push(Need {
                    version: *wanted,
                    architecture: architecture.clone(),
                    distribution: distribution.clone(),
                    found,
                    missing_file_name,
                });
            }
        }
    }
    Ok(RoutePlan {
        route,
        source,
        needs,
    })
}

/// A stored package's version with its build number, when they form one.
fn concrete_version(p: &package::Model) -> Option<Version> {
    Version::parse(&format!("{}-{}", p.version, p.build_number)).ok()
}

/// The stored upgrade package of the target's version, with a dependency
/// YAML (of the name asked for, if any), with the highest build.
async fn newest_upgrade_package(
    db: &DatabaseConnection,
    target: &Version,
    name: Option<&str>,
) -> Result<(package::Model, entity::upgrade_package::Model)> {
    let version = target.without_build().to_string();
    db::upgrades::list(db)
        .await?
        .into_iter()
        .filter(|(u, p)| p.version == version && !u.upgrade_dep_yaml.trim().is_empty())
        .filter(|(_, p)| name.is_none_or(|n| p.name == n))
        .max_by_key(|(_, p)| (concrete_version(p).and_then(|v| v.build()), p.id))
        .map(|(u, p)| (p, u))
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no upgrade package of version {version} is stored: upload one, or send the dependency YAML"
            ))
        })
}
