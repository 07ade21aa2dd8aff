//! `depot serve`: the HTTP server, and the settings `gc` and `doctor` share with it.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use url::Url;

use super::DbArgs;
use crate::app::Server;
use crate::config::{
    Cidr, Config, CorsOrigin, DownloadRedirect, Rate, Secret, StorageConfig, defaults,
};
use crate::domain::regions::RegionsConfig;
use crate::domain::repos::ReposConfig;

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "DEPOT_LISTEN", default_value_t = defaults::LISTEN)]
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
    /// Send `UNSIGNED-PAYLOAD` rather than each request body's SHA-256 in its
    /// signature. Default: only over HTTPS, where TLS protects the bytes.
    #[arg(long, env = "DEPOT_S3_UNSIGNED_PAYLOAD")]
    pub s3_unsigned_payload: Option<bool>,
    /// How long a request to S3 may go unanswered, or a download from it
    /// pause, before it is tried again (once) or fails with 503.
    #[arg(long, env = "DEPOT_S3_TIMEOUT", default_value_t = defaults::S3_TIMEOUT.into())]
    pub s3_timeout: humantime::Duration,
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
    /// When a download may be answered with a redirect to a presigned URL of
    /// the store: only to a request asking for it (`?redirect=1`) from a client
    /// not known to forward credentials, or never. Default: on-request where
    /// the store can presign (S3), else never.
    #[arg(long, env = "DEPOT_DOWNLOAD_REDIRECT", value_enum)]
    pub download_redirect: Option<DownloadRedirect>,
    /// Lifetime of presigned download URLs.
    #[arg(long, env = "DEPOT_PRESIGN_TTL", default_value_t = defaults::PRESIGN_TTL.into())]
    pub presign_ttl: humantime::Duration,
    /// Largest accepted upload, e.g. 8GiB or 500MB.
    #[arg(long, env = "DEPOT_MAX_UPLOAD_SIZE", default_value_t = Size(defaults::MAX_UPLOAD_SIZE))]
    pub max_upload_size: Size,
    /// Uploads received at once over all users; past it, 503 with Retry-After.
    #[arg(long, env = "DEPOT_MAX_UPLOADS", default_value_t = defaults::MAX_UPLOADS)]
    pub max_uploads: usize,
    /// Resumable uploads one user may have in progress; past it, creation answers 429.
    #[arg(long, env = "DEPOT_MAX_OPEN_UPLOADS", default_value_t = defaults::MAX_OPEN_UPLOADS)]
    pub max_open_uploads: usize,
    /// Bytes one user's resumable uploads in progress may announce, e.g. 64GiB.
    #[arg(long, env = "DEPOT_MAX_OPEN_UPLOAD_BYTES", default_value_t = Size(defaults::MAX_OPEN_UPLOAD_BYTES))]
    pub max_open_upload_bytes: Size,
    /// A request's headers must arrive within this; idle kept-alive connections close after it too.
    #[arg(long, env = "DEPOT_HEADER_TIMEOUT", default_value_t = defaults::HEADER_TIMEOUT.into())]
    pub header_timeout: humantime::Duration,
    /// Open connections at most; past it, new ones wait in the listen backlog.
    #[arg(long, env = "DEPOT_MAX_CONNECTIONS", default_value_t = defaults::MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Open connections from one address (trusted proxies excepted); the excess is closed.
    #[arg(long, env = "DEPOT_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = defaults::MAX_CONNECTIONS_PER_ADDRESS)]
    pub max_connections_per_address: usize,
    /// A secret Prometheus must present (`Authorization: Bearer …`) to read /metrics; open when unset.
    #[arg(long, env = "DEPOT_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// On SIGTERM, how long requests in flight may still run.
    #[arg(long, env = "DEPOT_SHUTDOWN_GRACE", default_value_t = defaults::SHUTDOWN_GRACE.into())]
    pub shutdown_grace: humantime::Duration,
    /// Uploads one user may send at once; past it, 429 with Retry-After.
    #[arg(long, env = "DEPOT_MAX_UPLOADS_PER_USER", default_value_t = defaults::MAX_UPLOADS_PER_USER)]
    pub max_uploads_per_user: usize,
    /// An upload that sends nothing for this long is refused (408) and cleaned up.
    #[arg(long, env = "DEPOT_UPLOAD_IDLE_TIMEOUT", default_value_t = defaults::UPLOAD_IDLE_TIMEOUT.into())]
    pub upload_idle_timeout: humantime::Duration,
    /// A resumable upload left unfinished this long expires and its bytes are removed.
    #[arg(long, env = "DEPOT_UPLOAD_EXPIRY", default_value_t = defaults::UPLOAD_EXPIRY.into())]
    pub upload_expiry: humantime::Duration,
    /// A web console session ends after this long without use.
    #[arg(long, env = "DEPOT_CONSOLE_SESSION_IDLE", default_value_t = crate::domain::sessions::IDLE.into())]
    pub console_session_idle: humantime::Duration,
    /// A web console session ends this long after its sign-in, used or not.
    #[arg(long, env = "DEPOT_CONSOLE_SESSION_LIFETIME", default_value_t = crate::domain::sessions::LIFETIME.into())]
    pub console_session_lifetime: humantime::Duration,
    /// How often to collect garbage (unreferenced objects, leftovers); 0 never.
    #[arg(long, env = "DEPOT_GC_INTERVAL", default_value_t = defaults::GC_INTERVAL.into())]
    pub gc_interval: humantime::Duration,
    /// Objects younger than this are never collected: it protects uploads in flight.
    #[arg(long, env = "DEPOT_GC_GRACE", default_value_t = defaults::GC_GRACE.into())]
    pub gc_grace: humantime::Duration,
    /// obshell's chunk size, for the ChunkCount of upgrade packages.
    #[arg(long, env = "DEPOT_UPGRADE_CHUNK_SIZE", default_value_t = Size(defaults::UPGRADE_CHUNK_SIZE))]
    pub upgrade_chunk_size: Size,
    /// Directory whose files are imported at start as built-in (not deletable) packages.
    #[arg(long, env = "DEPOT_PRELOAD_DIR")]
    pub preload_dir: Option<PathBuf>,
    /// Failed logins allowed per user name and client address: N/DURATION (e.g. 10/1m), or off.
    #[arg(long, env = "DEPOT_LOGIN_LIMIT_USER", default_value_t = crate::domain::throttle::PER_USER, value_parser = Rate::parse)]
    pub login_limit_user: Rate,
    /// Failed logins allowed per client address, whatever the user names: N/DURATION, or off.
    #[arg(long, env = "DEPOT_LOGIN_LIMIT_ADDRESS", default_value_t = crate::domain::throttle::PER_ADDRESS, value_parser = Rate::parse)]
    pub login_limit_address: Rate,
    /// A proxy (address or CIDR, repeatable or comma-separated) whose
    /// X-Forwarded-For/Host/Proto headers are believed; by default none is.
    #[arg(
        long = "trusted-proxy",
        env = "DEPOT_TRUSTED_PROXY",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<Cidr>,
    /// A web origin (`https://console.example.com`, repeatable or
    /// comma-separated, or `*`) whose pages may call the API from a browser
    /// (CORS); by default none may.
    #[arg(long = "cors-origin", env = "DEPOT_CORS_ORIGIN", value_delimiter = ',')]
    pub cors_origins: Vec<CorsOrigin>,
    /// Anyone may read the yum repositories under /repos/ (stock .repo files
    /// and obd's mirror send no credentials); otherwise viewers only.
    #[arg(long, env = "DEPOT_REPOS_PUBLIC")]
    pub repos_public: bool,
    /// File holding the repositories' OpenPGP secret key, ASCII-armoured and
    /// without a passphrase; by default depot generates one and keeps it in its database.
    #[arg(long, env = "DEPOT_REPOS_SIGNING_KEY_FILE")]
    pub repos_signing_key_file: Option<PathBuf>,
    /// How long the metadata files of a superseded publication stay downloadable.
    #[arg(long, env = "DEPOT_REPOS_GRACE", default_value = "1h")]
    pub repos_grace: humantime::Duration,
    /// A PEM certificate trusted to sign StarlingX patches (`signature.v2`);
    /// repeatable, or comma-separated in the variable. Without one, every
    /// signed patch is refused ("Signature check failed").
    #[arg(
        long = "patch-trust-cert",
        env = "DEPOT_PATCH_TRUST_CERT",
        value_delimiter = ','
    )]
    pub patch_trust_certs: Vec<PathBuf>,
    /// Accept patches without `signature.v2` (their MD5 `signature` must
    /// still be right); StarlingX refuses them ("Patch has not been signed").
    #[arg(long, env = "DEPOT_PATCH_ALLOW_UNSIGNED")]
    pub patch_allow_unsigned: bool,
    /// Hosts the patch service tracks at most: a report from a new host
    /// past it is refused (409, code 90046) until one is dropped.
    #[arg(long, env = "DEPOT_PATCH_MAX_HOSTS", default_value_t = crate::domain::patches::DEFAULT_MAX_HOSTS)]
    pub patch_max_hosts: u64,
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
    /// The region this replica runs in (`depot region add`): its downloads
    /// prefer that region's store when no request says otherwise.
    #[arg(long, env = "DEPOT_REGION")]
    pub region: Option<String>,
    /// Replication copies this replica runs at once (regions only).
    #[arg(long, env = "DEPOT_REGION_WORKERS", default_value_t = 2)]
    pub region_workers: usize,
    /// How long a replication copy is its worker's without a heartbeat: a
    /// replica that dies mid-copy leaves its copy to others after this.
    #[arg(long, env = "DEPOT_REGION_LEASE", default_value = "60s")]
    pub region_lease: humantime::Duration,
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
            s3.unsigned_payload = self.s3_unsigned_payload;
            s3.timeout = self.s3_timeout.into();
            s3.access_key_id = self.aws_access_key_id;
            s3.secret_access_key = self.aws_secret_access_key.map(Secret::new);
        }
        let gc_interval: Duration = self.gc_interval.into();
        let signing_key = match &self.repos_signing_key_file {
            Some(path) => Some(Secret::new(std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("reading the repository signing key {}: {e}", path.display())
            })?)),
            None => None,
        };
        let mut trust_certs = Vec::new();
        for path in &self.patch_trust_certs {
            trust_certs.push(std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!(
                    "reading the patch trust certificate {}: {e}",
                    path.display()
                )
            })?);
        }
        Ok(Config {
            regions: RegionsConfig {
                own: self.region,
                workers: self.region_workers.clamp(1, 64),
                lease: self.region_lease.into(),
                ..RegionsConfig::default()
            },
            patches: crate::domain::patches::PatchesConfig {
                trust_certs,
                allow_unsigned: self.patch_allow_unsigned,
                max_hosts: self.patch_max_hosts,
            },
            repos: ReposConfig {
                public: self.repos_public,
                signing_key,
                grace: self.repos_grace.into(),
                ..ReposConfig::default()
            },
            listen: self.listen,
            database_url: self.db.database_url(),
            storage,
            public_url: self.public_url,
            download_redirect: self.download_redirect,
            presign_ttl: self.presign_ttl.into(),
            max_upload_size: self.max_upload_size.0,
            max_uploads: self.max_uploads,
            header_timeout: self.header_timeout.into(),
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
            shutdown_grace: self.shutdown_grace.into(),
            metrics_token: self.metrics_token.map(Secret::new),
            max_uploads_per_user: self.max_uploads_per_user,
            max_open_uploads: self.max_open_uploads,
            max_open_upload_bytes: self.max_open_upload_bytes.0,
            upgrade_chunk_size: self.upgrade_chunk_size.0,
            upload_idle_timeout: self.upload_idle_timeout.into(),
            upload_expiry: self.upload_expiry.into(),
            console_session_idle: self.console_session_idle.into(),
            console_session_lifetime: self.console_session_lifetime.into(),
            gc_interval: Some(gc_interval).filter(|d| !d.is_zero()),
            gc_grace: self.gc_grace.into(),
            preload_dir: self.preload_dir,
            trusted_proxies: self.trusted_proxies,
            cors_origins: self.cors_origins,
            login_limit_user: self.login_limit_user,
            login_limit_address: self.login_limit_address,
            migrate: !self.no_migrate,
            admin_password: self.admin_password.map(Secret::new),
        })
    }
}

