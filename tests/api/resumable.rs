//! `/api/v2/uploads/`: resumable uploads over tus 1.0.0.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::header::HeaderMap;
use reqwest::{Body, Method, StatusCode};

use crate::backend_tests;
use crate::common::proxy::CuttingProxy;
use crate::common::rpms::{RpmSpec, ocp_agent};
use crate::common::{Backend, PASSWORD, TestApp, Who, envelope, expect_error, sha1_hex};

backend_tests!(
    upload_in_pieces_becomes_a_package,
    creation_with_upload_in_one_request,
    options_announce_the_protocol,
    wrong_offsets_and_concurrent_patches_conflict,
    a_quiet_patch_gives_way_to_a_new_one,
    announced_digest_mismatch_stores_nothing,
    patch_checksum_is_verified,
    oversized_and_malformed_creations_are_refused,
    uploads_belong_to_their_creator,
    termination_removes_the_bytes,
    abandoned_uploads_expire,
    resume_after_cuts_at_many_points,
    chunks_may_go_to_different_replicas,
);

const TUS: (&str, &str) = ("tus-resumable", "1.0.0");

pub(crate) fn meta(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k} {}", BASE64.encode(v)))
        .collect::<Vec<_>>()
        .join(",")
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| v.to_str().unwrap().to_string())
}

fn offset_of(headers: &HeaderMap) -> u64 {
    header(headers, "upload-offset")
        .expect("an Upload-Offset header")
        .parse()
        .unwrap()
}

/// Creates an upload as the manager; returns its URL.
pub(crate) async fn create(app: &TestApp, length: usize, metadata: &str) -> String {
    let response = app
        .request(Who::Manager, Method::POST, "/api/v2/uploads/")
        .header(TUS.0, TUS.1)
        .header("upload-length", length.to_string())
        .header("upload-metadata", metadata)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        header(response.headers(), "tus-resumable").unwrap(),
        "1.0.0"
    );
    assert!(
        header(response.headers(), "upload-expires")
            .unwrap()
            .ends_with(" GMT")
    );
    header(response.headers(), "location").expect("a Location")
}

