//! The command line: every setting is a flag and a `DEPOT_` environment variable.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use url::Url;

use crate::client::{ClientArgs, LsArgs};
use crate::config::{Config, DownloadMode, Secret, StorageConfig, sqlite_url};
use crate::db;
use crate::domain::gc::{Collector, Pass};
use crate::domain::packages::Packages;
use crate::domain::tokens::Tokens;
use crate::domain::upgrade_plan::{RouteRequest, plan_upgrade};
use crate::domain::uploads::Uploads;
use crate::domain::users::{Role, Users, generate_password};
use crate::store::BlobStore;

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
    User {
        #[command(subcommand)]
        command: UserCommand,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Upload packages to a depot server, resuming over broken links.
    Push {
        #[arg(required = true)]
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
        package: String,
        /// A file, or a directory to write the package into.
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete packages by id.
    Rm {
        #[arg(required = true)]
        ids: Vec<i64>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Check the database, the store, the clock and the disk (with the same
    /// configuration as `serve`, without a running server); exit 1 on a FAIL.
    Doctor {
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
    /// Collect garbage once (with the same configuration as `serve`): objects
    /// no package references, expired uploads, leftovers of interrupted requests.
    Gc {
        /// Report what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        serve: Box<ServeArgs>,
    },
    /// Print the audit log, newest first.
    Audit {
        #[arg(long)]
        actor: Option<String>,
        /// e.g. package.upload, package.delete, token.create, upload.append.
        #[arg(long)]
        action: Option<String>,
        /// Only events this recent, e.g. 24h or 7d.
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<Duration>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Manage API tokens (for agents and CI: `Authorization: Bearer …`).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// Directory for the embedded database and blobs.
    #[arg(
        long,
        env = "DEPOT_DATA_DIR",
        default_value = "./depot-data",
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

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "DEPOT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// `file://PATH` or `s3://BUCKET[/PREFIX]`; default: file://<data-dir>/blobs.
    #[arg(long, env = "DEPOT_STORAGE_URL")]
    pub storage_url: Option<String>,
    /// S3 endpoint (MinIO, Garage, …); path-style addressing is used when set.
    #[arg(long, env = "DEPOT_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    #[arg(long, env = "DEPOT_S3_REGION")]
    pub s3_region: Option<String>,
    /// Endpoint to sign download URLs for, when agents reach the store under another address.
    #[arg(long, env = "DEPOT_S3_PUBLIC_ENDPOINT")]
    pub s3_public_endpoint: Option<String>,
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide = true, hide_env_values = true)]
    pub aws_access_key_id: Option<String>,
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        hide = true,
        hide_env_values = true
    )]
    pub aws_secret_access_key: Option<String>,
    /// Base of every downloadUrl; default: derived from the request.
    #[arg(long, env = "DEPOT_PUBLIC_URL")]
    pub public_url: Option<Url>,
    /// Default: redirect where the store can presign (S3), else proxy.
    #[arg(long, env = "DEPOT_DOWNLOAD_MODE", value_enum)]
    pub download_mode: Option<DownloadMode>,
    /// Lifetime of presigned download URLs.
    #[arg(long, env = "DEPOT_PRESIGN_TTL", default_value = "300s", value_parser = humantime::parse_duration)]
    pub presign_ttl: Duration,
    /// Largest accepted upload, e.g. 8GiB or 500MB.
    #[arg(long, env = "DEPOT_MAX_UPLOAD_SIZE", default_value = "8GiB", value_parser = parse_size)]
    pub max_upload_size: u64,
    /// An upload that sends nothing for this long is refused (408) and cleaned up.
    #[arg(long, env = "DEPOT_UPLOAD_IDLE_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub upload_idle_timeout: Duration,
    /// A resumable upload left unfinished this long expires and its bytes are removed.
    #[arg(long, env = "DEPOT_UPLOAD_EXPIRY", default_value = "24h", value_parser = humantime::parse_duration)]
    pub upload_expiry: Duration,
    /// How often to collect garbage (unreferenced objects, leftovers); 0 never.
    #[arg(long, env = "DEPOT_GC_INTERVAL", default_value = "1h", value_parser = humantime::parse_duration)]
    pub gc_interval: Duration,
    /// Objects younger than this are never collected: it protects uploads in flight.
    #[arg(long, env = "DEPOT_GC_GRACE", default_value = "1h", value_parser = humantime::parse_duration)]
    pub gc_grace: Duration,
    /// obshell's chunk size, for the ChunkCount of upgrade packages.
    #[arg(long, env = "DEPOT_UPGRADE_CHUNK_SIZE", default_value = "16MiB", value_parser = parse_size)]
    pub upgrade_chunk_size: u64,
    /// Directory whose files are imported at start as built-in (not deletable) packages.
    #[arg(long, env = "DEPOT_PRELOAD_DIR")]
    pub preload_dir: Option<PathBuf>,
    /// Do not run database migrations at start.
    #[arg(long, env = "DEPOT_NO_MIGRATE")]
    pub no_migrate: bool,
    /// Password of the `admin` user created on first start (generated and printed when unset).
    #[arg(
        long,
        env = "DEPOT_ADMIN_PASSWORD",
        hide = true,
        hide_env_values = true
    )]
    pub admin_password: Option<String>,
}

