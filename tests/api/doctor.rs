//! `GET /api/v2/diagnostics` (and `depot doctor`, which runs the same checks).

use reqwest::StatusCode;
use serde_json::Value;

use crate::backend_tests;
use crate::common::{Backend, TestApp, Who, envelope, expect_error};

backend_tests!(diagnostics_find_what_is_wrong);

fn check<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["data"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {body}"))
}

async fn diagnostics_find_what_is_wrong(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (status, body) = envelope(app.get(Who::Admin, "/api/v2/diagnostics").await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "OK", "{body}");
    for name in [
        "database reachable",
        "migrations current",
        "database size",
        "store reachable",
        "clock skew",
        "temporary directory",
        "resumable uploads",
        "orphaned objects",
        "package objects",
    ] {
        assert_eq!(check(&body, name)["status"], "OK", "{name}: {body}");
    }
    expect_error(
        app.get(Who::Manager, "/api/v2/diagnostics").await,
        StatusCode::FORBIDDEN,
        30014,
    )
    .await;

    // A package whose object went missing: FAIL, naming it, with a remedy.
    let data = app
        .upload_ok("lost.sh", b"#!/bin/sh\necho lost\n".to_vec())
        .await;
    let key = depot::db::packages::referenced_keys(
        &depot::db::connect(&app.config.database_url).await.unwrap(),
    )
    .await
    .unwrap()
    .remove(0);
    app.store
        .delete(&depot::store::BlobKey::from_stored(key))
        .await
        .unwrap();
    let (_, body) = envelope(app.get(Who::Admin, "/api/v2/diagnostics").await).await;
    assert_eq!(body["data"]["status"], "FAIL", "{body}");
    let missing = check(&body, "package objects");
    assert_eq!(missing["status"], "FAIL");
    assert!(
        missing["detail"].as_str().unwrap().contains("lost.sh"),
        "{missing}"
    );
    assert!(missing["remedy"].is_string());
    let _ = data;
}
