//! `depot obshell-key`: the RSA key obshell's clients encrypt their auth
//! headers to (kept in the database, shared by every replica).

use clap::{Args, Subcommand};

use super::DbArgs;
use crate::app::{Migrations, open_database};
use crate::domain::obshell_auth::keys::{ObshellKeys, REFRESH_EVERY, ROTATION_GRACE};

#[derive(Args, Debug)]
pub struct ObshellKeyArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(subcommand)]
    pub command: ObshellKeyCommand,
}

#[derive(Subcommand, Debug)]
pub enum ObshellKeyCommand {
    /// Make a new key current. Every server uses it within seconds; the
    /// previous key is still accepted for a grace period, and the SDKs fetch
    /// the new one on their own. After a leak, rotate twice: the leaked key
    /// is then accepted nowhere.
    Rotate,
    /// Print the current public key (base64 PKCS#1 DER, as /api/v1/secret).
    Show,
}

pub async fn run(args: ObshellKeyArgs) -> anyhow::Result<()> {
    let db = open_database(&args.db.database_url(), Migrations::Require).await?;
    let keys = ObshellKeys::new(db);
    match args.command {
        ObshellKeyCommand::Rotate => {
            let generation = keys.rotate().await?;
            println!(
                "obshell key generation {generation} is current; servers use it within {} s, \
                 and accept the previous one for {} min more",
                REFRESH_EVERY.as_secs(),
                ROTATION_GRACE.as_secs() / 60
            );
        }
        ObshellKeyCommand::Show => {
            let ring = keys.ring().await?;
            println!("generation {}: {}", ring.generation, ring.public_key());
        }
    }
    Ok(())
}
