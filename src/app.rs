//! Assembling depot from its configuration: the database, the store, the
//! shared state, and the listening server. `open_database` and
//! `Services::build` are the composition root: `serve`, the offline commands
//! (`gc`, `doctor`, the admin commands) and the tests all start there.

mod tasks;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use url::Url;

use crate::config::{Cidr, Config, CorsOrigin, DownloadRedirect, Secret};
use crate::db;
use crate::domain::admission::UploadLimits;
use crate::domain::audit::AuditLog;
use crate::domain::credentials;
use crate::domain::doctor::Doctor;
use crate::domain::downloads::Downloads;
use crate::domain::gc::Collector;
use crate::domain::obshell_auth::ObshellAuth;
use crate::domain::packages::Packages;
use crate::domain::patches::Patches;
use crate::domain::preload::preload;
use crate::domain::regions::Regions;
use crate::domain::repos::Repos;
use crate::domain::sessions::Sessions;
use crate::domain::tokens::Tokens;
use crate::domain::uploads::{UploadQuota, Uploads};
use crate::domain::users::Users;
use crate::http::serve::{ConnectionLimits, raise_open_file_limit, serve};
use crate::store::BlobStore;

/// Everything a request handler may need; cheap to clone: axum clones it
/// for every request (more than once), so it is one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    /// For the server's owner (tests, tools), never for handlers: they go
    /// through the domain.
    store: BlobStore,
    pub packages: Packages,
    pub downloads: Downloads,
    pub doctor: Doctor,
    pub audit: AuditLog,
    pub uploads: Uploads,
    pub collector: Collector,
    pub users: Users,
    pub tokens: Tokens,
    /// The web console's sign-ins.
    pub sessions: Sessions,
    /// obshell's keys and headers.
    pub obshell: ObshellAuth,
    pub repos: Repos,
    pub regions: Regions,
    pub patches: Patches,
    pub settings: Arc<Settings>,
}

/// The HTTP-facing settings, resolved from the configuration.
#[derive(Debug)]
pub struct Settings {
    pub public_url: Option<Url>,
    pub max_upload_size: u64,
    /// obshell's chunk size, for `ChunkCount`.
    pub upgrade_chunk_size: u64,
    /// How long an upload may send nothing before it is refused (408).
    pub upload_idle_timeout: Duration,
    pub upload_expiry: Duration,
    pub gc_interval: Option<Duration>,
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<Cidr>,
    /// What `/metrics` asks of its reader, if anything.
    pub metrics_token: Option<Secret>,
    /// Web origins allowed to call the API (CORS).
    pub cors_origins: Vec<CorsOrigin>,
}

/// What a command does about migrations this binary has and the database
/// has not had yet. The README states which command does which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Migrations {
    /// Apply them: `depot migrate`, and `depot serve` unless `--no-migrate`.
    Apply,
    /// Refuse to work while any is pending, naming `depot migrate`: every
    /// other command that opens the database.
    Require,
    /// Leave the schema as it is: `depot doctor` (which reports them) and
    /// `depot serve --no-migrate`.
    Skip,
}

/// Connects to the database and deals with pending migrations as told: the
/// one place depot opens its database.
pub async fn open_database(
    url: &str,
    migrations: Migrations,
) -> anyhow::Result<DatabaseConnection> {
    let db = db::connect(url)
        .await
        .with_context(|| format!("connecting to {}", db::redact_url(url)))?;
    match migrations {
        Migrations::Apply => db::migrate(&db)
            .await
            .context("running database migrations")?,
        Migrations::Require => {
            const ONLY: &str = "only `depot migrate` and `depot serve` change the schema";
            let pending = db::pending_migrations(&db)
                .await
                .context("reading which migrations the database has had")?;
            if !pending.is_empty() && pending.len() == db::known_migrations() {
                anyhow::bail!(
                    "the database has no schema yet ({} migration(s) pending); \
                     run `depot migrate` first ({ONLY})",
                    pending.len()
                );
            }
            if !pending.is_empty() {
                anyhow::bail!(
                    "the database is behind this depot: {} migration(s) pending ({}); \
                     run `depot migrate` first ({ONLY})",
                    pending.len(),
                    pending.join(", ")
                );
            }
        }
        Migrations::Skip => {}
    }
    Ok(db)
}

impl Services {
    /// depot's services from its configuration: the database (with
    /// `migrations`), the store, and every service over them.
    pub async fn build(config: &Config, migrations: Migrations) -> anyhow::Result<Self> {
        let db = open_database(&config.database_url, migrations).await?;
        Self::assemble(db, config)
    }

