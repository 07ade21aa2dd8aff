//! `depot gc`: collect garbage once, with `serve`'s settings.

use clap::Args;

use super::ServeArgs;
use crate::app::{Migrations, Services};
use crate::domain::gc::Pass;

#[derive(Args, Debug)]
pub struct GcArgs {
    /// Report what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub serve: ServeArgs,
}

pub async fn run(args: GcArgs) -> anyhow::Result<()> {
    let config = args.serve.into_config()?;
    // Never migrates, whatever --no-migrate says: that flag is serve's.
    let services = Services::build(&config, Migrations::Require).await?;
    let pass = if args.dry_run {
        Pass::DryRun
    } else {
        Pass::Collect
    };
    println!("{}", services.collector.run(pass).await?);
    Ok(())
}
