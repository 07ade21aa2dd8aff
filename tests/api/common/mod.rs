//! The test harness: a real depot server on a random port, on either
//! backend pair, with a client per role.

pub mod garage;
pub mod proxy;
pub mod recorder;
pub mod rpms;
pub mod source;
pub mod upgrade_dep;

use std::path::Path;
use std::time::Duration;

use depot::app::Server;
use depot::config::{Config, S3Config, Secret, StorageConfig};
use depot::domain::users::{Role, Users};
use depot::store::{Area, BlobStore};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::Value;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct-horse-battery";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: SQLite and local files.
    SqliteLocal,
    /// Production: PostgreSQL and an S3 server.
    PostgresS3,
}

/// Runs each named `async fn(Backend)` once per backend pair.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite_local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::SqliteLocal).await
                }
            )*
        }
        mod postgres_s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::PostgresS3).await
                }
            )*
        }
    };
}

#[derive(Clone, Copy, Debug)]
pub enum Who {
    Anonymous,
    BadPassword,
    Viewer,
    Manager,
    Admin,
}

impl Who {
    pub const ALL: [Who; 5] = [
        Who::Anonymous,
        Who::BadPassword,
        Who::Viewer,
        Who::Manager,
        Who::Admin,
    ];
}

pub struct TestApp {
    pub base: String,
    pub backend: Backend,
    pub http: reqwest::Client,
    pub store: BlobStore,
    pub users: Users,
    pub config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    /// The server's own runtime, when it does not run on the test's.
    runtime: Option<tokio::runtime::Runtime>,
    _dir: tempfile::TempDir,
}

/// Changes to the configuration a test needs, applied before start.
pub type Tweak = Box<dyn FnOnce(&mut Config)>;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test.sh, which starts PostgreSQL and the S3 server")
    })
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// A config for `backend` with a fresh database and an empty store location.
pub async fn config_for(backend: Backend, dir: &Path) -> Config {
    let mut config = Config::embedded(dir);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.admin_password = Some(Secret::new(PASSWORD));
    if backend == Backend::PostgresS3 {
        config.database_url = fresh_postgres_url().await;
        let mut s3 = S3Config::new(env("DEPOT_TEST_S3_BUCKET"));
        s3.prefix = Some(unique("t-"));
        s3.endpoint = Some(env("DEPOT_TEST_S3_ENDPOINT"));
        s3.region = Some("us-east-1".into());
        s3.access_key_id = Some(env("AWS_ACCESS_KEY_ID"));
        s3.secret_access_key = Some(Secret::new(env("AWS_SECRET_ACCESS_KEY")));
        config.storage = StorageConfig::S3(s3);
    }
    config
}

