//! `depot region list|add|remove|sync`: the regions every replica shares,
//! straight in the database, with `serve`'s settings (for which region this
//! replica's own store is). Changes are written to the audit log.

use clap::{Args, Subcommand};

use super::ServeArgs;
use crate::app::{Migrations, Services};
use crate::domain::audit::{Actor, Event};
use crate::domain::regions::NewRegion;

#[derive(Args, Debug)]
pub struct RegionArgs {
    #[command(subcommand)]
    pub command: RegionCommand,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
pub enum RegionCommand {
    /// List the regions and their replication status.
    List,
    /// Add a region; every stored package is queued for it.
    Add {
        /// The region's name, e.g. `cn-hangzhou`.
        name: String,
        /// `s3://BUCKET[/PREFIX]` (or `file://PATH`).
        #[arg(long)]
        storage_url: String,
        #[arg(long)]
        s3_endpoint: Option<String>,
        #[arg(long)]
        s3_region: Option<String>,
        /// The endpoint presigned URLs name, as agents in the region reach it.
        #[arg(long)]
        s3_public_endpoint: Option<String>,
        /// The store's credentials; default: each replica's own (`AWS_*`).
        #[arg(long, env = "DEPOT_REGION_ACCESS_KEY_ID", hide_env_values = true)]
        access_key_id: Option<String>,
        #[arg(long, env = "DEPOT_REGION_SECRET_ACCESS_KEY", hide_env_values = true)]
        secret_access_key: Option<String>,
        /// A client network served from this region; repeat for more.
        #[arg(long = "cidr")]
        cidrs: Vec<String>,
        /// Make it the home region (the first region is home anyway).
        #[arg(long)]
        home: bool,
    },
    /// Remove a region (its store's objects stay).
    Remove { name: String },
    /// Queue what a region lacks, retry failed copies now, and check every
    /// present copy against its store.
    Sync {
        /// Read every copy back and check its digest, not only its size.
        #[arg(long)]
        verify: bool,
    },
}

pub async fn run(args: RegionArgs) -> anyhow::Result<()> {
    let config = args.serve.into_config()?;
    let services = Services::build(&config, Migrations::Require).await?;
    let regions = &services.regions;
    let (action, target) = match args.command {
        RegionCommand::List => {
            for s in regions.status().await? {
                println!(
                    "{}{}\t{}\tpresent {} ({} B)\tpending {}\tfailed {}\toldest pending {}\tcidrs {}{}",
                    s.name,
                    if s.home { " (home)" } else { "" },
                    s.storage_url,
                    s.present,
                    s.present_bytes,
                    s.pending + s.copying,
                    s.failed,
                    s.oldest_pending_seconds
                        .map(|s| format!("{s} s"))
                        .unwrap_or_else(|| "-".into()),
                    if s.cidrs.is_empty() { "-" } else { &s.cidrs },
                    s.last_error
                        .map(|e| format!("\tlast error: {e}"))
                        .unwrap_or_default(),
                );
            }
            return Ok(());
        }
        RegionCommand::Add {
            name,
            storage_url,
            s3_endpoint,
            s3_region,
            s3_public_endpoint,
            access_key_id,
            secret_access_key,
            cidrs,
            home,
        } => {
            let added = regions
                .add(NewRegion {
                    name: name.clone(),
                    storage_url,
                    s3_endpoint,
                    s3_region,
                    s3_public_endpoint,
                    access_key_id,
                    secret_access_key,
                    cidrs: cidrs.join(","),
                    home,
                })
                .await?;
            eprintln!(
                "added region {}{}; replicas start copying within seconds",
                added.name,
                if added.home { " (home)" } else { "" }
            );
            ("region.add", name)
        }
        RegionCommand::Remove { name } => {
            regions.remove(&name).await?;
            eprintln!("removed region {name}");
            ("region.remove", name)
        }
        RegionCommand::Sync { verify } => {
            let r = regions.sync(verify).await?;
            println!(
                "backfilled {}, retried {}, checked {}, drifted {}{}",
                r.backfilled,
                r.retried,
                r.checked,
                r.drifted,
                match r.unreachable.is_empty() {
                    true => String::new(),
                    false => format!(", unreachable: {}", r.unreachable.join(", ")),
                }
            );
            ("region.sync", String::new())
        }
    };
    services.audit.record(Event {
        at: chrono::Utc::now(),
        actor: Actor {
            name: format!("cli:{}", whoami()),
            token: None,
        },
        action: action.into(),
        target,
        status: 200,
        address: String::new(),
        trace_id: format!("{:032x}", rand::random::<u128>()),
        trace_link: None,
        presented: None,
        package: None,
    });
    services.audit.flush().await;
    Ok(())
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}
