//! What every upload path checks of what it stores: an RPM's own digests,
//! MD5 or SHA-256 (multipart, tus, preload and obshell's API alike), and
//! names that are safe to paste into a shell (refused before a byte is
//! sent, for tus).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response, StatusCode};

use crate::backend_tests;
use crate::common::rpms::{
    RpmSpec, ocp_agent, with_header_u32, with_md5_and_sha256_signature, with_md5_signature,
};
use crate::common::{Backend, PASSWORD, TestApp, Who, envelope, expect_error};

backend_tests!(
    a_damaged_rpm_is_refused_by_multipart_upload,
    a_damaged_rpm_is_refused_by_resumable_upload,
    a_damaged_rpm_is_not_preloaded,
    an_rpm_signed_with_md5_and_sha256_is_checked_either_way,
    shell_hostile_names_are_refused_by_multipart_upload,
    shell_hostile_names_are_refused_at_resumable_creation,
);

/// The seed's package, signed with the MD5 of its contents as rpmbuild signs.
fn signed_rpm() -> Vec<u8> {
    with_md5_signature(&ocp_agent().build(), None)
}

/// `rpm` with one payload byte changed near its end, as a bad disk or a
/// broken proxy would: same size, other bytes.
fn damaged(rpm: &[u8]) -> Vec<u8> {
    let mut bytes = rpm.to_vec();
    let at = bytes.len() - 10;
    bytes[at] ^= 0x01;
    bytes
}

async fn package_count(app: &TestApp) -> u64 {
    let (_, body) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    body["data"]["page"]["totalElements"].as_u64().unwrap()
}

fn assert_damaged(message: &str) {
    assert!(
        message.contains("MD5 digest does not match its contents")
            && message.contains("nothing was stored"),
        "{message}"
    );
}

fn assert_payload_damaged(message: &str) {
    assert!(
        message.contains("payload does not match its SHA-256 digest"),
        "{message}"
    );
}

