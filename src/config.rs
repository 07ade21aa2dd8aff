//! Runtime configuration of `depot serve`, independent of how it was given
//! (flags and environment in `cli`, literals in tests).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

mod network;
mod region_keys;

pub use network::{Cidr, CorsOrigin};
pub use region_keys::{region_env_prefix, region_keys};

/// `depot serve`'s defaults, the only copy: `Config::embedded` is made of
/// them and the flags take theirs from here.
pub mod defaults {
    use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
    use std::time::Duration;

    pub const DATA_DIR: &str = "./depot-data";
    pub const LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
    pub const PRESIGN_TTL: Duration = Duration::from_secs(300);
    pub const MAX_UPLOADS: usize = 64;
    pub const MAX_OPEN_UPLOADS: usize = 32;
    pub const MAX_OPEN_UPLOAD_BYTES: u64 = 64 << 30;
    pub const HEADER_TIMEOUT: Duration = Duration::from_secs(15);
    pub const MAX_CONNECTIONS: usize = 4096;
    pub const MAX_CONNECTIONS_PER_ADDRESS: usize = 256;
    pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
    pub const MAX_UPLOADS_PER_USER: usize = 8;
    pub const MAX_UPLOAD_SIZE: u64 = 8 << 30;
    pub const UPGRADE_CHUNK_SIZE: u64 = crate::domain::upgrade::DEFAULT_CHUNK_SIZE;
    pub const UPLOAD_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    pub const UPLOAD_EXPIRY: Duration = Duration::from_secs(24 * 3600);
    pub const GC_INTERVAL: Duration = Duration::from_secs(3600);
    pub const GC_GRACE: Duration = Duration::from_secs(3600);
    pub const S3_TIMEOUT: Duration = Duration::from_secs(120);
}

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub storage: StorageConfig,
    /// Base of every `downloadUrl`; derived from each request when unset.
    pub public_url: Option<Url>,
    /// `None`: `OnRequest` where the store can presign, `Never` otherwise.
    pub download_redirect: Option<DownloadRedirect>,
    pub presign_ttl: Duration,
    pub max_upload_size: u64,
    /// Uploads received at once, over all users and per user; past either,
    /// an upload is refused (503, 429) before a byte is read.
    pub max_uploads: usize,
    /// A request's headers must arrive within this; an idle kept-alive
    /// connection is closed after as long.
    pub header_timeout: Duration,
    /// Open connections, in all and from one address (trusted proxies excepted).
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
    /// When set, `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<Secret>,
    pub max_uploads_per_user: usize,
    /// Resumable uploads one user may have in progress, and the bytes they may announce.
    pub max_open_uploads: usize,
    pub max_open_upload_bytes: u64,
    /// obshell's chunk size: `ChunkCount = ceil(PayloadSize / chunk size)`.
    pub upgrade_chunk_size: u64,
    /// How long an upload may send nothing before it is refused.
    pub upload_idle_timeout: Duration,
    /// How long a resumable upload may sit unfinished before its bytes are removed.
    pub upload_expiry: Duration,
    /// A web console session ends after this long without use…
    pub console_session_idle: Duration,
    /// …and this long after its sign-in, used or not.
    pub console_session_lifetime: Duration,
    /// How often `serve` collects garbage; `None` never.
    pub gc_interval: Option<Duration>,
    /// Objects younger than this are never collected (uploads in flight).
    pub gc_grace: Duration,
    pub preload_dir: Option<PathBuf>,
    pub migrate: bool,
    /// Password for the `admin` user created on first start.
    pub admin_password: Option<Secret>,
    /// Peers whose `X-Forwarded-For/Host/Proto` are believed (`--trusted-proxy`);
    /// from anyone else those headers are ignored.
    pub trusted_proxies: Vec<Cidr>,
    /// Web origins whose pages may call the API (CORS); none by default.
    pub cors_origins: Vec<CorsOrigin>,
    /// Failed logins allowed per user name and client address.
    pub login_limit_user: Rate,
    /// Failed logins allowed per client address, whatever the user name.
    pub login_limit_address: Rate,
    pub repos: crate::domain::repos::ReposConfig,
    /// This replica's region and how it replicates (`--region`).
    pub regions: crate::domain::regions::RegionsConfig,
    /// StarlingX patches: trusted certificates, unsigned patches.
    pub patches: crate::domain::patches::PatchesConfig,
}

