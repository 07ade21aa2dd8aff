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

/// A package the route needs (each binary barrier and the target, per
/// architecture and distribution).
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
            let source = newest_upgrade_package(db, &target).await?;
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
    let or_source = |given: Vec<String>, of_source: fn(&package::Model) -> &String| {
        if given.is_empty() {
            source.iter().map(|s| of_source(s).clone()).collect()
        } else {
            given
        }
    };
    let architectures = or_source(req.architectures, |p| &p.architecture);
    let distributions = or_source(req.distributions, |p| &p.operating_system);

    let mut needs = Vec::new();
    // The start is installed already; barriers and the target must be at hand.
    let count = route.binary_route.len();
    for (i, node) in route.binary_route.iter().enumerate().skip(1) {
        // For the target, what was asked for (a concrete build, maybe) decides.
        let wanted = if i + 1 == count { &route.to } else { node };
        let version = wanted.without_build().to_string();
        let candidates = db::packages::find_by_name_version(db, &name, &version).await?;
        for architecture in &architectures {
            for distribution in &distributions {
                let found = candidates
                    .iter()
                    .filter(|p| {
                        &p.architecture == architecture && &p.operating_system == distribution
                    })
                    .filter_map(|p| Some((concrete_version(p)?, p)))
                    .filter(|(v, _)| wanted.matches(v))
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

/// The stored upgrade package of the target's version with the highest build.
async fn newest_upgrade_package(
    db: &DatabaseConnection,
    target: &Version,
) -> Result<(package::Model, entity::upgrade_package::Model)> {
    let version = target.without_build().to_string();
    db::upgrades::list(db)
        .await?
        .into_iter()
        .filter(|(_, p)| p.version == version)
        .max_by_key(|(_, p)| (concrete_version(p).and_then(|v| v.build()), p.id))
        .map(|(u, p)| (p, u))
        .ok_or_else(|| {
            Error::NotFound(format!(
                "no upgrade package of version {version} is stored: upload one, or send the dependency YAML"
            ))
        })
}
