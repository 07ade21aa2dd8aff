//! `depot audit`: the audit log, newest first, straight from the database.

use std::time::Duration;

use clap::Args;

use super::DbArgs;
use crate::app::{Migrations, open_database};
use crate::domain::audit::{AuditLog, Filter};

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[arg(long)]
    pub actor: Option<String>,
    /// e.g. package.upload, package.delete, token.create, upload.append.
    #[arg(long)]
    pub action: Option<String>,
    /// Only events this recent, e.g. 24h or 7d.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub since: Option<Duration>,
    #[arg(long, default_value_t = 50)]
    pub limit: u64,
    #[command(flatten)]
    pub db: DbArgs,
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let db = open_database(&args.db.database_url(), Migrations::Require).await?;
    let since = args
        .since
        .map(|d| chrono::Duration::from_std(d).map(|d| chrono::Utc::now() - d))
        .transpose()?;
    let filter = Filter {
        actor: args.actor,
        action: args.action,
        since,
        until: None,
    };
    let (events, total) = AuditLog::new(db)
        .list(&filter, 1, args.limit.clamp(1, 10_000))
        .await?;
    println!(
        "{:<20} {:<16} {:<24} {:<8} {:>4}  {:<16} {:<32} TARGET",
        "TIME", "ACTOR", "ACTION", "OUTCOME", "CODE", "ADDRESS", "TRACE ID"
    );
    for e in &events {
        let actor = match e.token_id {
            Some(t) => format!("{} (token {t})", e.actor),
            None => e.actor.clone(),
        };
        println!(
            "{:<20} {:<16} {:<24} {:<8} {:>4}  {:<16} {:<32} {}",
            e.at.format("%Y-%m-%d %H:%M:%S"),
            actor,
            e.action,
            e.outcome,
            e.status,
            e.address,
            e.trace_id,
            e.target
        );
    }
    eprintln!("{} of {total} event(s)", events.len());
    Ok(())
}