impl Config {
    /// The embedded default: SQLite and local files under `data_dir`.
    pub fn embedded(data_dir: impl Into<PathBuf>) -> Self {
        let data_dir = data_dir.into();
        Self {
            listen: defaults::LISTEN,
            database_url: sqlite_url(&data_dir.join("depot.db")),
            storage: StorageConfig::Local {
                root: data_dir.join("blobs"),
            },
            public_url: None,
            download_redirect: None,
            presign_ttl: defaults::PRESIGN_TTL,
            max_upload_size: defaults::MAX_UPLOAD_SIZE,
            max_uploads: defaults::MAX_UPLOADS,
            header_timeout: defaults::HEADER_TIMEOUT,
            max_connections: defaults::MAX_CONNECTIONS,
            max_connections_per_address: defaults::MAX_CONNECTIONS_PER_ADDRESS,
            shutdown_grace: defaults::SHUTDOWN_GRACE,
            metrics_token: None,
            max_uploads_per_user: defaults::MAX_UPLOADS_PER_USER,
            max_open_uploads: defaults::MAX_OPEN_UPLOADS,
            max_open_upload_bytes: defaults::MAX_OPEN_UPLOAD_BYTES,
            upgrade_chunk_size: defaults::UPGRADE_CHUNK_SIZE,
            upload_idle_timeout: defaults::UPLOAD_IDLE_TIMEOUT,
            upload_expiry: defaults::UPLOAD_EXPIRY,
            console_session_idle: crate::domain::sessions::IDLE,
            console_session_lifetime: crate::domain::sessions::LIFETIME,
            gc_interval: Some(defaults::GC_INTERVAL),
            gc_grace: defaults::GC_GRACE,
            preload_dir: None,
            migrate: true,
            admin_password: None,
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            login_limit_user: crate::domain::throttle::PER_USER,
            login_limit_address: crate::domain::throttle::PER_ADDRESS,
            repos: Default::default(),
            regions: Default::default(),
            patches: Default::default(),
        }
    }
}

pub fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

#[derive(Clone, Debug, PartialEq)]
pub enum StorageConfig {
    Local { root: PathBuf },
    S3(S3Config),
}

#[derive(Clone, Debug, PartialEq)]
pub struct S3Config {
    pub bucket: String,
    pub prefix: Option<String>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Endpoint used only to sign download URLs.
    pub public_endpoint: Option<String>,
    /// Whether requests carry `UNSIGNED-PAYLOAD` instead of the SHA-256 of
    /// their body; `None`: only over HTTPS.
    pub unsigned_payload: Option<bool>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<Secret>,
    /// How long a request to the store may go unanswered, and a body it
    /// sends may pause: a stall's bound, not a transfer's length.
    pub timeout: Duration,
    /// Objects above this size are copied part by part (S3's CopyObject stops at 5 GiB).
    pub max_single_copy: u64,
    pub copy_part_size: u64,
}

impl S3Config {
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: None,
            endpoint: None,
            region: None,
            public_endpoint: None,
            unsigned_payload: None,
            access_key_id: None,
            secret_access_key: None,
            timeout: defaults::S3_TIMEOUT,
            max_single_copy: 5 << 30,
            copy_part_size: 512 << 20,
        }
    }
}

