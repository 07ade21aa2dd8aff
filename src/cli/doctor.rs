//! `depot doctor`: `serve`'s checks, without a server; exit 1 on a FAIL.

use super::ServeArgs;
use crate::app::{Migrations, Services, open_database};
use crate::domain::doctor::{DATABASE_REMEDY, Status};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.into_config()?;
    // Without migrating: pending migrations are one of the things to report.
    let db = match open_database(&config.database_url, Migrations::Skip).await {
        Ok(db) => db,
        Err(e) => {
            println!("FAIL  database reachable      {e:#}");
            println!("      → {DATABASE_REMEDY}");
            anyhow::bail!("the database cannot be reached");
        }
    };
    let checks = Services::assemble(db, &config)?.doctor.run().await;
    for check in &checks {
        let status = match check.status {
            Status::Ok => "OK  ",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        };
        println!("{status}  {:<24} {}", check.name, check.detail);
        if let Some(remedy) = &check.remedy {
            println!("      → {remedy}");
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    Ok(())
}
