//! Assembling depot from its configuration: the database, the store, the
//! shared state, and the listening server.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use url::Url;

use crate::config::{Config, DownloadMode};
use crate::db;
use crate::domain::audit::AuditLog;
use crate::domain::credentials;
use crate::domain::doctor::Doctor;
use crate::domain::downloads::Downloads;
use crate::domain::gc::{Collector, Pass};
use crate::domain::packages::Packages;
use crate::domain::preload::preload;
use crate::domain::tokens::Tokens;
use crate::domain::uploads::Uploads;
use crate::domain::users::Users;
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
    pub packages: Packages,
    pub downloads: Downloads,
    pub doctor: Doctor,
    pub audit: AuditLog,
    pub uploads: Uploads,
    pub collector: Collector,
    pub users: Users,
    pub tokens: Tokens,
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
    /// Reverse proxies whose `X-Forwarded-For` names the client (login budgets).
    pub trusted_proxies: usize,
}

pub struct Server {
    listener: TcpListener,
    state: AppState,
}

impl Server {
    /// Connects to the database (migrating it unless told not to) and the
    /// store, creates the first admin, imports built-in packages, and binds.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db = db::connect(&config.database_url)
            .await
            .with_context(|| format!("connecting to {}", db::redact_url(&config.database_url)))?;
        if config.migrate {
            db::migrate(&db)
                .await
                .context("running database migrations")?;
        }
        let store = BlobStore::open(&config.storage, config.max_upload_size)
            .context("opening the object store")?;
        let download_mode = match config.download_mode {
            Some(DownloadMode::Redirect) if !store.can_presign() => {
                anyhow::bail!(
                    "--download-mode redirect needs a store that can presign URLs (S3); local files cannot"
                )
            }
            Some(mode) => mode,
            None if store.can_presign() => DownloadMode::Redirect,
            None => DownloadMode::Proxy,
        };

        let users = Users::new(db.clone())?
            .with_login_limits(config.login_limit_user, config.login_limit_address);
        if let Some(password) = users
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
        let tokens = Tokens::new(db.clone());
        let audit = AuditLog::new(db.clone());
        let packages = Packages::new(db.clone(), store.clone());
        let uploads = Uploads::new(
            db.clone(),
            packages.clone(),
            config.upload_expiry,
            config.max_upload_size,
        );
        let collector = Collector::new(db.clone(), store.clone(), uploads.clone(), config.gc_grace);
        let doctor = Doctor::new(db, store.clone(), collector.clone());
        let downloads = Downloads::new(packages.clone(), store, download_mode, config.presign_ttl);
        if let Some(dir) = &config.preload_dir {
            preload(&packages, dir, config.max_upload_size)
                .await
                .with_context(|| format!("reading the preload directory {}", dir.display()))?;
        }

        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let state = AppState(Arc::new(Services {
            packages,
            downloads,
            doctor,
            audit,
            uploads,
            collector,
            users,
            tokens,
            settings: Arc::new(Settings {
                public_url: config.public_url,
                max_upload_size: config.max_upload_size,
                upgrade_chunk_size: config.upgrade_chunk_size,
                upload_idle_timeout: config.upload_idle_timeout,
                upload_expiry: config.upload_expiry,
                gc_interval: config.gc_interval,
                trusted_proxies: config.trusted_proxies,
            }),
        }));
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(
            addr = %self.local_addr(),
            download_mode = ?self.state.downloads.mode(),
            "depot is serving"
        );
        let watcher = tokio::spawn(credentials::watch(
            self.state.users.clone(),
            self.state.tokens.clone(),
        ));
        let sweeper = tokio::spawn(sweep_expired_uploads(
            self.state.uploads.clone(),
            self.state.settings.upload_expiry,
        ));
        let collector = self
            .state
            .settings
            .gc_interval
            .map(|every| tokio::spawn(collect_garbage(self.state.collector.clone(), every)));
        let router = crate::http::router(self.state);
        // The peer's address, for the audit log.
        axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;
        sweeper.abort();
        watcher.abort();
        if let Some(collector) = collector {
            collector.abort();
        }
        Ok(())
    }
}

/// Collects garbage every `every`; among replicas, whoever takes the lock.
async fn collect_garbage(collector: Collector, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = collector.run(Pass::Collect).await {
            tracing::warn!(error = %e, "garbage collection failed; retrying at the next interval");
        }
    }
}

/// Removes expired resumable uploads, a few times per expiry period. Every
/// replica runs it; each upload is claimed before it is removed.
async fn sweep_expired_uploads(uploads: Uploads, expiry: Duration) {
    let every = (expiry / 4).clamp(Duration::from_secs(1), Duration::from_secs(300));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match uploads.sweep_expired().await {
            Ok((0, _)) => {}
            Ok((count, bytes)) => {
                tracing::info!(uploads = count, bytes, "expired uploads removed")
            }
            Err(e) => tracing::warn!(error = %e, "sweeping expired uploads failed; retrying later"),
        }
    }
}