impl StorageConfig {
    /// Parses `file://PATH` or `s3://BUCKET[/PREFIX]`.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                return Err("file:// needs a path, e.g. file:///var/lib/depot/blobs".into());
            }
            return Ok(Self::Local { root: path.into() });
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = match rest.split_once('/') {
                Some((b, p)) => (
                    b,
                    Some(p.trim_matches('/').to_string()).filter(|p| !p.is_empty()),
                ),
                None => (rest, None),
            };
            if bucket.is_empty() {
                return Err("s3:// needs a bucket, e.g. s3://depot or s3://depot/prefix".into());
            }
            let mut s3 = S3Config::new(bucket);
            s3.prefix = prefix;
            return Ok(Self::S3(s3));
        }
        Err(format!(
            "unsupported storage URL {url:?}: use file://PATH or s3://BUCKET[/PREFIX]"
        ))
    }
}

/// When a download may be answered with a redirect (302) to a presigned URL
/// of the object store instead of the bytes. Clients that do not follow
/// redirects (OCP's agents: `curl` without `-L`) would save the empty 302 as
/// the file, and some that do send the user's credentials on to the store; so
/// no policy redirects a request that did not ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DownloadRedirect {
    /// depot streams every download itself.
    Never,
    /// Redirect a request that asks (`?redirect=1`), unless its client is
    /// known to forward credentials (wget, Ansible).
    OnRequest,
}

/// A budget of events: `burst` at once, refilled at `burst` per `period`
/// (written `5/1m`). A zero burst means unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub burst: u32,
    pub period: Duration,
}

impl Rate {
    pub const UNLIMITED: Rate = Rate {
        burst: 0,
        period: Duration::ZERO,
    };

    pub const fn new(burst: u32, period: Duration) -> Self {
        Self { burst, period }
    }

    /// `N/DURATION` (`5/1m`, `100/1h`), or `off`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(Self::UNLIMITED);
        }
        let bad = || format!("{s:?} is not a rate like 5/1m (N per duration) or off");
        let (n, period) = s.split_once('/').ok_or_else(bad)?;
        let burst: u32 = n.trim().parse().map_err(|_| bad())?;
        let period = humantime::parse_duration(period.trim()).map_err(|_| bad())?;
        if burst == 0 || period.is_zero() {
            return Err(bad());
        }
        Ok(Self { burst, period })
    }

    pub fn is_unlimited(&self) -> bool {
        self.burst == 0
    }

    /// How long one event takes to be refilled.
    pub fn interval(&self) -> Duration {
        self.period / self.burst.max(1)
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_unlimited() {
            f.write_str("off")
        } else {
            let period = humantime::format_duration(self.period);
            write!(f, "{}/{period}", self.burst)
        }
    }
}

/// A string that never shows up in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_storage_urls() {
        match StorageConfig::parse("s3://bucket/some/prefix/").unwrap() {
            StorageConfig::S3(s3) => {
                assert_eq!(s3.bucket, "bucket");
                assert_eq!(s3.prefix.as_deref(), Some("some/prefix"));
            }
            other => panic!("{other:?}"),
        }
        match StorageConfig::parse("s3://bucket").unwrap() {
            StorageConfig::S3(s3) => assert_eq!(s3.prefix, None),
            other => panic!("{other:?}"),
        }
        match StorageConfig::parse("file:///var/depot").unwrap() {
            StorageConfig::Local { root } => assert_eq!(root, PathBuf::from("/var/depot")),
            other => panic!("{other:?}"),
        }
        assert!(StorageConfig::parse("gs://x").is_err());
        assert!(StorageConfig::parse("s3://").is_err());
    }

    #[test]
    fn parses_rates() {
        let rate = Rate::parse("5/1m").unwrap();
        assert_eq!(rate, Rate::new(5, Duration::from_secs(60)));
        assert_eq!(rate.interval(), Duration::from_secs(12));
        assert_eq!(rate.to_string(), "5/1m");
        assert!(Rate::parse("off").unwrap().is_unlimited());
        for bad in ["5", "0/1m", "5/0s", "x/1m", "5/soon"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "<redacted>");
    }
}
