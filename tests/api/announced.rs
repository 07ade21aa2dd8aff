//! Uploads that announce their digest: a BLAKE3 (or the SHA-256 of bytes
//! depot holds) names the content key, so the bytes are written once, under
//! it, instead of staged and copied; bytes that do not hash to what was
//! announced never appear under any content key, and never replace what a
//! key holds.

use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response, StatusCode};
use sha2::{Digest, Sha256};

use crate::backend_tests;
use crate::common::rpms::RpmSpec;
use crate::common::{Backend, TestApp, Who, envelope, expect_error, metrics, sample, sha1_hex};
use crate::resumable::{create, meta, patch};

backend_tests!(
    an_announced_blake3_writes_the_file_once_under_its_key,
    an_announced_sha256_of_stored_bytes_writes_nothing,
    bytes_that_are_not_the_announced_ones_store_nothing,
    a_false_announcement_never_replaces_stored_bytes,
    a_resumable_upload_announcing_its_blake3_is_written_once,
    malformed_announcements_are_refused_before_the_body,
);

/// The checksum mismatch's status and code (tus' 460).
const MISMATCH: (u16, u64) = (460, 90013);

fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn key_of(bytes: &[u8]) -> String {
    let hex = blake3_hex(bytes);
    format!("blobs/blake3/{}/{hex}", &hex[..2])
}

fn rpm(name: &str) -> Vec<u8> {
    RpmSpec::new(name, "1.0.0", "1.el7", "x86_64")
        .file(&format!("/opt/{name}/bin/{name}"), vec![5u8; 300_000])
        .build()
}

/// A multipart upload with `query` (`?blake3=…`).
async fn upload_with(app: &TestApp, file_name: &str, bytes: Vec<u8>, query: &str) -> Response {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(file_name.to_string()));
    app.request(
        Who::Manager,
        Method::POST,
        &format!("/api/v2/software-packages{query}"),
    )
    .multipart(form)
    .send()
    .await
    .unwrap()
}

/// How many uploads reached their key each way, and how many copies the store made.
async fn writes(app: &TestApp) -> (f64, f64, f64, f64) {
    let text = metrics(app).await;
    let how = |how: &str| {
        sample(
            &text,
            &format!("depot_upload_writes_total{{how=\"{how}\"}}"),
        )
        .unwrap_or(0.0)
    };
    let copies = sample(
        &text,
        "depot_store_operation_duration_seconds_count{operation=\"copy\",outcome=\"ok\"}",
    )
    .unwrap_or(0.0);
    (how("staged"), how("direct"), how("found"), copies)
}

