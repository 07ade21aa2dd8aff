//! `depot user`: manage users, straight in the database.

use std::io::BufRead;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::{DbArgs, role};
use crate::app::{Migrations, open_database};
use crate::config::Secret;
use crate::domain::users::{Role, Users, generate_password};

#[derive(Args, Debug)]
pub struct UserArgs {
    #[command(subcommand)]
    pub command: UserCommand,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user. Without --password-stdin a password is generated and printed.
    Add {
        name: String,
        #[arg(long, value_parser = role())]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users and their roles.
    List,
    /// Set a user's password. Without --password-stdin a password is generated and printed.
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's role (a demotion holds on every server within a second).
    Role {
        name: String,
        #[arg(value_parser = role())]
        role: Role,
    },
    /// Remove a user.
    Remove { name: String },
}

pub async fn run(args: UserArgs) -> anyhow::Result<()> {
    let db = open_database(&args.db.database_url(), Migrations::Require).await?;
    let users = Users::new(db)?;
    match args.command {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            let (password, generated) = read_password(password_stdin)?;
            users.add(&name, role, &password).await?;
            println!("created user {name} ({role})");
            if generated {
                println!("password: {}", password.expose());
            }
        }
        UserCommand::List => {
            for (name, role) in users.list().await? {
                println!("{name}\t{role}");
            }
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let (password, generated) = read_password(password_stdin)?;
            users.set_password(&name, &password).await?;
            println!("password of {name} changed");
            if generated {
                println!("password: {}", password.expose());
            }
        }
        UserCommand::Role { name, role } => {
            users.set_role(&name, role).await?;
            println!("{name} is now {role}");
        }
        UserCommand::Remove { name } => {
            users.remove(&name).await?;
            println!("removed user {name}");
        }
    }
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<(Secret, bool)> {
    if !from_stdin {
        return Ok((generate_password(), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password")?;
    Ok((Secret::new(line.trim_end_matches(['\r', '\n'])), false))
}
