//! A Garage (S3 server) of a test's own, which the test may stop and start
//! again on the same ports and data, unlike the one scripts/test.sh shares.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use depot::config::{S3Config, Secret};

pub struct Garage {
    binary: String,
    config: PathBuf,
    pub endpoint: String,
    access_key: String,
    secret_key: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

const BUCKET: &str = "depot-fault";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

impl Garage {
    pub async fn start() -> Self {
        let binary = std::env::var("DEPOT_TEST_GARAGE").unwrap_or_else(|_| {
            panic!("DEPOT_TEST_GARAGE is not set: run the tests with scripts/test.sh, which installs Garage")
        });
        let dir = tempfile::tempdir().unwrap();
        let (s3, rpc) = (free_port(), free_port());
        let config = dir.path().join("garage.toml");
        std::fs::write(
            &config,
            format!(
                r#"metadata_dir = "{root}/meta"
data_dir = "{root}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"
[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.localhost"
"#,
                root = dir.path().display(),
                secret = random_hex(32),
            ),
        )
        .unwrap();
        let mut garage = Self {
            binary,
            config,
            endpoint: format!("http://127.0.0.1:{s3}"),
            access_key: format!("GK{}", random_hex(12)),
            secret_key: random_hex(32),
            child: None,
            dir,
        };
        garage.resume().await;
        garage
    }

    /// (Re)starts the server on the same ports and data, and waits until it answers.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config)
            .args(["server", "--single-node", "--default-bucket"])
            .env("GARAGE_DEFAULT_ACCESS_KEY", &self.access_key)
            .env("GARAGE_DEFAULT_SECRET_KEY", &self.secret_key)
            .env("GARAGE_DEFAULT_BUCKET", BUCKET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting Garage");
        self.child = Some(child);
        let probe = reqwest::Client::new();
        for _ in 0..600 {
            // Ready when an unsigned request is refused rather than not answered.
            if let Ok(r) = probe
                .get(format!("{}/{BUCKET}", self.endpoint))
                .send()
                .await
                && r.status() == 403
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("Garage did not start on {}", self.endpoint);
    }

    /// Kills the server outright, as a crash or a lost host would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Bytes in the server's data directory: what it has been sent, parts
    /// of unfinished multipart uploads included, which no listing shows.
    pub fn data_bytes(&self) -> u64 {
        let mut total = 0;
        let mut dirs = vec![self.dir.path().join("data")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                match entry.metadata() {
                    Ok(meta) if meta.is_dir() => dirs.push(entry.path()),
                    Ok(meta) => total += meta.len(),
                    Err(_) => {}
                }
            }
        }
        total
    }

    pub fn s3_config(&self) -> S3Config {
        let mut s3 = S3Config::new(BUCKET);
        s3.endpoint = Some(self.endpoint.clone());
        s3.region = Some("us-east-1".into());
        s3.access_key_id = Some(self.access_key.clone());
        s3.secret_access_key = Some(Secret::new(self.secret_key.clone()));
        s3
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.kill();
    }
}
