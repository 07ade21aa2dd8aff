//! Real faults, answered with distinct codes instead of hangs: a full local
//! store, an unreachable object store, a client that stalls.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use depot::config::{S3Config, Secret, StorageConfig};
use reqwest::multipart::{Form, Part};
use reqwest::{Body, Method, StatusCode};

use crate::backend_tests;
use crate::common::{Backend, TestApp, Who, envelope, expect_error};

backend_tests!(a_stalled_upload_is_refused_and_cleaned_up);

/// A tmpfs of `size` mounted at `dir` for the test's lifetime (tests run as root).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("running mount");
        assert!(status.success(), "mounting a tmpfs needs root");
        Self(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn streamed(bytes: Vec<u8>, name: &str) -> Form {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(64 << 10).map(|c| Ok(c.to_vec())).collect();
    Form::new().part(
        "file",
        Part::stream(Body::wrap_stream(futures::stream::iter(chunks))).file_name(name.to_string()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_local_store_answers_507() {
    let blobs = tempfile::tempdir().unwrap();
    let root = blobs.path().join("blobs");
    let _tmpfs = Tmpfs::mount(&root, "2m");
    let store_root = root.clone();
    let app = TestApp::start_with(
        Backend::SqliteLocal,
        Box::new(move |c| c.storage = StorageConfig::Local { root: store_root }),
    )
    .await;
    let big = vec![b'#'; 3 << 20];

    // Announced by Content-Length: refused before reading, from the free space
    // (a client that sends without waiting may see the close instead).
    match app
        .request(Who::Manager, Method::POST, "/api/v2/software-packages")
        .multipart(Form::new().part("file", Part::bytes(big.clone()).file_name("big.sh")))
        .send()
        .await
    {
        Ok(response) => {
            let message = expect_error(response, StatusCode::INSUFFICIENT_STORAGE, 90008).await;
            assert!(message.contains("out of space"), "{message}");
        }
        Err(e) => assert!(e.is_request(), "{e}"),
    }

    // Streamed without a length: the disk fills up while writing (ENOSPC).
    let response = app
        .request(Who::Manager, Method::POST, "/api/v2/software-packages")
        .multipart(streamed(big, "big.sh"))
        .send()
        .await
        .unwrap();
    let message = expect_error(response, StatusCode::INSUFFICIENT_STORAGE, 90008).await;
    assert!(message.contains("out of space"), "{message}");

    // Nothing half-written stays behind, and what fits still works.
    assert_eq!(files_under(&root), Vec::<PathBuf>::new());
    app.upload_ok("small.sh", vec![b'#'; 100_000]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_store_answers_503_quickly() {
    let app = TestApp::start_with(
        Backend::SqliteLocal,
        Box::new(|c| {
            // Nothing listens on the discard port.
            let mut s3 = S3Config::new("nowhere");
            s3.endpoint = Some("http://127.0.0.1:9".into());
            s3.region = Some("us-east-1".into());
            s3.access_key_id = Some("GK000000000000000000000000".into());
            s3.secret_access_key = Some(Secret::new("0".repeat(32)));
            c.storage = StorageConfig::S3(s3);
        }),
    )
    .await;
    let (status, _) = envelope(app.get(Who::Anonymous, "/healthz").await).await;
    assert_eq!(status, StatusCode::OK, "alive, though not ready");
    expect_error(
        app.get(Who::Anonymous, "/readyz").await,
        StatusCode::SERVICE_UNAVAILABLE,
        90005,
    )
    .await;

    let started = Instant::now();
    let message = expect_error(
        app.upload("x.sh", b"echo\n".to_vec()).await,
        StatusCode::SERVICE_UNAVAILABLE,
        90005,
    )
    .await;
    assert!(message.contains("cannot be reached"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "bounded retries, not a hang"
    );
}

async fn a_stalled_upload_is_refused_and_cleaned_up(backend: Backend) {
    let app = TestApp::start_with(
        backend,
        Box::new(|c| c.upload_idle_timeout = Duration::from_secs(1)),
    )
    .await;
    // 256 KiB, then silence longer than the idle timeout.
    let stalling = futures::stream::unfold(0, |step| async move {
        match step {
            0 => Some((Ok::<_, std::io::Error>(vec![b'#'; 256 << 10]), 1)),
            1 => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                None
            }
            _ => None,
        }
    });
    let form = Form::new().part(
        "file",
        Part::stream(Body::wrap_stream(stalling)).file_name("slow.sh"),
    );
    let started = Instant::now();
    let response = app
        .request(Who::Manager, Method::POST, "/api/v2/software-packages")
        .multipart(form)
        .send()
        .await
        .unwrap();
    let message = expect_error(response, StatusCode::REQUEST_TIMEOUT, 90010).await;
    assert!(message.contains("stalled"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(app.staging_objects().await.is_empty());
    let (_, list) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(list["data"]["page"]["totalElements"], 0);
}

/// PostgreSQL refusing connections (its connection limit reached): 503 with
/// the database's own code, not a hang; and back to normal once it accepts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_out_of_connections_answers_503_then_recovers() {
    use sea_orm::ConnectionTrait;
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::common::config_for(Backend::PostgresS3, dir.path()).await;
    // depot as an ordinary role (superusers ignore connection limits).
    let admin = depot::db::connect(&config.database_url).await.unwrap();
    let role = format!("depot_limited_{}", uuid::Uuid::new_v4().simple());
    let (root, database) = config.database_url.rsplit_once('/').unwrap();
    let database = database.to_string();
    for sql in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("ALTER DATABASE {database} OWNER TO {role}"),
        format!("GRANT ALL ON SCHEMA public TO {role}"),
    ] {
        admin.execute_unprepared(&sql).await.unwrap();
    }
    let host = root.rsplit_once('@').map_or(root, |(_, h)| h);
    config.database_url = format!("postgres://{role}@{host}/{database}");
    let app = TestApp::start_config(Backend::PostgresS3, config, dir).await;
    app.upload_ok("before.sh", b"#!/bin/sh\n".to_vec()).await;

    // No more connections for depot's role, and the ones it has are gone.
    for sql in [
        format!("ALTER ROLE {role} CONNECTION LIMIT 0"),
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"),
    ] {
        admin.execute_unprepared(&sql).await.unwrap();
    }
    let started = Instant::now();
    let message = expect_error(
        app.get(Who::Viewer, "/api/v2/software-packages").await,
        StatusCode::SERVICE_UNAVAILABLE,
        90006,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(message.contains("connections"), "{message}");
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    admin
        .execute_unprepared(&format!("ALTER ROLE {role} CONNECTION LIMIT -1"))
        .await
        .unwrap();
    let (status, body) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["page"]["totalElements"], 1);
    drop(app);
    // The role goes with the test; the database is dropped by scripts/test.sh.
    let _ = admin
        .execute_unprepared(&format!("ALTER DATABASE {database} OWNER TO postgres"))
        .await;
    let _ = admin
        .execute_unprepared(&format!("REASSIGN OWNED BY {role} TO postgres"))
        .await;
    let _ = admin
        .execute_unprepared(&format!("DROP OWNED BY {role}"))
        .await;
    let _ = admin.execute_unprepared(&format!("DROP ROLE {role}")).await;
}
