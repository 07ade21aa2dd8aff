//! `depot migrate`: apply the migrations the database has not had, and exit.

use super::DbArgs;
use crate::app::{Migrations, open_database};

pub async fn run(args: &DbArgs) -> anyhow::Result<()> {
    open_database(&args.database_url(), Migrations::Apply).await?;
    println!("migrations applied");
    Ok(())
}
