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
    /// How old a staging object or an unfinished write (an S3 multipart
    /// upload, in any region) must be to go; default: `--gc-grace`, at
    /// least a day. Shorter only when no upload or copy can be that old.
    #[arg(long)]
    pub staging_grace: Option<humantime::Duration>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

pub async fn run(args: GcArgs) -> anyhow::Result<()> {
    let config = args.serve.into_config()?;
    // Never migrates, whatever --no-migrate says: that flag is serve's.
    let services = Services::build(&config, Migrations::Require).await?;
    let collector = match args.staging_grace {
        Some(grace) => services.collector.with_staging_grace(grace.into()),
        None => services.collector,
    };
    let pass = if args.dry_run {
        Pass::DryRun
    } else {
        Pass::Collect
    };
    println!("{}", collector.run(pass).await?);
    Ok(())
}