    /// Every service over an open database: how they are wired, written once.
    pub fn assemble(db: DatabaseConnection, config: &Config) -> anyhow::Result<Self> {
        let store = BlobStore::open(&config.storage, config.max_upload_size)
            .context("opening the object store")?;
        let download_redirect = match config.download_redirect {
            Some(DownloadRedirect::OnRequest) if !store.can_presign() => {
                anyhow::bail!(
                    "--download-redirect on-request needs a store that can presign URLs (S3); local files cannot"
                )
            }
            Some(policy) => policy,
            None if store.can_presign() => DownloadRedirect::OnRequest,
            None => DownloadRedirect::Never,
        };
        let users = Users::new(db.clone())?
            .with_login_limits(config.login_limit_user, config.login_limit_address);
        let tokens = Tokens::new(db.clone());
        let sessions = Sessions::new(db.clone())
            .with_expiry(config.console_session_idle, config.console_session_lifetime);
        let obshell = ObshellAuth::new(db.clone(), users.clone());
        let audit = AuditLog::new(db.clone());
        let repos = Repos::new(db.clone(), store.clone(), config.repos.clone());
        let regions = Regions::new(
            db.clone(),
            store.clone(),
            config.storage.clone(),
            config.max_upload_size,
            config.regions.clone(),
        );
        let packages = Packages::new(db.clone(), store.clone())
            .with_regions(regions.clone())
            .with_upload_limits(UploadLimits {
                total: config.max_uploads,
                per_user: config.max_uploads_per_user,
            })
            .with_repo_changes(repos.changes());
        let uploads = Uploads::new(
            db.clone(),
            store.clone(),
            packages.clone(),
            config.upload_expiry,
            config.max_upload_size,
        )
        .with_quota(UploadQuota {
            open: config.max_open_uploads,
            bytes: config.max_open_upload_bytes,
        });
        let patches = Patches::new(
            db.clone(),
            store.clone(),
            packages.clone(),
            repos.changes(),
            &config.patches,
        )
        .map_err(anyhow::Error::msg)?;
        let collector = Collector::new(db.clone(), store.clone(), uploads.clone(), config.gc_grace)
            .with_regions(regions.clone());
        let doctor = Doctor::new(db, store.clone(), collector.clone(), repos.clone())
            .with_regions(regions.clone())
            .with_patches(patches.clone());
        let downloads = Downloads::new(
            packages.clone(),
            regions.clone(),
            download_redirect,
            config.presign_ttl,
        );
        Ok(Self {
            store: store.clone(),
            packages,
            downloads,
            doctor,
            audit,
            uploads,
            collector,
            users,
            tokens,
            sessions,
            obshell,
            repos,
            regions,
            patches,
            settings: Arc::new(Settings {
                public_url: config.public_url.clone(),
                max_upload_size: config.max_upload_size,
                upgrade_chunk_size: config.upgrade_chunk_size,
                upload_idle_timeout: config.upload_idle_timeout,
                upload_expiry: config.upload_expiry,
                gc_interval: config.gc_interval,
                trusted_proxies: config.trusted_proxies.clone(),
                metrics_token: config.metrics_token.clone(),
                cors_origins: config.cors_origins.clone(),
            }),
        })
    }
}

pub struct Server {
    listener: TcpListener,
    state: AppState,
    connections: ConnectionLimits,
}

impl Server {
    /// Builds the services (migrating the database unless told not to),
    /// creates the first admin, imports built-in packages, and binds.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let migrations = if config.migrate {
            Migrations::Apply
        } else {
            Migrations::Skip
        };
        let services = Services::build(&config, migrations).await?;
        if let Some(password) = services
            .users
            .bootstrap_admin(config.admin_password.as_ref())
            .await?
        {
            // Shown once; there is no other way to learn it.
            eprintln!(
                "depot: created user `admin` with password {}",
                password.expose()
            );
            eprintln!("depot: change it with `depot user passwd admin`");
        }
        if let Some(dir) = &config.preload_dir {
            preload(&services.packages, dir, config.max_upload_size)
                .await
                .with_context(|| format!("reading the preload directory {}", dir.display()))?;
        }
        if let Some(files) = raise_open_file_limit() {
            let wanted = config.max_connections as u64 + OTHER_FILES;
            if files < wanted {
                tracing::warn!(
                    open_files = files,
                    max_connections = config.max_connections,
                    "the open-file limit is below --max-connections plus what the store and \
                     database need; raise it (ulimit -n) or lower --max-connections"
                );
            }
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        Ok(Self {
            listener,
            state: AppState(Arc::new(services)),
            connections: ConnectionLimits {
                header_timeout: config.header_timeout,
                max_connections: config.max_connections,
                max_connections_per_address: config.max_connections_per_address,
                trusted_proxies: config.trusted_proxies.clone(),
                shutdown_grace: config.shutdown_grace,
            },
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The object store the server writes to, for tests and tools that
    /// inspect it.
    pub fn store(&self) -> &BlobStore {
        &self.state.store
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(
            addr = %self.local_addr(),
            download_redirect = ?self.state.downloads.redirect_policy(),
            "depot is serving"
        );
        let watcher = tokio::spawn(credentials::watch(
            self.state.users.clone(),
            self.state.tokens.clone(),
        ));
        let sweeper = tokio::spawn(tasks::sweep_expired_uploads(
            self.state.uploads.clone(),
            self.state.settings.upload_expiry,
        ));
        let publisher = tokio::spawn(self.state.repos.clone().run_publisher());
        let trimmer = tokio::spawn(tasks::return_freed_memory());
        if let Err(e) = self.state.regions.refresh().await {
            tracing::warn!(error = %e, "reading the regions; retrying in the background");
        }
        let replication = tokio::spawn(self.state.regions.clone().run());
        let collector =
            self.state.settings.gc_interval.map(|every| {
                tokio::spawn(tasks::collect_garbage(self.state.collector.clone(), every))
            });
        let audit = self.state.audit.clone();
        let router = crate::http::router(self.state);
        serve(self.listener, router, self.connections, shutdown).await;
        // What the last requests did, and the open aggregation windows; a
        // database that does not answer cannot hold the shutdown past its bound.
        if tokio::time::timeout(AUDIT_FLUSH_GRACE, audit.flush())
            .await
            .is_err()
        {
            tracing::warn!(
                grace = ?AUDIT_FLUSH_GRACE,
                "the audit log could not be written before shutdown; its last events are lost"
            );
        }
        sweeper.abort();
        trimmer.abort();
        watcher.abort();
        publisher.abort();
        replication.abort();
        if let Some(collector) = collector {
            collector.abort();
        }
        Ok(())
    }
}

/// How long shutdown waits for the audit log's last events to be written.
const AUDIT_FLUSH_GRACE: Duration = Duration::from_secs(10);

/// Descriptors depot needs besides client connections: database pool, store
/// files, logs.
const OTHER_FILES: u64 = 256;
