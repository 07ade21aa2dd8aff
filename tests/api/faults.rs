//! Real faults, answered with distinct codes instead of hangs: a full local
//! store, an unreachable object store, a client that stalls.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use depot::config::{S3Config, Secret, StorageConfig};
use reqwest::multipart::{Form, Part};
use reqwest::{Body, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{
    Backend, TestApp, Who, audit_event, envelope, expect_error, metrics, sample, trace_id,
};

backend_tests!(
    a_stalled_upload_is_refused_and_cleaned_up,
    a_client_that_disconnects_leaves_nothing_behind
);

/// What an operator sees of a failed upload: its cause counted in the
/// metrics, nothing in flight, and an audit event with the answer's status
/// (`refused` for 4xx, `failed` for 5xx).
async fn assert_failure_reported(app: &TestApp, trace: &str, status: u16, cause: &str) {
    let text = metrics(app).await;
    assert!(
        sample(
            &text,
            &format!(r#"depot_uploads_failed_total{{cause="{cause}"}}"#)
        )
        .is_some_and(|n| n >= 1.0),
        "{cause} not counted:\n{text}"
    );
    assert_eq!(
        sample(&text, "depot_uploads_in_flight"),
        Some(0.0),
        "{text}"
    );
    let event = audit_event(app, trace).await;
    assert_eq!(event["action"], "package.upload", "{event}");
    assert_eq!(event["status"], status, "{event}");
    let outcome = if status >= 500 { "failed" } else { "refused" };
    assert_eq!(event["outcome"], outcome, "{event}");
}

/// `GET /api/v2/diagnostics`: the overall status, and the named check, which
/// must carry a remedy when it is not OK.
async fn diagnosis(app: &TestApp, name: &str) -> (String, Value) {
    let (status, body) = envelope(app.get(Who::Admin, "/api/v2/diagnostics").await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let check = body["data"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {body}"))
        .clone();
    if check["status"] != "OK" {
        assert!(check["remedy"].is_string(), "{check}");
    }
    (body["data"]["status"].as_str().unwrap().to_string(), check)
}

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
        .send_form(Form::new().part("file", Part::bytes(big.clone()).file_name("big.sh")))
        .await
    {
        Ok(response) => {
            let message = expect_error(response, StatusCode::INSUFFICIENT_STORAGE, 90008).await;
            assert!(message.contains("out of space"), "{message}");
        }
        Err(e) => assert!(e.is_request(), "{e}"),
    }

    // Streamed without a length: the disk fills up while writing (ENOSPC).
    let response = app.send_form(streamed(big, "big.sh")).await.unwrap();
    let trace = trace_id(&response);
    let message = expect_error(response, StatusCode::INSUFFICIENT_STORAGE, 90008).await;
    assert!(message.contains("out of space"), "{message}");
    assert_failure_reported(&app, &trace, 507, "DEPOT_STORE_FULL").await;

    // Nothing half-written stays behind, and what fits still works.
    assert_eq!(files_under(&root), Vec::<PathBuf>::new());
    app.upload_ok("small.sh", vec![b'#'; 100_000]).await;

    // The doctor says why before anyone tries: the store's disk is nearly full.
    let (overall, check) = diagnosis(&app, "store free space").await;
    assert_eq!(
        (overall.as_str(), &check["status"]),
        ("FAIL", &json!("FAIL")),
        "{check}"
    );
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
    let response = app.upload("x.sh", b"echo\n".to_vec()).await;
    let trace = trace_id(&response);
    let message = expect_error(response, StatusCode::SERVICE_UNAVAILABLE, 90005).await;
    assert!(message.contains("cannot be reached"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "bounded retries, not a hang"
    );
    assert_failure_reported(&app, &trace, 503, "DEPOT_STORE_UNAVAILABLE").await;
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
    let response = app.send_form(form).await.unwrap();
    let trace = trace_id(&response);
    let message = expect_error(response, StatusCode::REQUEST_TIMEOUT, 90010).await;
    assert!(message.contains("stalled"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(app.staging_objects().await.is_empty());
    let (_, list) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(list["data"]["page"]["totalElements"], 0);
    assert_failure_reported(&app, &trace, 408, "DEPOT_UPLOAD_STALLED").await;
}

/// The client goes away in the middle of its upload: the server logs it,
/// records it, and keeps nothing of it.
async fn a_client_that_disconnects_leaves_nothing_behind(backend: Backend) {
    let app = TestApp::start(backend).await;
    // 1 MiB, then the client breaks off the request.
    let breaking = futures::stream::iter([
        Ok(vec![b'#'; 1 << 20]),
        Err(std::io::Error::other("the client gives up")),
    ]);
    let form = Form::new().part(
        "file",
        Part::stream(Body::wrap_stream(breaking)).file_name("gone.sh"),
    );
    let sent = app.send_form(form).await;
    assert!(sent.is_err(), "the request was broken off: {sent:?}");

    // The server notices on its own time: wait for the event.
    let mut event = None;
    for _ in 0..100 {
        let (_, body) = envelope(
            app.get(Who::Admin, "/api/v2/audit-events?action=package.upload")
                .await,
        )
        .await;
        event = body["data"]["contents"]
            .as_array()
            .unwrap()
            .first()
            .cloned();
        if event.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let event = event.expect("the broken upload is in the audit log");
    // 400 when depot saw the body break, 499 when the request was dropped first.
    assert!(event["status"] == 400 || event["status"] == 499, "{event}");
    assert_eq!(event["outcome"], "refused", "{event}");
    assert_eq!(event["actor"], "manager", "{event}");
    let (_, list) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(list["data"]["page"]["totalElements"], 0);
    for _ in 0..100 {
        if app.staging_objects().await.is_empty()
            && sample(&metrics(&app).await, "depot_uploads_in_flight") == Some(0.0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.staging_objects().await, Vec::<String>::new());
    assert_eq!(
        sample(&metrics(&app).await, "depot_uploads_in_flight"),
        Some(0.0)
    );
    assert!(app.stored_objects().await.is_empty());
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
    // `depot doctor`, run beside the server with its database, says the same.
    let doctor_dir = tempfile::tempdir().unwrap();
    let doctor = std::process::Command::new(env!("CARGO_BIN_EXE_depot"))
        .arg("doctor")
        .arg("--data-dir")
        .arg(doctor_dir.path())
        .arg("--database-url")
        .arg(&app.config.database_url)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(!doctor.status.success(), "{report}");
    assert!(report.contains("FAIL  database reachable"), "{report}");
    assert!(report.contains("accepts more connections"), "{report}");
    let text = metrics(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"depot_http_requests_total{method="GET",route="/api/v2/software-packages",status="503"}"#
        ),
        Some(1.0),
        "{text}"
    );
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

/// The S3 server dies in the middle of an upload: the client gets 503 with
/// the store's code (after depot's bounded retries) instead of a hang, nothing
/// is recorded for the upload, the operator sees it in the metrics and the
/// audit log, and once the server is back the same upload succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_server_stopped_mid_upload_answers_503_then_recovers() {
    use std::sync::Arc;

    use crate::common::garage::Garage;

    let garage = Arc::new(tokio::sync::Mutex::new(Garage::start().await));
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::common::config_for(Backend::PostgresS3, dir.path()).await;
    config.storage = StorageConfig::S3(garage.lock().await.s3_config());
    let app = TestApp::start_config(Backend::PostgresS3, config, dir).await;

    // 64 MiB in 1 MiB chunks; the server is killed once 24 MiB have gone out
    // (several 5 MiB parts are then stored or in flight).
    const MIB: usize = 1 << 20;
    let content: Vec<u8> = (0..64 * MIB).map(|i| (i % 251) as u8).collect();
    let chunks: Vec<Vec<u8>> = content.chunks(MIB).map(<[u8]>::to_vec).collect();
    let killer = garage.clone();
    let body = futures::stream::unfold((chunks.into_iter(), 0), move |(mut rest, sent)| {
        let killer = killer.clone();
        async move {
            if sent == 24 {
                killer.lock().await.kill();
            }
            rest.next()
                .map(|chunk| (Ok::<_, std::io::Error>(chunk), (rest, sent + 1)))
        }
    });
    let form = Form::new().part(
        "file",
        Part::stream(Body::wrap_stream(body)).file_name("payload.sh"),
    );
    let response = app.send_form(form).await.unwrap();
    let trace = trace_id(&response);
    let message = expect_error(response, StatusCode::SERVICE_UNAVAILABLE, 90005).await;
    assert!(message.contains("object store"), "{message}");
    expect_error(
        app.get(Who::Anonymous, "/readyz").await,
        StatusCode::SERVICE_UNAVAILABLE,
        90005,
    )
    .await;
    let (_, list) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(list["data"]["page"]["totalElements"], 0, "no package row");
    let (overall, check) = diagnosis(&app, "store reachable").await;
    assert_eq!(
        (overall.as_str(), &check["status"]),
        ("FAIL", &json!("FAIL")),
        "{check}"
    );

    // What the operator reads: the failure by cause, and the audit entry
    // carrying the same trace id as the answer.
    let text = metrics(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"depot_uploads_failed_total{cause="DEPOT_STORE_UNAVAILABLE"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        text.lines().any(
            |l| l.starts_with("depot_store_operation_duration_seconds_count")
                && l.contains(r#"outcome="error""#)
        ),
        "{text}"
    );
    let recorded = audit_event(&app, &trace).await;
    assert_eq!(recorded["action"], "package.upload", "{recorded}");
    assert_eq!(recorded["status"], 503, "{recorded}");
    assert_eq!(recorded["outcome"], "failed", "{recorded}");
    assert_eq!(recorded["actor"], "manager", "{recorded}");

    // Back up: the same upload goes through, and the package downloads whole.
    garage.lock().await.resume().await;
    let (status, _) = envelope(app.get(Who::Anonymous, "/readyz").await).await;
    assert_eq!(status, StatusCode::OK);
    let package = app.upload_ok("payload.sh", content.clone()).await;
    assert_eq!(package["sha1"], crate::common::sha1_hex(&content));
    assert_eq!(app.stored_objects().await.len(), 1);
    let redirect = app
        .get(
            Who::Viewer,
            "/api/v2/files/sys-package/payload.sh?redirect=1",
        )
        .await;
    assert_eq!(redirect.status(), StatusCode::FOUND);
    let location = redirect.headers()["location"].to_str().unwrap().to_string();
    let downloaded = reqwest::get(location).await.unwrap().bytes().await.unwrap();
    assert!(downloaded[..] == content[..], "the stored package is whole");
}
