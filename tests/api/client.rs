//! The `depot` client commands (`push`, `ls`, `pull`, `rm`) as a user runs
//! them, against a real server, through a link that keeps breaking; and a
//! third-party tus client (tuspy) against the same protocol.

use std::path::Path;
use std::process::Output;
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use tokio::process::Command;

use crate::backend_tests;
use crate::common::proxy::CuttingProxy;
use crate::common::rpms::RpmSpec;
use crate::common::{Backend, TestApp, Who, envelope, sha1_hex};
use crate::tokens::create_token;

backend_tests!(
    push_ls_pull_rm_over_a_breaking_link,
    failures_exit_with_their_cause,
    tuspy_finishes_an_interrupted_upload,
);

const BIN: &str = env!("CARGO_BIN_EXE_depot");

async fn depot(server: &str, token: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("DEPOT_URL", server)
        .env("DEPOT_TOKEN", token)
        .env_remove("DEPOT_USER")
        .env_remove("DEPOT_PASSWORD")
        .output()
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An RPM of a few MiB that does not compress, so every byte crosses the link.
fn big_rpm(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let observer: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let spec = RpmSpec::new(
        "oceanbase-ce",
        "4.2.1.0",
        "100000102023092807.el7",
        "x86_64",
    )
    .file("/home/admin/oceanbase/bin/observer", observer)
    .compression(rpm::CompressionType::None);
    let bytes = spec.build();
    let path = dir.join("oceanbase-ce.rpm");
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

async fn manager_token(app: &TestApp) -> String {
    let token = create_token(app, json!({"name": "client test", "user": "manager"})).await;
    token["token"].as_str().unwrap().to_string()
}

async fn push_ls_pull_rm_over_a_breaking_link(backend: Backend) {
    let app = TestApp::start(backend).await;
    let token = manager_token(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let (path, bytes) = big_rpm(dir.path());
    let addr = app.base.strip_prefix("http://").unwrap().parse().unwrap();
    let proxy = CuttingProxy::start(addr, 700_001).await;
    let server = proxy.url("");

    let out = depot(&server, &token, &["push", path.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    let (id, name) = printed.trim().split_once('\t').expect("ID<TAB>NAME");
    assert_eq!(
        name,
        "oceanbase-ce-4.2.1.0-100000102023092807.el7.x86_64.rpm"
    );
    assert!(
        proxy.cuts.load(Ordering::Relaxed) >= 3,
        "the link was never cut"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("retrying in"),
        "{}",
        text(&out)
    );
    let (_, meta) = envelope(
        app.get(Who::Viewer, &format!("/api/v2/software-packages/{id}"))
            .await,
    )
    .await;
    assert_eq!(meta["data"]["sha1"], sha1_hex(&bytes));

    // A script beside it, then the list, as a table and as JSON.
    let script = dir.path().join("check.sh");
    std::fs::write(&script, "#!/bin/sh\necho ok\n").unwrap();
    let out = depot(
        &app.base,
        &token,
        &["push", script.to_str().unwrap(), "--type", "SCRIPT"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let out = depot(
        &app.base,
        &token,
        &["ls", "--json", "--type", "OB_SERVER_INSTALL_PACKAGE"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let listed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["fileName"], name);
    let out = depot(&app.base, &token, &["ls"]).await;
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains(name) && table.contains("check.sh"),
        "{table}"
    );

    // Pull through the same breaking link, by id and by name.
    let into = dir.path().join("pulled");
    std::fs::create_dir(&into).unwrap();
    let out = depot(&server, &token, &["pull", id, "-o", into.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read(into.join(name)).unwrap(), bytes);
    let target = dir.path().join("copy.rpm");
    let out = depot(
        &server,
        &token,
        &["pull", name, "-o", target.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read(&target).unwrap(), bytes);
    // Nothing half-written is left beside them.
    for d in [&into, &dir.path().to_path_buf()] {
        for entry in std::fs::read_dir(d).unwrap() {
            let entry = entry.unwrap().file_name();
            assert!(!entry.to_string_lossy().contains("partial"), "{entry:?}");
        }
    }

    let out = depot(&app.base, &token, &["rm", id]).await;
    assert!(out.status.success(), "{}", text(&out));
    let out = depot(&app.base, &token, &["pull", id]).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
}

async fn failures_exit_with_their_cause(backend: Backend) {
    let app = TestApp::start(backend).await;
    let token = manager_token(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("a.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let file = script.to_str().unwrap();

    let out = depot(&app.base, "depot_wrong", &["ls"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("depot: not authenticated"), "{stderr}");

    let viewer = create_token(&app, json!({"name": "ro", "user": "viewer"})).await;
    let out = depot(
        &app.base,
        viewer["token"].as_str().unwrap(),
        &["push", file],
    )
    .await;
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));

    let out = depot(&app.base, &token, &["push", file]).await;
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(&script, "#!/bin/sh\necho different\n").unwrap();
    let out = depot(&app.base, &token, &["push", file]).await;
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));

    let out = depot(&app.base, &token, &["rm", "424242"]).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));

    // Nobody listening: a network failure, after a few retries.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let out = depot(&format!("http://{closed}"), &token, &["ls"]).await;
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
}

async fn tuspy_finishes_an_interrupted_upload(backend: Backend) {
    let python = std::env::var("DEPOT_TEST_PYTHON").unwrap_or_else(|_| {
        panic!(
            "DEPOT_TEST_PYTHON is not set: run the tests with scripts/test.sh, which installs tuspy"
        )
    });
    let app = TestApp::start(backend).await;
    let token = manager_token(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let (path, bytes) = big_rpm(dir.path());
    let addr = app.base.strip_prefix("http://").unwrap().parse().unwrap();
    let proxy = CuttingProxy::start(addr, 1_000_003).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tus/tuspy_upload.py");
    let out = Command::new(python)
        .args([
            script,
            &proxy.url("/api/v2/uploads/"),
            path.to_str().unwrap(),
            &token,
        ])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        proxy.cuts.load(Ordering::Relaxed) >= 2,
        "the link was never cut"
    );
    // tuspy printed the upload's URL; the upload answers the package.
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let path = url
        .split_once("/api/")
        .map(|(_, p)| format!("/api/{p}"))
        .unwrap();
    let (status, body) = envelope(
        app.request(Who::Manager, reqwest::Method::GET, &path)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["data"]["sha1"], sha1_hex(&bytes));
    let (_, list) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(list["data"]["page"]["totalElements"], 1);
    assert!(app.upload_objects().await.is_empty());
}