fn parse_size(s: &str) -> Result<u64, String> {
    s.parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|e| e.to_string())
}

impl ServeArgs {
    pub fn into_config(self) -> anyhow::Result<Config> {
        let storage_url = self
            .storage_url
            .clone()
            .unwrap_or_else(|| format!("file://{}", self.db.data_dir.join("blobs").display()));
        let mut storage = StorageConfig::parse(&storage_url).map_err(anyhow::Error::msg)?;
        if let StorageConfig::S3(s3) = &mut storage {
            s3.endpoint = self.s3_endpoint;
            s3.region = self.s3_region;
            s3.public_endpoint = self.s3_public_endpoint;
            s3.access_key_id = self.aws_access_key_id;
            s3.secret_access_key = self.aws_secret_access_key.map(Secret::new);
        }
        Ok(Config {
            listen: self.listen,
            database_url: self.db.database_url(),
            storage,
            public_url: self.public_url,
            download_mode: self.download_mode,
            presign_ttl: self.presign_ttl,
            max_upload_size: self.max_upload_size,
            upgrade_chunk_size: self.upgrade_chunk_size,
            upload_idle_timeout: self.upload_idle_timeout,
            upload_expiry: self.upload_expiry,
            gc_interval: Some(self.gc_interval).filter(|d| !d.is_zero()),
            gc_grace: self.gc_grace,
            preload_dir: self.preload_dir,
            migrate: !self.no_migrate,
            admin_password: self.admin_password.map(Secret::new),
            // The login limits and trusted proxies have no flags yet: defaults.
            ..Config::embedded(&self.db.data_dir)
        })
    }
}

#[derive(Args, Debug)]
pub struct RouteArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The installed version, `A.B.C.D` or `A.B.C.D-BUILD`.
    #[arg(long)]
    pub from: String,
    /// The version to upgrade to.
    #[arg(long)]
    pub to: String,
    /// Plan over this oceanbase_upgrade_dep.yml instead of the stored one of the target version.
    #[arg(long)]
    pub yaml: Option<PathBuf>,
    /// Package name to look for (default: the YAML source's, else oceanbase-ce).
    #[arg(long)]
    pub name: Option<String>,
    /// Architectures to check (repeatable; default: the YAML source's).
    #[arg(long = "architecture", value_delimiter = ',')]
    pub architectures: Vec<String>,
    /// Distributions to check (repeatable; default: the YAML source's).
    #[arg(long = "distribution", value_delimiter = ',')]
    pub distributions: Vec<String>,
}

