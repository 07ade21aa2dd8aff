//! The command line: every setting is a flag and a `DEPOT_` environment
//! variable. One file per command; this one has the grammar (`Cli`,
//! `Command`), the flags several commands share, and the dispatch.

mod agent;
mod audit;
mod doctor;
mod gc;
mod migrate;
mod obshell_key;
mod patch;
mod region;
mod repo;
mod route;
mod serve;
mod token;
mod user;

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

use crate::client::{Client, ClientArgs, LsArgs, ls, pull, push, rm};
use crate::config::{defaults, sqlite_url};
use crate::domain::users::Role;

pub use agent::AgentArgs;
pub use audit::AuditArgs;
pub use gc::GcArgs;
pub use obshell_key::{ObshellKeyArgs, ObshellKeyCommand};
pub use patch::{PatchArgs, PatchCommand};
pub use region::{RegionArgs, RegionCommand};
pub use repo::{RepoArgs, RepoCommand};
pub use route::RouteArgs;
pub use serve::ServeArgs;
pub use token::{TokenArgs, TokenCommand};
pub use user::{UserArgs, UserCommand};

#[derive(Parser, Debug)]
#[command(
    name = "depot",
    version,
    about = "A package repository gateway speaking the OCP software-package API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// `text` for people, `json` for log collectors.
    #[arg(
        long,
        env = "DEPOT_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server.
    Serve(Box<ServeArgs>),
    /// Run the database migrations and exit.
    Migrate(DbArgs),
    /// Plan an upgrade route and check which of its packages are stored.
    Route(RouteArgs),
    /// Manage users.
    User(UserArgs),
    /// Upload packages to a depot server, resuming over broken links.
    Push {
        /// RPM packages and scripts (.sh, .py) to upload.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Declare the type (as OCP 2.4's `type`) instead of inferring it.
        #[arg(long = "type")]
        package_type: Option<String>,
        /// Files uploaded at once.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List the packages on a depot server.
    Ls {
        #[command(flatten)]
        filters: LsArgs,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Download a package by id or file name, resuming and verifying it.
    Pull {
        /// The package: its id (as `depot ls` shows) or its exact file name.
        #[arg(value_name = "ID|FILE_NAME")]
        package: String,
        /// A file, or a directory to write the package into.
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete packages by id or file name.
    Rm {
        /// The packages: ids (as `depot ls` shows) or exact file names.
        #[arg(required = true, value_name = "ID|FILE_NAME")]
        packages: Vec<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Check the database, the store, the clock and the disk (with the same
    /// configuration as `serve`, without a running server); exit 1 on a FAIL.
    Doctor(Box<ServeArgs>),
    /// Collect garbage once (with the same configuration as `serve`): objects
    /// no package references, expired uploads, leftovers of interrupted requests.
    Gc(Box<GcArgs>),
    /// Print the audit log, newest first.
    Audit(AuditArgs),
    /// Manage API tokens (for agents and CI: `Authorization: Bearer …`).
    Token(TokenArgs),
    /// Show or rotate the RSA key obshell's SDKs encrypt their auth to.
    ObshellKey(ObshellKeyArgs),
    /// The yum repositories (with the same configuration as `serve`): list,
    /// publish now, verify the stored metadata.
    Repo(RepoArgs),
    /// Manage regions (object stores near groups of agents) and their replication.
    Region(Box<RegionArgs>),
    /// StarlingX patches: upload, query, apply, remove, delete, commit (sw-patch's commands).
    Patch(PatchArgs),
    /// A host's patch agent: reports what rpm says is installed, installs
    /// with dnf from the updates repository when asked.
    Agent(Box<AgentArgs>),
}

impl Cli {
    /// Parses the command line and the environment, exiting with a message on
    /// bad input. An environment variable set to the empty string counts as
    /// unset: `DEPOT_TOKEN=` must not become an empty token that conflicts
    /// with `--user`, nor `DEPOT_URL=` an invalid URL.
    pub fn parse_args() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let matches = unset_empty_env(Self::command()).get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }

    /// The log filter when `RUST_LOG` is unset: the server logs what it
    /// does; the other commands only what goes wrong.
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            Command::Serve(_) => "info,sqlx=warn,aws=warn",
            _ => "warn",
        }
    }
}

/// Runs the command. Only `serve` and `migrate` change the database's
/// schema; the others refuse a database with pending migrations, and the
/// doctor reports them.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Migrate(args) => migrate::run(&args).await,
        Command::Route(args) => route::run(args).await,
        Command::User(args) => user::run(args).await,
        Command::Token(args) => token::run(args).await,
        Command::ObshellKey(args) => obshell_key::run(args).await,
        Command::Patch(args) => patch::run(args).await,
        Command::Agent(args) => agent::run(*args).await,
        Command::Audit(args) => audit::run(args).await,
        Command::Gc(args) => gc::run(*args).await,
        Command::Repo(args) => repo::run(args).await,
        Command::Region(args) => region::run(*args).await,
        Command::Doctor(args) => doctor::run(*args).await,
        Command::Push {
            files,
            package_type,
            jobs,
            client,
        } => {
            let client = Client::new(&client)?;
            Ok(push(&client, &files, package_type.as_deref(), jobs).await?)
        }
        Command::Ls { filters, client } => Ok(ls(&Client::new(&client)?, &filters).await?),
        Command::Pull {
            package,
            output,
            client,
        } => Ok(pull(&Client::new(&client)?, &package, output.as_deref()).await?),
        Command::Rm { packages, client } => Ok(rm(&Client::new(&client)?, &packages).await?),
    }
}

/// Where the database is, for every command that opens it.
#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// Directory for the embedded database and blobs.
    #[arg(
        long,
        env = "DEPOT_DATA_DIR",
        default_value = defaults::DATA_DIR,
        global = true
    )]
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER:PASS@HOST/DB`; default: SQLite in the data dir.
    #[arg(
        long,
        env = "DEPOT_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
}

impl DbArgs {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| sqlite_url(&self.data_dir.join("depot.db")))
    }
}

/// `command` with every argument whose environment variable is empty read
/// as if that variable were unset.
fn unset_empty_env(command: clap::Command) -> clap::Command {
    command
        .mut_args(|arg| {
            let empty = arg
                .get_env()
                .and_then(std::env::var_os)
                .is_some_and(|value| value.is_empty());
            if empty { arg.env(None) } else { arg }
        })
        .mut_subcommands(unset_empty_env)
}

/// A role on the command line: parsed by `Role` itself, its names listed in `--help`.
fn role() -> impl TypedValueParser<Value = Role> {
    PossibleValuesParser::new(Role::ALL.map(Role::as_str)).try_map(|s| s.parse::<Role>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn roles_are_the_domains_names() {
        let parse = |role: &str| {
            Cli::try_parse_from(["depot", "user", "add", "alice", "--role", role]).map(|cli| {
                match cli.command {
                    Command::User(UserArgs {
                        command: UserCommand::Add { role, .. },
                        ..
                    }) => role,
                    other => panic!("{other:?}"),
                }
            })
        };
        for role in Role::ALL {
            assert_eq!(parse(role.as_str()).unwrap(), role);
        }
        assert!(parse("root").is_err());
    }
}