pub(crate) async fn patch(
    app: &TestApp,
    url: &str,
    offset: u64,
    bytes: Vec<u8>,
) -> reqwest::Response {
    app.http
        .patch(url)
        .basic_auth("manager", Some(PASSWORD))
        .header(TUS.0, TUS.1)
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

async fn head(app: &TestApp, url: &str) -> reqwest::Response {
    app.http
        .head(url)
        .basic_auth("manager", Some(PASSWORD))
        .header(TUS.0, TUS.1)
        .send()
        .await
        .unwrap()
}

async fn package_count(app: &TestApp) -> u64 {
    let (_, body) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    body["data"]["page"]["totalElements"].as_u64().unwrap()
}

async fn upload_in_pieces_becomes_a_package(backend: Backend) {
    let app = TestApp::start(backend).await;
    let rpm = RpmSpec::new(
        "oceanbase-ce",
        "4.2.1.0",
        "100000102023092807.el7",
        "x86_64",
    )
    .file("/home/admin/oceanbase/bin/observer", vec![7u8; 300_000])
    .build();
    let url = create(
        &app,
        rpm.len(),
        &meta(&[("filename", "ob.rpm"), ("sha1", &sha1_hex(&rpm))]),
    )
    .await;
    assert!(url.starts_with(&app.url("/api/v2/uploads/")), "{url}");

    let response = head(&app, &url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(offset_of(response.headers()), 0);
    assert_eq!(
        header(response.headers(), "upload-length").unwrap(),
        rpm.len().to_string()
    );
    assert_eq!(
        header(response.headers(), "cache-control").unwrap(),
        "no-store"
    );
    assert!(
        header(response.headers(), "upload-metadata")
            .unwrap()
            .contains("filename ")
    );

    // Three pieces, the last one completing the file.
    let cuts = [0, 1000, rpm.len() / 2, rpm.len()];
    for pair in cuts.windows(2) {
        let response = patch(&app, &url, pair[0] as u64, rpm[pair[0]..pair[1]].to_vec()).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(offset_of(response.headers()), pair[1] as u64);
        let finished = header(response.headers(), "depot-package-id");
        assert_eq!(finished.is_some(), pair[1] == rpm.len());
    }

    // The upload answers its package, which is a package like any other.
    let (status, body) = envelope(
        app.request(
            Who::Manager,
            Method::GET,
            url.strip_prefix(&app.base).unwrap(),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!(data["sha1"], sha1_hex(&rpm));
    assert_eq!(data["type"], "OB_SERVER_INSTALL_PACKAGE");
    assert_eq!(data["size"], rpm.len() as u64);
    let download = app
        .get(
            Who::Viewer,
            &format!(
                "/api/v2/files/sys-package/{}",
                data["fileName"].as_str().unwrap()
            ),
        )
        .await;
    if download.status().is_redirection() {
        let location = download.headers()["location"].to_str().unwrap();
        let bytes = reqwest::get(location).await.unwrap().bytes().await.unwrap();
        assert_eq!(bytes.as_ref(), rpm.as_slice());
    } else {
        assert_eq!(download.bytes().await.unwrap().as_ref(), rpm.as_slice());
    }
    // The parts are gone once the package is stored.
    assert!(app.upload_objects().await.is_empty());
    assert!(app.staging_objects().await.is_empty());
    let response = head(&app, &url).await;
    assert_eq!(offset_of(response.headers()), rpm.len() as u64);
    assert_eq!(
        header(response.headers(), "depot-package-id"),
        Some(data["id"].to_string())
    );
    // A finished upload takes no more bytes.
    let response = patch(&app, &url, rpm.len() as u64, vec![]).await;
    expect_error(response, StatusCode::CONFLICT, 90011).await;
}

async fn creation_with_upload_in_one_request(backend: Backend) {
    let app = TestApp::start(backend).await;
    let script = b"#!/bin/sh\necho hello\n".to_vec();
    let response = app
        .request(Who::Manager, Method::POST, "/api/v2/uploads")
        .header(TUS.0, TUS.1)
        .header("upload-length", script.len().to_string())
        .header(
            "upload-metadata",
            meta(&[("filename", "hello.sh"), ("type", "SCRIPT")]),
        )
        .header("content-type", "application/offset+octet-stream")
        .body(script.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(offset_of(response.headers()), script.len() as u64);
    let id = header(response.headers(), "depot-package-id").expect("finished at once");
    let (_, body) = envelope(
        app.get(Who::Viewer, &format!("/api/v2/software-packages/{id}"))
            .await,
    )
    .await;
    assert_eq!(body["data"]["fileName"], "hello.sh");
    assert_eq!(body["data"]["sha1"], sha1_hex(&script));

    // The same bytes again through a second upload: the existing package.
    let url = create(&app, script.len(), &meta(&[("filename", "hello.sh")])).await;
    let response = patch(&app, &url, 0, script.clone()).await;
    assert_eq!(header(response.headers(), "depot-package-id"), Some(id));
    assert_eq!(package_count(&app).await, 1);
}

async fn options_announce_the_protocol(backend: Backend) {
    let app = TestApp::start_with(backend, Box::new(|c| c.max_upload_size = 5 << 20)).await;
    let response = app
        .request(Who::Anonymous, Method::OPTIONS, "/api/v2/uploads/")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let h = response.headers();
    assert_eq!(header(h, "tus-version").unwrap(), "1.0.0");
    assert_eq!(header(h, "tus-max-size").unwrap(), (5u64 << 20).to_string());
    let extensions = header(h, "tus-extension").unwrap();
    for ext in [
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
        "checksum",
    ] {
        assert!(extensions.split(',').any(|e| e == ext), "{extensions}");
    }
    assert!(
        header(h, "tus-checksum-algorithm")
            .unwrap()
            .contains("sha1")
    );
    // Everything else needs a manager, and the protocol version.
    let response = app
        .request(Who::Viewer, Method::POST, "/api/v2/uploads/")
        .header(TUS.0, TUS.1)
        .header("upload-length", "1")
        .header("upload-metadata", meta(&[("filename", "a.sh")]))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::FORBIDDEN, 30014).await;
    let response = app
        .request(Who::Manager, Method::POST, "/api/v2/uploads/")
        .header("upload-length", "1")
        .header("upload-metadata", meta(&[("filename", "a.sh")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(response.headers(), "tus-resumable").unwrap(),
        "1.0.0"
    );
    expect_error(response, StatusCode::PRECONDITION_FAILED, 90014).await;
}

async fn wrong_offsets_and_concurrent_patches_conflict(backend: Backend) {
    let app = TestApp::start(backend).await;
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let url = create(&app, bytes.len(), &meta(&[("filename", "data.sh")])).await;

    // A PATCH at the wrong offset: 409, and HEAD says where to resume.
    let response = patch(&app, &url, 10, bytes[10..20].to_vec()).await;
    let message = expect_error(response, StatusCode::CONFLICT, 90011).await;
    assert!(message.contains("HEAD"), "{message}");
    assert_eq!(offset_of(head(&app, &url).await.headers()), 0);

    // A PATCH that holds the upload and keeps sending: a second one at the
    // same offset is refused.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let slow = tokio::spawn(patch_stream(&app, &url, 0, rx));
    tx.send(Ok(bytes[..50_000].to_vec())).await.unwrap();
    // The server takes the upload's lease before it reads the body; give the
    // slow request time to get there.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let trickle = tokio::spawn({
        let tx = tx.clone();
        let bytes = bytes.clone();
        async move {
            // Longer than a takeover waits (a lease's life and then some).
            for i in 0..60 {
                let at = 50_000 + i * 1000;
                tx.send(Ok(bytes[at..at + 1000].to_vec())).await.unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    });
    let response = patch(&app, &url, 0, bytes[..100].to_vec()).await;
    let message = expect_error(response, StatusCode::CONFLICT, 90011).await;
    assert!(message.contains("another request"), "{message}");
    trickle.await.unwrap();
    tx.send(Ok(bytes[110_000..].to_vec())).await.unwrap();
    drop(tx);
    let response = slow.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(offset_of(response.headers()), bytes.len() as u64);
    assert_eq!(package_count(&app).await, 1);
}

/// A PATCH whose body comes from `rx`, as slowly as the test sends it.
fn patch_stream(
    app: &TestApp,
    url: &str,
    offset: u64,
    rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + use<> {
    app.http
        .patch(url)
        .basic_auth("manager", Some(PASSWORD))
        .header(TUS.0, TUS.1)
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(Body::wrap_stream(tokio_stream_from(rx)))
        .send()
}

async fn a_quiet_patch_gives_way_to_a_new_one(backend: Backend) {
    let app = TestApp::start(backend).await;
    let bytes: Vec<u8> = (0..120_000u32).map(|i| (i % 249) as u8).collect();
    let url = create(&app, bytes.len(), &meta(&[("filename", "cut.sh")])).await;
    // A client whose link died mid-PATCH: its request stays open and silent.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let _stale = tokio::spawn(patch_stream(&app, &url, 0, rx));
    tx.send(Ok(bytes[..50_000].to_vec())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The client comes back on a new connection: the silent request gives way
    // and stores what it had, well before the idle timeout.
    let started = std::time::Instant::now();
    let response = patch(&app, &url, 0, bytes.clone()).await;
    let message = expect_error(response, StatusCode::CONFLICT, 90011).await;
    assert!(message.contains("moved on to byte 50000"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(offset_of(head(&app, &url).await.headers()), 50_000);
    let response = patch(&app, &url, 50_000, bytes[50_000..].to_vec()).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(header(response.headers(), "depot-package-id").is_some());
    drop(tx);
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn announced_digest_mismatch_stores_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let rpm = ocp_agent().build();
    let url = create(
        &app,
        rpm.len(),
        &meta(&[("filename", "agent.rpm"), ("sha1", &"0".repeat(40))]),
    )
    .await;
    let response = patch(&app, &url, 0, rpm.clone()).await;
    let message = expect_error(response, StatusCode::from_u16(460).unwrap(), 90013).await;
    assert!(
        message.contains("SHA-1") && message.contains("nothing was stored"),
        "{message}"
    );
    assert_eq!(package_count(&app).await, 0);
    assert!(app.stored_objects().await.is_empty());
    assert!(app.upload_objects().await.is_empty());
    assert!(app.staging_objects().await.is_empty());
    // The refusal stays the upload's answer.
    assert_eq!(head(&app, &url).await.status().as_u16(), 460);

    // A bad RPM is refused the same way, with its reason.
    let mut broken = rpm.clone();
    broken.truncate(rpm.len() - 100);
    let url = create(&app, broken.len(), &meta(&[("filename", "agent.rpm")])).await;
    let response = patch(&app, &url, 0, broken).await;
    expect_error(response, StatusCode::BAD_REQUEST, 10001).await;
    assert_eq!(package_count(&app).await, 0);
    assert!(app.upload_objects().await.is_empty());
}

async fn patch_checksum_is_verified(backend: Backend) {
    use sha1::{Digest, Sha1};
    let app = TestApp::start(backend).await;
    let bytes = b"#!/bin/sh\nexit 0\n".to_vec();
    let url = create(&app, bytes.len(), &meta(&[("filename", "ok.sh")])).await;
    let send = |checksum: String| {
        app.http
            .patch(&url)
            .basic_auth("manager", Some(PASSWORD))
            .header(TUS.0, TUS.1)
            .header("upload-offset", "0")
            .header("content-type", "application/offset+octet-stream")
            .header("upload-checksum", checksum)
            .body(bytes.clone())
            .send()
    };
    let wrong = format!("sha1 {}", BASE64.encode(Sha1::digest(b"other")));
    let response = send(wrong).await.unwrap();
    expect_error(response, StatusCode::from_u16(460).unwrap(), 90013).await;
    assert_eq!(offset_of(head(&app, &url).await.headers()), 0);
    assert!(app.upload_objects().await.is_empty());

    let right = format!("sha1 {}", BASE64.encode(Sha1::digest(&bytes)));
    let response = send(right).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(header(response.headers(), "depot-package-id").is_some());
}

async fn oversized_and_malformed_creations_are_refused(backend: Backend) {
    let app = TestApp::start_with(backend, Box::new(|c| c.max_upload_size = 1 << 20)).await;
    let post = |length: &str, metadata: &str| {
        app.request(Who::Manager, Method::POST, "/api/v2/uploads/")
            .header(TUS.0, TUS.1)
            .header("upload-length", length)
            .header("upload-metadata", metadata)
            .send()
    };
    let name = meta(&[("filename", "big.sh")]);
    expect_error(
        post(&(2 << 20).to_string(), &name).await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        90003,
    )
    .await;
    expect_error(
        post("-1", &name).await.unwrap(),
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    expect_error(
        post("10", "").await.unwrap(),
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    expect_error(
        post("10", &meta(&[("filename", "../x.sh")])).await.unwrap(),
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    expect_error(
        post("10", &meta(&[("filename", "a.sh"), ("type", "NOPE")]))
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;

    // More bytes than announced: refused, nothing kept.
    let url = create(&app, 10, &name).await;
    let response = patch(&app, &url, 0, vec![b'x'; 11]).await;
    expect_error(response, StatusCode::BAD_REQUEST, 10001).await;
    assert_eq!(offset_of(head(&app, &url).await.headers()), 0);
    // A PATCH without the tus media type.
    let response = app
        .http
        .patch(&url)
        .basic_auth("manager", Some(PASSWORD))
        .header(TUS.0, TUS.1)
        .header("upload-offset", "0")
        .body("x")
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, 90015).await;
    let missing = app.url("/api/v2/uploads/00000000-0000-0000-0000-000000000000");
    assert_eq!(head(&app, &missing).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        head(&app, &app.url("/api/v2/uploads/junk")).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn uploads_belong_to_their_creator(backend: Backend) {
    let app = TestApp::start(backend).await;
    let url = create(&app, 10, &meta(&[("filename", "mine.sh")])).await;
    let response = app
        .http
        .head(&url)
        .basic_auth("admin", Some(PASSWORD))
        .header(TUS.0, TUS.1)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = app
        .http
        .head(&url)
        .header(TUS.0, TUS.1)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

async fn termination_removes_the_bytes(backend: Backend) {
    let app = TestApp::start(backend).await;
    let url = create(&app, 100_000, &meta(&[("filename", "gone.sh")])).await;
    let response = patch(&app, &url, 0, vec![b'#'; 40_000]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.upload_objects().await.len(), 1);
    let response = app
        .http
        .delete(&url)
        .basic_auth("manager", Some(PASSWORD))
        .header(TUS.0, TUS.1)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(app.upload_objects().await.is_empty());
    assert_eq!(head(&app, &url).await.status(), StatusCode::NOT_FOUND);
}

async fn abandoned_uploads_expire(backend: Backend) {
    let app = TestApp::start_with(
        backend,
        Box::new(|c| c.upload_expiry = Duration::from_secs(2)),
    )
    .await;
    let url = create(&app, 100_000, &meta(&[("filename", "late.sh")])).await;
    let response = patch(&app, &url, 0, vec![b'#'; 30_000]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.upload_objects().await.len(), 1);
    // The sweep runs every second here; give it a few.
    let mut gone = false;
    for _ in 0..80 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if app.upload_objects().await.is_empty() {
            gone = true;
            break;
        }
    }
    assert!(gone, "the expired upload's bytes are still there");
    let status = head(&app, &url).await.status();
    assert!(
        matches!(status, StatusCode::NOT_FOUND | StatusCode::GONE),
        "{status}"
    );
    let response = patch(&app, &url, 30_000, vec![b'#'; 10]).await;
    assert!(matches!(
        response.status(),
        StatusCode::NOT_FOUND | StatusCode::GONE
    ));
}

/// A client that sends everything left, and resumes from HEAD after each failure.
async fn resumable_send(app: &TestApp, proxy: &CuttingProxy, url: &str, bytes: &[u8]) -> String {
    let path = url.strip_prefix(&app.base).unwrap();
    let via_proxy = proxy.url(path);
    let mut offset = 0u64;
    for _attempt in 0..500 {
        let response = app
            .http
            .patch(&via_proxy)
            .basic_auth("manager", Some(PASSWORD))
            .header(TUS.0, TUS.1)
            .header("upload-offset", offset.to_string())
            .header("content-type", "application/offset+octet-stream")
            .body(bytes[offset as usize..].to_vec())
            .send()
            .await;
        if let Ok(response) = response
            && response.status() == StatusCode::NO_CONTENT
        {
            return header(response.headers(), "depot-package-id").expect("finished");
        }
        // Cut, or refused while the cut request still held the upload: ask where to go on.
        tokio::time::sleep(Duration::from_millis(20)).await;
        offset = offset_of(head(app, url).await.headers());
    }
    panic!("the upload never finished");
}

async fn resume_after_cuts_at_many_points(backend: Backend) {
    let app = TestApp::start(backend).await;
    let observer: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let rpm = RpmSpec::new(
        "oceanbase-ce",
        "4.3.0.1",
        "100000242024032211.el8",
        "aarch64",
    )
    .file("/home/admin/oceanbase/bin/observer", observer)
    .compression(rpm::CompressionType::None)
    .build();
    let addr = app.base.strip_prefix("http://").unwrap().parse().unwrap();
    let mut ids = Vec::new();
    for budget in [150_001u64, 333_333, 1_000_000] {
        let proxy = CuttingProxy::start(addr, budget).await;
        let url = create(
            &app,
            rpm.len(),
            &meta(&[("filename", "ob.rpm"), ("sha1", &sha1_hex(&rpm))]),
        )
        .await;
        ids.push(resumable_send(&app, &proxy, &url, &rpm).await);
        assert!(
            proxy.cuts.load(std::sync::atomic::Ordering::Relaxed) >= 1,
            "the proxy never cut"
        );
    }
    // One package, byte for byte, however often the link broke.
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    assert_eq!(package_count(&app).await, 1);
    let (_, body) = envelope(
        app.get(
            Who::Viewer,
            &format!("/api/v2/software-packages/{}", ids[0]),
        )
        .await,
    )
    .await;
    assert_eq!(body["data"]["sha1"], sha1_hex(&rpm));
    assert_eq!(app.stored_objects().await.len(), 1);
    assert!(app.upload_objects().await.is_empty());
}

async fn chunks_may_go_to_different_replicas(backend: Backend) {
    let first = TestApp::start(backend).await;
    // A second process on the same database and store.
    let mut config = first.config.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    let second = TestApp::start_config(backend, config, tempfile::tempdir().unwrap()).await;
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let mut script = b"#!/bin/sh\n".to_vec();
    script.extend(bytes);
    let url = create(&first, script.len(), &meta(&[("filename", "two.sh")])).await;
    let id = url.rsplit('/').next().unwrap();

    let response = patch(&first, &url, 0, script[..100_000].to_vec()).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let on_second = second.url(&format!("/api/v2/uploads/{id}"));
    assert_eq!(
        offset_of(head(&second, &on_second).await.headers()),
        100_000
    );
    let response = patch(&second, &on_second, 100_000, script[100_000..].to_vec()).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let package = header(response.headers(), "depot-package-id").unwrap();
    let (_, body) = envelope(
        first
            .get(Who::Viewer, &format!("/api/v2/software-packages/{package}"))
            .await,
    )
    .await;
    assert_eq!(body["data"]["sha1"], sha1_hex(&script));
}
