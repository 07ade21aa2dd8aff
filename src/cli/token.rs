//! `depot token`: manage API tokens, straight in the database.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::{DbArgs, role};
use crate::app::{Migrations, open_database};
use crate::domain::tokens::Tokens;
use crate::domain::users::Role;

#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print its secret (shown this once only).
    Create {
        /// What the token is for, e.g. `ci-deploy`.
        name: String,
        #[arg(long)]
        user: String,
        /// Default and ceiling: the user's role.
        #[arg(long, value_parser = role())]
        role: Option<Role>,
        /// Lifetime, e.g. 30d or 12h; default: no expiry.
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<Duration>,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token; the next request with it is refused.
    Revoke { id: i64 },
}

pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    let db = open_database(&args.db.database_url(), Migrations::Require).await?;
    let tokens = Tokens::new(db);
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "-".into())
    };
    match args.command {
        TokenCommand::Create {
            name,
            user,
            role,
            expires,
        } => {
            let (token, secret) = tokens.create(&user, &name, role, expires).await?;
            eprintln!(
                "created token {} ({}) for {} as {}, expires {}",
                token.id,
                token.name,
                token.user,
                token.role,
                time(token.expires_at)
            );
            eprintln!("the secret is shown only now; use it as `Authorization: Bearer <secret>`");
            println!("{}", secret.expose());
        }
        TokenCommand::List { user } => {
            let now = chrono::Utc::now();
            println!(
                "{:<6} {:<20} {:<16} {:<8} {:<8} {:<16} {:<16} LAST USED",
                "ID", "NAME", "USER", "ROLE", "STATE", "CREATED", "EXPIRES"
            );
            for t in tokens.list(user.as_deref()).await? {
                println!(
                    "{:<6} {:<20} {:<16} {:<8} {:<8} {:<16} {:<16} {}",
                    t.id,
                    t.name,
                    t.user,
                    t.role.as_str(),
                    t.state(now),
                    time(Some(t.created_at)),
                    time(t.expires_at),
                    time(t.last_used_at)
                );
            }
        }
        TokenCommand::Revoke { id } => {
            let token = tokens.revoke(id).await?;
            println!(
                "revoked token {} ({}) of {}",
                token.id, token.name, token.user
            );
        }
    }
    Ok(())
}