/// A fresh database on the test PostgreSQL server; its URL.
pub async fn fresh_postgres_url() -> String {
    let admin_url = env("DEPOT_TEST_DATABASE_URL");
    let name = unique("depot_test_");
    let admin = depot::db::connect(&admin_url)
        .await
        .expect("connecting to PostgreSQL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("creating a test database");
    let (root, _) = admin_url
        .rsplit_once('/')
        .expect("a database URL ends with /DB");
    format!("{root}/{name}")
}

impl TestApp {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, Box::new(|_| {})).await
    }

    pub async fn start_with(backend: Backend, tweak: Tweak) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config_for(backend, dir.path()).await;
        tweak(&mut config);
        Self::start_config(backend, config, dir).await
    }

    pub async fn start_config(backend: Backend, config: Config, dir: tempfile::TempDir) -> Self {
        Self::start_on(backend, config, dir, None).await
    }

    /// Starts the server on `runtime` (e.g. one with few blocking threads),
    /// or on the test's own runtime.
    pub async fn start_on(
        backend: Backend,
        config: Config,
        dir: tempfile::TempDir,
        runtime: Option<tokio::runtime::Runtime>,
    ) -> Self {
        let (tx, rx) = oneshot::channel::<()>();
        let (started, server) = oneshot::channel();
        let serve = {
            let config = config.clone();
            async move {
                let server = Server::build(config).await.expect("depot starts");
                let users = server.state().users.clone();
                // The server's own store: tests look at what it wrote.
                let store = server.store().clone();
                for (name, role) in [("viewer", Role::Viewer), ("manager", Role::Manager)] {
                    // A restarted server finds them already there.
                    let _ = users.add(name, role, &Secret::new(PASSWORD)).await;
                }
                let _ = started.send((server.local_addr(), users, store));
                let _ = server
                    .run(async {
                        let _ = rx.await;
                    })
                    .await;
            }
        };
        match &runtime {
            Some(runtime) => drop(runtime.spawn(serve)),
            None => drop(tokio::spawn(serve)),
        }
        let (addr, users, store) = server.await.expect("depot starts");
        let base = format!("http://{addr}");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        Self {
            base,
            backend,
            http,
            store,
            users,
            config,
            shutdown: Some(tx),
            runtime,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn request(&self, who: Who, method: Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, self.url(path));
        match who {
            Who::Anonymous => req,
            Who::BadPassword => req.basic_auth("admin", Some("not-the-password")),
            Who::Viewer => req.basic_auth("viewer", Some(PASSWORD)),
            Who::Manager => req.basic_auth("manager", Some(PASSWORD)),
            Who::Admin => req.basic_auth("admin", Some(PASSWORD)),
        }
    }

    pub async fn get(&self, who: Who, path: &str) -> Response {
        self.request(who, Method::GET, path).send().await.unwrap()
    }

    /// Uploads like `curl -F "file=@NAME"`.
    pub async fn upload_as(&self, who: Who, file_name: &str, bytes: Vec<u8>) -> Response {
        let form = Form::new().part("file", Part::bytes(bytes).file_name(file_name.to_string()));
        self.request(who, Method::POST, "/api/v2/software-packages")
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Sends `form` as the manager's upload; `Err` when the request breaks
    /// off (a refusal may close the connection before a streamed body ends).
    pub async fn send_form(&self, form: Form) -> reqwest::Result<Response> {
        self.request(Who::Manager, Method::POST, "/api/v2/software-packages")
            .multipart(form)
            .send()
            .await
    }

    pub async fn upload(&self, file_name: &str, bytes: Vec<u8>) -> Response {
        self.upload_as(Who::Manager, file_name, bytes).await
    }

    /// Uploads and expects success; returns `data`.
    pub async fn upload_ok(&self, file_name: &str, bytes: Vec<u8>) -> Value {
        let response = self.upload(file_name, bytes).await;
        let (status, body) = envelope(response).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "upload of {file_name} failed: {body}"
        );
        body["data"].clone()
    }

    /// Keys of the stored content objects.
    pub async fn stored_objects(&self) -> Vec<String> {
        self.store.list(Area::Blobs).await.unwrap()
    }

    /// Objects of resumable uploads in progress.
    pub async fn upload_objects(&self) -> Vec<String> {
        self.store.list(Area::Uploads).await.unwrap()
    }

    pub async fn staging_objects(&self) -> Vec<String> {
        self.store.list(Area::Staging).await.unwrap()
    }

    pub async fn stop(mut self) -> (Config, tempfile::TempDir) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        (
            self.config.clone(),
            std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap()),
        )
    }

    /// Whether a download that asks for a redirect (`?redirect=1`) gets one
    /// by default: where the store can presign URLs.
    pub fn redirects_on_request(&self) -> bool {
        self.backend == Backend::PostgresS3
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Status and parsed envelope of a response, checking the envelope's shape.
pub async fn envelope(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert_eq!(body["successful"], status.is_success(), "{body}");
    assert_eq!(body["traceId"].as_str().map(str::len), Some(32), "{body}");
    assert!(
        body["timestamp"].is_string() && body["server"].is_string() && body["duration"].is_u64()
    );
    (status, body)
}

/// Expects an error envelope with `status` and `code`; returns its message.
pub async fn expect_error(response: Response, status: StatusCode, code: u64) -> String {
    let (got, body) = envelope(response).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["errCode"].is_string(), "{body}");
    assert!(body.get("data").is_none(), "{body}");
    body["error"]["message"].as_str().unwrap().to_string()
}

pub fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    hex::encode(Sha1::digest(bytes))
}

/// `/metrics`, as Prometheus scrapes it.
pub async fn metrics(app: &TestApp) -> String {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

/// The value of the sample whose line starts with `series` (name and labels).
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The trace id a response carries.
pub fn trace_id(response: &Response) -> String {
    response.headers()["x-trace-id"]
        .to_str()
        .unwrap()
        .to_string()
}

/// The audit event of the request with `trace_id`, waiting for it to be
/// written (that happens off the request path).
pub async fn audit_event(app: &TestApp, trace_id: &str) -> Value {
    for _ in 0..100 {
        let (_, body) = envelope(app.get(Who::Admin, "/api/v2/audit-events?size=1000").await).await;
        if let Some(event) = body["data"]["contents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["traceId"] == trace_id)
        {
            return event.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no audit event with trace id {trace_id}");
}