pub async fn route_command(args: RouteArgs) -> anyhow::Result<()> {
    let yaml = match &args.yaml {
        Some(path) => Some(
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    let db = db::connect(&args.db.database_url()).await?;
    db::migrate(&db).await?;
    let request = RouteRequest {
        from: args.from,
        to: args.to,
        yaml,
        name: args.name,
        architectures: args.architectures,
        distributions: args.distributions,
    };
    let plan = plan_upgrade(&db, request).await?;
    let list = |v: &[crate::domain::upgrade_route::Version]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" → ")
    };
    println!("route:        {}", list(&plan.route.hops));
    println!("binary route: {}", list(&plan.route.binary_route));
    if let Some(source) = &plan.source {
        println!("planned with: {} (id {})", source.file_name, source.id);
    }
    if !plan.needs.is_empty() {
        println!();
        println!("{:<24} {:<10} {:<8} PACKAGE", "VERSION", "ARCH", "DIST");
        for need in &plan.needs {
            let package = match (&need.found, &need.missing_file_name) {
                (Some(p), _) => format!("{} (id {})", p.file_name, p.id),
                (None, Some(name)) => format!("MISSING {name}"),
                (None, None) => "MISSING".into(),
            };
            println!(
                "{:<24} {:<10} {:<8} {package}",
                need.version.to_string(),
                need.architecture,
                need.distribution
            );
        }
    }
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user. Without --password-stdin a password is generated and printed.
    Add {
        name: String,
        #[arg(long, value_enum)]
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
    /// Remove a user.
    Remove { name: String },
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
        #[arg(long, value_enum)]
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

pub async fn token_command(db_args: &DbArgs, command: TokenCommand) -> anyhow::Result<()> {
    let db = db::connect(&db_args.database_url()).await?;
    db::migrate(&db).await?;
    let tokens = Tokens::new(db);
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "-".into())
    };
    match command {
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

/// The database, the store and the collector, as `serve` would have them,
/// for the commands that work without a server.
async fn offline(
    config: &Config,
) -> anyhow::Result<(sea_orm::DatabaseConnection, BlobStore, Collector)> {
    let db = db::connect(&config.database_url)
        .await
        .with_context(|| format!("connecting to {}", db::redact_url(&config.database_url)))?;
    let store = BlobStore::open(&config.storage, config.max_upload_size)?;
    let packages = Packages::new(db.clone(), store.clone());
    let uploads = Uploads::new(
        db.clone(),
        packages,
        config.upload_expiry,
        config.max_upload_size,
    );
    let collector = Collector::new(db.clone(), store.clone(), uploads, config.gc_grace);
    Ok((db, store, collector))
}

pub async fn audit_command(
    db_args: &DbArgs,
    actor: Option<String>,
    action: Option<String>,
    since: Option<Duration>,
    limit: u64,
) -> anyhow::Result<()> {
    use crate::domain::audit::{AuditLog, Filter};
    let db = db::connect(&db_args.database_url()).await?;
    db::migrate(&db).await?;
    let since = since
        .map(|d| chrono::Duration::from_std(d).map(|d| chrono::Utc::now() - d))
        .transpose()?;
    let filter = Filter {
        actor,
        action,
        since,
        until: None,
    };
    let (events, total) = AuditLog::new(db)
        .list(&filter, 1, limit.clamp(1, 10_000))
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

pub async fn gc_command(args: ServeArgs, dry_run: bool) -> anyhow::Result<()> {
    let config = args.into_config()?;
    let (db, _, collector) = offline(&config).await?;
    if config.migrate {
        db::migrate(&db).await?;
    }
    println!(
        "{}",
        collector
            .run(if dry_run { Pass::DryRun } else { Pass::Collect })
            .await?
    );
    Ok(())
}

pub async fn doctor_command(args: ServeArgs) -> anyhow::Result<()> {
    use crate::domain::doctor::{DATABASE_REMEDY, Doctor, Status};
    let config = args.into_config()?;
    // Without migrating: pending migrations are one of the things to report.
    let db = db::connect(&config.database_url).await;
    let (db, store, collector) = match db {
        Ok(_) => offline(&config).await?,
        Err(e) => {
            println!("FAIL  database reachable      {e}");
            println!("      → {DATABASE_REMEDY}");
            anyhow::bail!("the database cannot be reached");
        }
    };
    let checks = Doctor::new(db, store, collector).run().await;
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

pub async fn user_command(db_args: &DbArgs, command: UserCommand) -> anyhow::Result<()> {
    let db = db::connect(&db_args.database_url()).await?;
    db::migrate(&db).await?;
    let users = Users::new(db)?;
    match command {
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
        UserCommand::Remove { name } => {
            users.remove(&name).await?;
            println!("removed user {name}");
        }
    }
    Ok(())
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
    fn sizes() {
        assert_eq!(parse_size("8GiB").unwrap(), 8 << 30);
        assert_eq!(parse_size("500MB").unwrap(), 500_000_000);
        assert!(parse_size("lots").is_err());
    }
}
