//! What dnf must refuse, and what it must see at once: a repomd.xml changed
//! in transit or served without its signature fails `repo_gpgcheck=1`; a
//! deleted package is gone from the next `makecache`; the same NEVRA
//! uploaded again installs.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use reqwest::{Method, StatusCode};

use super::dnf::{dnf, packages, repo_file};
use super::wait_for;
use crate::backend_tests;
use crate::common::{Backend, TestApp, Who};

backend_tests!(
    dnf_refuses_a_tampered_or_unsigned_repomd,
    dnf_sees_a_delete_and_a_reupload_of_the_same_nevra
);

#[derive(Clone, Copy, PartialEq)]
enum Meddle {
    /// Nothing: the proxy itself is transparent to dnf.
    Nothing,
    /// repomd.xml's revision changed on the way (its files still match).
    Tamper,
    /// repomd.xml.asc answered 404.
    DropSignature,
}

/// A reverse proxy in front of depot that meddles with the repository.
async fn meddling_proxy(target: String, meddle: Meddle) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = Arc::new(reqwest::Client::new());
    let app = axum::Router::new().fallback(move |request: Request| {
        let (client, target) = (client.clone(), target.clone());
        async move {
            let path = request.uri().path_and_query().unwrap().to_string();
            if meddle == Meddle::DropSignature && path.ends_with("repomd.xml.asc") {
                return Response::builder().status(404).body(Body::empty()).unwrap();
            }
            let mut forward = client.request(Method::GET, format!("{target}{path}"));
            if let Some(auth) = request.headers().get("authorization") {
                forward = forward.header("authorization", auth.clone());
            }
            let answer = forward.send().await.unwrap();
            let status = answer.status();
            let mut body = answer.bytes().await.unwrap().to_vec();
            if meddle == Meddle::Tamper && path.ends_with("repodata/repomd.xml") {
                let text = String::from_utf8(body).unwrap();
                body = text.replacen("<revision>", "<revision>1", 1).into_bytes();
            }
            Response::builder()
                .status(status.as_u16())
                .body(Body::from(body))
                .unwrap()
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A dnf setup in `dir` whose repository is reached through `base`.
async fn setup(app: &TestApp, dir: &Path, base: &str) {
    std::fs::create_dir_all(dir.join("repos.d")).unwrap();
    let repo = repo_file(app).await.replace(&app.base, base);
    std::fs::write(dir.join("repos.d/depot.repo"), repo).unwrap();
}

async fn dnf_refuses_a_tampered_or_unsigned_repomd(backend: Backend) {
    let app = TestApp::start(backend).await;
    for rpm in packages() {
        app.upload_ok(&rpm.file_name(), rpm.build()).await;
    }
    wait_for(&app, "el7", "x86_64", 2).await;
    // Through a proxy that changes nothing, it works: what the proxies below
    // change is the only difference.
    let proxy = meddling_proxy(app.base.clone(), Meddle::Nothing).await;
    let clean = tempfile::tempdir().unwrap();
    setup(&app, clean.path(), &format!("http://{proxy}")).await;
    assert!(dnf(clean.path(), &["makecache"]).status.success());

    for meddle in [Meddle::Tamper, Meddle::DropSignature] {
        let proxy = meddling_proxy(app.base.clone(), meddle).await;
        let dir = tempfile::tempdir().unwrap();
        setup(&app, dir.path(), &format!("http://{proxy}")).await;
        let out = dnf(dir.path(), &["install", "depot-app"]);
        assert!(
            !out.status.success(),
            "dnf must refuse a repository whose repomd.xml is not signed as served"
        );
        assert!(
            !dir.path().join("root/usr/bin/depot-app").exists(),
            "nothing installed"
        );
    }
}

async fn dnf_sees_a_delete_and_a_reupload_of_the_same_nevra(backend: Backend) {
    let app = TestApp::start(backend).await;
    let rpms = packages();
    let mut ids = Vec::new();
    for rpm in &rpms {
        ids.push(app.upload_ok(&rpm.file_name(), rpm.build()).await["id"].clone());
    }
    wait_for(&app, "el7", "x86_64", 2).await;
    let dir = tempfile::tempdir().unwrap();
    setup(&app, dir.path(), &app.base).await;
    assert!(dnf(dir.path(), &["makecache"]).status.success());

    // Delete depot-app: the next makecache no longer offers it.
    let (app_rpm, id) = rpms
        .iter()
        .zip(&ids)
        .find(|(r, _)| r.name == "depot-app")
        .unwrap();
    let response = app
        .request(
            Who::Manager,
            Method::DELETE,
            &format!("/api/v2/software-packages/{id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    wait_for(&app, "el7", "x86_64", 1).await;
    let out = dnf(dir.path(), &["--refresh", "install", "depot-app"]);
    assert!(
        !out.status.success(),
        "a deleted package is not installable"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No match for argument: depot-app")
            || String::from_utf8_lossy(&out.stderr).contains("No match for argument: depot-app"),
        "dnf says it has no such package"
    );

    // The same NEVRA, uploaded again: installable at once.
    app.upload_ok(&app_rpm.file_name(), app_rpm.build()).await;
    wait_for(&app, "el7", "x86_64", 2).await;
    assert!(
        dnf(dir.path(), &["--refresh", "install", "depot-app"])
            .status
            .success()
    );
    assert!(dir.path().join("root/usr/bin/depot-app").exists());
}
