//! `depot route`: plan an upgrade route over the database and say which
//! of its packages are stored.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::DbArgs;
use crate::app::{Migrations, open_database};
use crate::domain::upgrade_plan::{RouteRequest, plan_upgrade};
use crate::domain::upgrade_route::Version;

#[derive(Args, Debug)]
pub struct RouteArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The installed version, `A.B.C.D` or `A.B.C.D-BUILD`.
    #[arg(long)]
    pub from: String,
    /// The version to upgrade to.
    #[arg(long)]
    pub to: String,
    /// Plan over this oceanbase_upgrade_dep.yml instead of the stored one of the target version.
    #[arg(long)]
    pub yaml: Option<PathBuf>,
    /// Package name to look for (default: the YAML source's, else oceanbase-ce).
    #[arg(long)]
    pub name: Option<String>,
    /// Architectures to check (repeatable; default: the YAML source's).
    #[arg(long = "architecture", value_delimiter = ',')]
    pub architectures: Vec<String>,
    /// Distributions to check (repeatable; default: the YAML source's).
    #[arg(long = "distribution", value_delimiter = ',')]
    pub distributions: Vec<String>,
}

pub async fn run(args: RouteArgs) -> anyhow::Result<()> {
    let yaml = match &args.yaml {
        Some(path) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    let db = open_database(&args.db.database_url(), Migrations::Require).await?;
    let request = RouteRequest {
        from: args.from,
        to: args.to,
        yaml,
        name: args.name,
        architectures: args.architectures,
        distributions: args.distributions,
    };
    let plan = plan_upgrade(&db, request).await?;
    let list = |v: &[Version]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" → ")
    };
    println!("route:        {}", list(&plan.route.hops));
    println!("binary route: {}", list(&plan.route.binary_route));
    if let Some(source) = &plan.source {
        println!("planned with: {} (id {})", source.file_name, source.id);
    }
    if !plan.needs.is_empty() {
        println!();
        println!("{:<24} {:<10} {:<8} PACKAGE", "VERSION", "ARCH", "DIST");
        for need in &plan.needs {
            let package = match (&need.found, &need.missing_file_name) {
                (Some(p), _) => format!("{} (id {})", p.file_name, p.id),
                (None, Some(name)) => format!("MISSING {name}"),
                (None, None) => "MISSING".into(),
            };
            println!(
                "{:<24} {:<10} {:<8} {package}",
                need.version.to_string(),
                need.architecture,
                need.distribution
            );
        }
    }
    Ok(())
}