/// The message of a multipart upload of `bytes` refused as bad input.
async fn refused(app: &TestApp, bytes: Vec<u8>) -> String {
    expect_error(
        app.upload("tools.rpm", bytes).await,
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await
}

async fn assert_nothing_stored(app: &TestApp) {
    assert_eq!(package_count(app).await, 0);
    assert!(app.stored_objects().await.is_empty());
    assert!(app.staging_objects().await.is_empty());
}

async fn a_damaged_rpm_is_refused_by_multipart_upload(backend: Backend) {
    let app = TestApp::start(backend).await;
    let good = signed_rpm();
    let message = expect_error(
        app.upload("agent.rpm", damaged(&good)).await,
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    assert_damaged(&message);
    // The OCP 2.4 call goes through the same ingest.
    let form = Form::new().part("file", Part::bytes(damaged(&good)).file_name("agent.rpm"));
    let response = app
        .request(
            Who::Manager,
            Method::POST,
            "/api/v2/files/uploadFile?type=OCP_AGENT_INSTALL_PACKAGE",
        )
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_damaged(&expect_error(response, StatusCode::BAD_REQUEST, 10001).await);
    assert_eq!(package_count(&app).await, 0);
    assert!(app.stored_objects().await.is_empty());
    assert!(app.staging_objects().await.is_empty());

    // Signed without an MD5, as rpm 6 and the rpm crate build them: the
    // payload's SHA-256 in the header (rpm 4.14 and later) catches it.
    let modern = RpmSpec::new("tools", "1.0", "1.el7", "noarch").build();
    assert_payload_damaged(&refused(&app, damaged(&modern)).await);
    assert_nothing_stored(&app).await;

    // Undamaged, both are stored.
    app.upload_ok("agent.rpm", good).await;
    app.upload_ok("tools.rpm", modern).await;
    assert_eq!(package_count(&app).await, 2);
}

const TUS: (&str, &str) = ("tus-resumable", "1.0.0");

fn metadata(file_name: &str) -> String {
    format!("filename {}", BASE64.encode(file_name))
}

async fn create(app: &TestApp, length: usize, file_name: &str) -> Response {
    app.request(Who::Manager, Method::POST, "/api/v2/uploads/")
        .header(TUS.0, TUS.1)
        .header("upload-length", length.to_string())
        .header("upload-metadata", metadata(file_name))
        .send()
        .await
        .unwrap()
}

async fn upload_resumably(app: &TestApp, file_name: &str, bytes: Vec<u8>) -> Response {
    let created = create(app, bytes.len(), file_name).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let url = created.headers()["location"].to_str().unwrap().to_string();
    app.http
        .patch(&url)
        .basic_auth("manager", Some(PASSWORD))
        .header(TUS.0, TUS.1)
        .header("upload-offset", "0")
        .header("content-type", "application/offset+octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

async fn a_damaged_rpm_is_refused_by_resumable_upload(backend: Backend) {
    let app = TestApp::start(backend).await;
    let good = signed_rpm();
    let response = upload_resumably(&app, "agent.rpm", damaged(&good)).await;
    assert_damaged(&expect_error(response, StatusCode::BAD_REQUEST, 10001).await);
    assert_eq!(package_count(&app).await, 0);
    assert!(app.stored_objects().await.is_empty());
    assert!(app.upload_objects().await.is_empty());

    let response = upload_resumably(&app, "agent.rpm", good).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(package_count(&app).await, 1);
}

async fn a_damaged_rpm_is_not_preloaded(backend: Backend) {
    let preload = tempfile::tempdir().unwrap();
    std::fs::write(preload.path().join("agent.rpm"), damaged(&signed_rpm())).unwrap();
    std::fs::write(preload.path().join("init.sh"), b"echo init\n").unwrap();
    let dir = preload.path().to_path_buf();
    let app = TestApp::start_with(backend, Box::new(move |c| c.preload_dir = Some(dir))).await;
    let (_, body) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(body["data"]["page"]["totalElements"], 1, "{body}");
    assert_eq!(body["data"]["contents"][0]["fileName"], "init.sh");
}

/// rpmbuild 4.14 and later sign with an MD5 and SHA-256 digests that cover
/// the same bytes; depot then checks the SHA-256 digests and leaves the MD5
/// off while the bytes stream, unless those digests turn out unusable, when
/// it reads the bytes back for the MD5.
async fn an_rpm_signed_with_md5_and_sha256_is_checked_either_way(backend: Backend) {
    let app = TestApp::start(backend).await;
    let spec = RpmSpec::new("tools", "1.0", "1.el7", "noarch");
    let rpm = with_md5_and_sha256_signature(&spec.build());
    assert_payload_damaged(&refused(&app, damaged(&rpm)).await);
    // A payload digest of another algorithm (SHA-512, say): depot cannot
    // check it, so the MD5 it left off while the bytes streamed is checked.
    const PAYLOADDIGESTALGO: u32 = 5093;
    let other = with_md5_and_sha256_signature(&with_header_u32(
        &RpmSpec::new("other", "1.0", "1.el7", "noarch").build(),
        PAYLOADDIGESTALGO,
        14,
    ));
    assert_damaged(&refused(&app, damaged(&other)).await);
    assert_nothing_stored(&app).await;

    // Undamaged, each is stored.
    app.upload_ok("tools.rpm", rpm).await;
    app.upload_ok("other.rpm", other).await;
    assert_eq!(package_count(&app).await, 2);
}

/// Names a shell or a command would misread, and what the refusal says: an
/// option, a remote path, a letter from another alphabet that looks like a
/// Latin one (Cyrillic а), a home directory.
const HOSTILE: [(&str, &str); 4] = [
    ("-rf.sh", "option"),
    ("host:path.sh", "host:path"),
    ("inst\u{0430}ll.sh", "non-ASCII character 'а' (U+0430)"),
    ("~admin.py", "home directory"),
];

async fn shell_hostile_names_are_refused_by_multipart_upload(backend: Backend) {
    let app = TestApp::start(backend).await;
    for (name, why) in HOSTILE {
        // Sent as a browser sends it: the name's UTF-8 as it is.
        let form = Form::new()
            .percent_encode_noop()
            .part("file", Part::bytes(b"echo\n".to_vec()).file_name(name));
        let response = app.send_form(form).await.unwrap();
        let message = expect_error(response, StatusCode::BAD_REQUEST, 10001).await;
        assert!(message.contains(why), "{name}: {message}");
    }
    assert_eq!(package_count(&app).await, 0);
    // The same characters inside a name are harmless.
    app.upload_ok("install-agent~2.sh", b"echo\n".to_vec())
        .await;
}

async fn shell_hostile_names_are_refused_at_resumable_creation(backend: Backend) {
    let app = TestApp::start(backend).await;
    for (name, why) in HOSTILE {
        // 1 GiB announced: refused before any of it is sent.
        let response = create(&app, 1 << 30, name).await;
        let message = expect_error(response, StatusCode::BAD_REQUEST, 10001).await;
        assert!(message.contains(why), "{name}: {message}");
    }
    assert!(app.upload_objects().await.is_empty());
    // An RPM is stored under its header's name: what it is sent as does not matter.
    let response = upload_resumably(&app, "-agent.rpm", signed_rpm()).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}
