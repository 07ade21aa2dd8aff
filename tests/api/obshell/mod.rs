//! obshell's SDK against depot: the handshake, its encrypted auth (v2 and
//! v1) with the real PyPI `obshell` package, big encrypted uploads, and what
//! depot refuses (`refusals`).

mod client;
mod keys;
mod refusals;

use reqwest::{Method, StatusCode};
use rpm::CompressionType;
use serde_json::Value;
use tokio::process::Command;

use self::client::{KEYS, encrypt_body, multipart, now, public_key, v2_header};
use crate::backend_tests;
use crate::common::rpms::{RpmSpec, signed_md5};
use crate::common::upgrade_dep::{DEP_YAML, DEP_YAML_PATH};
use crate::common::{Backend, PASSWORD, TestApp, Who, envelope};
use crate::tokens::create_token;

backend_tests!(
    obshell_handshake_tells_the_sdk_v2_with_a_password,
    obshell_sdk_uploads_with_v2_and_v1,
    obshell_encrypted_upload_of_many_mib_streams,
);

/// Bytes that do not compress away.
pub fn noise(len: usize, mut x: u32) -> Vec<u8> {
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

pub fn oceanbase(release: &str, observer: Vec<u8>) -> Vec<u8> {
    RpmSpec::new("oceanbase-ce", "4.2.1.1", release, "x86_64")
        .file("/home/admin/oceanbase/bin/observer", observer)
        .file(DEP_YAML_PATH, DEP_YAML)
        .compression(CompressionType::None)
        .build()
}

async fn obshell_handshake_tells_the_sdk_v2_with_a_password(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (status, info) =
        envelope(app.http.get(app.url("/api/v1/info")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{info}");
    let data = &info["data"];
    // Not SINGLE (the SDK would send no password), v2 first, no agent password.
    assert_ne!(data["identity"], "SINGLE");
    assert_eq!(data["supportedAuth"], serde_json::json!(["v2", "v1"]));
    assert_eq!(data["security"], false);
    assert!(data["version"].as_str().unwrap().starts_with("4."));
    // One key, the same for every replica: read twice, from the database.
    let first = public_key(&app).await;
    assert_eq!(public_key(&app).await, first);
    assert!(rsa::traits::PublicKeyParts::size(&first) >= 128);

    // obd reads OCP's flat fields; depot's envelope users read `data`.
    let (_, v2) = envelope(app.http.get(app.url("/api/v2/info")).send().await.unwrap()).await;
    assert_eq!(v2["buildVersion"], env!("CARGO_PKG_VERSION"));
    assert!(v2["buildTime"].is_string());
    assert_eq!(v2["data"]["name"], "depot");
    assert_eq!(v2["successful"], true);
}

fn python() -> String {
    std::env::var("DEPOT_TEST_PYTHON").unwrap_or_else(|_| {
        panic!("DEPOT_TEST_PYTHON is not set: run the tests with scripts/test.sh, which installs obshell")
    })
}

async fn sdk_upload(
    app: &TestApp,
    password: &str,
    path: &std::path::Path,
    version: &[&str],
) -> String {
    let (host, port) = app
        .base
        .strip_prefix("http://")
        .unwrap()
        .rsplit_once(':')
        .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/obshell/sdk_upload.py");
    let out = Command::new(python())
        .args([script, host, port, password, path.to_str().unwrap()])
        .args(version)
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn obshell_sdk_uploads_with_v2_and_v1(backend: Backend) {
    let app = TestApp::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("oceanbase-ce-4.2.1.1-1.el7.x86_64.rpm");
    let second = dir.path().join("oceanbase-ce-4.2.1.1-2.el7.x86_64.rpm");
    std::fs::write(&first, oceanbase("1.el7", noise(200_000, 1))).unwrap();
    std::fs::write(&second, oceanbase("2.el7", noise(200_000, 2))).unwrap();

    // v2, chosen by the SDK itself, with admin's password (a bare password is admin's).
    // Sent once, accepted: no retry after a 10008.
    assert_eq!(
        sdk_upload(&app, PASSWORD, &first, &[]).await,
        "X-OCS-Header 200"
    );
    // v1, as the SDK speaks to obshell 4.2.2, with a manager's API token.
    let token = create_token(
        &app,
        serde_json::json!({"name": "obshell", "user": "manager"}),
    )
    .await;
    let token = token["token"].as_str().unwrap();
    assert_eq!(
        sdk_upload(&app, token, &second, &["v1"]).await,
        "X-OCS-Auth 200"
    );

    // Listed through depot's APIs: obshell's in snake_case, OCP's.
    let (_, info) = envelope(app.get(Who::Viewer, "/api/v1/upgrade/package/info").await).await;
    let listed: Vec<&Value> = info["data"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 2, "{info}");
    let mut releases: Vec<&str> = listed
        .iter()
        .map(|p| p["release_distribution"].as_str().unwrap())
        .collect();
    releases.sort();
    assert_eq!(releases, ["1.el7", "2.el7"]);
    assert!(listed.iter().all(|p| p["pkg_id"].as_i64().unwrap() > 0));
    let (_, list) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(list["data"]["page"]["totalElements"], 2);
}

async fn obshell_encrypted_upload_of_many_mib_streams(backend: Backend) {
    let app = TestApp::start(backend).await;
    let key = public_key(&app).await;
    let rpm = oceanbase("101000062023110109.el7", noise(12 << 20, 3));
    let (body, content_type) = multipart("ob.rpm", &rpm);
    let path = "/api/v1/upgrade/package";
    let response = app
        .http
        .request(Method::POST, app.url(path))
        .header(
            "X-OCS-Header",
            v2_header(&key, PASSWORD, now() + 600, path, KEYS),
        )
        .header("Content-Type", content_type)
        .body(encrypt_body(KEYS, &body))
        .send()
        .await
        .unwrap();
    let (status, answer) = envelope(response).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // The upload answer keeps the seed's keys.
    assert_eq!(answer["data"]["Md5"], signed_md5(&rpm));
    assert_eq!(answer["data"]["UpgradeDepYaml"], DEP_YAML);
    let (_, list) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(list["data"]["contents"][0]["size"], rpm.len() as u64);
}