async fn download(app: &TestApp, file_name: &str) -> Vec<u8> {
    let response = app
        .get(
            Who::Viewer,
            &format!("/api/v2/files/sys-package/{file_name}"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.bytes().await.unwrap().to_vec()
}

async fn an_announced_blake3_writes_the_file_once_under_its_key(backend: Backend) {
    let app = TestApp::start(backend).await;
    let bytes = rpm("obagent");
    let (status, body) = envelope(
        upload_with(
            &app,
            "obagent.rpm",
            bytes.clone(),
            &format!("?blake3={}", blake3_hex(&bytes).to_uppercase()),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["sha1"], sha1_hex(&bytes));
    assert_eq!(writes(&app).await, (0.0, 1.0, 0.0, 0.0));
    assert_eq!(app.stored_objects().await, [key_of(&bytes)]);
    assert!(app.staging_objects().await.is_empty());
    let name = body["data"]["fileName"].as_str().unwrap();
    assert_eq!(download(&app, name).await, bytes);

    // Without the announcement: staged, then copied under the key.
    let other = rpm("obproxy");
    app.upload_ok("obproxy.rpm", other.clone()).await;
    assert_eq!(writes(&app).await, (1.0, 1.0, 0.0, 1.0));
    let mut keys = vec![key_of(&bytes), key_of(&other)];
    keys.sort();
    let mut stored = app.stored_objects().await;
    stored.sort();
    assert_eq!(stored, keys);
}

async fn an_announced_sha256_of_stored_bytes_writes_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let script = b"#!/bin/sh\necho ready\n".repeat(1000);
    app.upload_ok("check.sh", script.clone()).await;
    assert_eq!(writes(&app).await, (1.0, 0.0, 0.0, 1.0));

    // The same bytes under another name: only hashed, and recorded.
    let query = format!("?sha256={}", sha256_hex(&script));
    let (status, body) =
        envelope(upload_with(&app, "check-again.sh", script.clone(), &query).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(writes(&app).await, (1.0, 0.0, 1.0, 1.0));
    assert_eq!(download(&app, "check-again.sh").await, script);
    assert_eq!(app.stored_objects().await, [key_of(&script)]);

    // A SHA-256 depot does not hold: staged as usual, and checked.
    let new = b"#!/bin/sh\necho other\n".to_vec();
    let query = format!("?sha256={}", sha256_hex(&new));
    let (status, body) = envelope(upload_with(&app, "other.sh", new, &query).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(writes(&app).await, (2.0, 0.0, 1.0, 2.0));
}

async fn bytes_that_are_not_the_announced_ones_store_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let announced = rpm("obagent");
    let sent = rpm("obproxy");
    for query in [
        format!("?blake3={}", blake3_hex(&announced)),
        format!("?sha256={}", sha256_hex(&announced)),
        format!("?sha1={}", sha1_hex(&announced)),
    ] {
        let response = upload_with(&app, "obagent.rpm", sent.clone(), &query).await;
        let message = expect_error(
            response,
            StatusCode::from_u16(MISMATCH.0).unwrap(),
            MISMATCH.1,
        )
        .await;
        assert!(message.contains("nothing was stored"), "{query}: {message}");
    }
    // Nothing under either key, nothing staged, no package.
    assert!(app.stored_objects().await.is_empty());
    assert!(app.staging_objects().await.is_empty());
    let (_, body) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(body["data"]["page"]["totalElements"], 0);
}

async fn a_false_announcement_never_replaces_stored_bytes(backend: Backend) {
    let app = TestApp::start(backend).await;
    let good = rpm("obagent");
    let data = app.upload_ok("obagent.rpm", good.clone()).await;
    let name = data["fileName"].as_str().unwrap().to_string();

    // Other bytes claiming the stored package's key, then its SHA-256.
    let forged = rpm("obproxy");
    for query in [
        format!("?blake3={}", blake3_hex(&good)),
        format!("?sha256={}", sha256_hex(&good)),
    ] {
        let response = upload_with(&app, "obproxy.rpm", forged.clone(), &query).await;
        expect_error(
            response,
            StatusCode::from_u16(MISMATCH.0).unwrap(),
            MISMATCH.1,
        )
        .await;
    }
    assert_eq!(download(&app, &name).await, good);
    assert_eq!(app.stored_objects().await, [key_of(&good)]);
}

async fn a_resumable_upload_announcing_its_blake3_is_written_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let bytes = rpm("obagent");
    let blake3 = blake3_hex(&bytes);
    let metadata = meta(&[("filename", "obagent.rpm"), ("blake3", &blake3)]);
    let location = create(&app, bytes.len(), &metadata).await;
    let response = patch(&app, &location, 0, bytes.clone()).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(writes(&app).await, (0.0, 1.0, 0.0, 0.0));
    assert_eq!(app.stored_objects().await, [key_of(&bytes)]);
}

async fn malformed_announcements_are_refused_before_the_body(backend: Backend) {
    let app = TestApp::start(backend).await;
    for query in [
        "?blake3=abc",
        "?blake3=../../../etc/passwd",
        &format!("?sha256={}", "g".repeat(64)),
        &format!("?sha1={}", "a".repeat(64)),
    ] {
        let message = expect_error(
            upload_with(&app, "run.sh", b"echo\n".to_vec(), query).await,
            StatusCode::BAD_REQUEST,
            10001,
        )
        .await;
        assert!(message.contains("hexadecimal digits"), "{query}: {message}");
    }
    assert!(app.stored_objects().await.is_empty());
    assert_eq!(writes(&app).await, (0.0, 0.0, 0.0, 0.0));
}