/// A size flag in bytes: read like `8GiB` or `500MB`, shown (as a default
/// in `--help`) in the largest binary unit that divides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

impl FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        s.parse::<bytesize::ByteSize>().map(|b| Size(b.as_u64()))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        match [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")]
            .into_iter()
            .find(|(shift, _)| n > 0 && n.is_multiple_of(1 << shift))
        {
            Some((shift, unit)) => write!(f, "{}{unit}", n >> shift),
            None => write!(f, "{n}"),
        }
    }
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    // Its `redirect` answered every download with a 302, which OCP's agents
    // save as an empty file; say that the setting is gone rather than ignore it.
    if std::env::var_os("DEPOT_DOWNLOAD_MODE").is_some_and(|v| !v.is_empty()) {
        tracing::warn!(
            "DEPOT_DOWNLOAD_MODE is no longer read: downloads stream through depot unless a request asks for a redirect (?redirect=1); DEPOT_DOWNLOAD_REDIRECT=never|on-request says whether it may"
        );
    }
    let server = Server::build(args.into_config()?).await?;
    server.run(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, FromArgMatches, Parser};

    use super::*;
    use crate::cli::{Cli, Command};

    /// `args` parsed without reading the environment.
    fn serve_config(args: &[&str]) -> Config {
        let no_env = |arg: clap::Arg| arg.env(None);
        let command = Cli::command()
            .mut_args(no_env)
            .mut_subcommands(|sub| sub.mut_args(no_env));
        match Cli::from_arg_matches(&command.get_matches_from(args))
            .unwrap()
            .command
        {
            Command::Serve(serve) => serve.into_config().unwrap(),
            other => panic!("{other:?}"),
        }
    }

    /// The flags' defaults are `Config::embedded`'s: tests run one, production
    /// the other.
    #[test]
    fn serve_without_flags_is_the_embedded_default() {
        assert_eq!(
            serve_config(&["depot", "serve"]),
            Config::embedded(defaults::DATA_DIR)
        );
    }

    #[test]
    fn sizes_and_durations() {
        let config = serve_config(&[
            "depot",
            "serve",
            "--max-upload-size",
            "500MB",
            "--upgrade-chunk-size",
            "8GiB",
            "--presign-ttl",
            "90s",
            "--gc-interval",
            "0",
        ]);
        assert_eq!(config.max_upload_size, 500_000_000);
        assert_eq!(config.upgrade_chunk_size, 8 << 30);
        assert_eq!(config.presign_ttl, Duration::from_secs(90));
        assert_eq!(config.gc_interval, None, "0 is never");
        let bad = Cli::try_parse_from(["depot", "serve", "--max-upload-size", "lots"]);
        assert!(bad.is_err());
    }

    #[test]
    fn sizes_show_in_whole_units() {
        for (n, shown) in [
            (8 << 30, "8GiB"),
            (16 << 20, "16MiB"),
            (1536 << 20, "1536MiB"),
            (500_000_000, "500000000"),
            (0, "0"),
        ] {
            assert_eq!(Size(n).to_string(), shown);
            assert_eq!(shown.parse::<Size>().unwrap(), Size(n));
        }
    }
}
