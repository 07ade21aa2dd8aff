//! The audit log: changes and refused attempts, read back over HTTP.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestApp, Who, envelope, expect_error};
use crate::tokens::create_token;

backend_tests!(changes_and_refusals_are_recorded);

async fn events(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = envelope(
        app.get(Who::Admin, &format!("/api/v2/audit-events{query}"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"]["contents"].as_array().unwrap().clone()
}

async fn changes_and_refusals_are_recorded(backend: Backend) {
    let app = TestApp::start(backend).await;
    let response = app.upload("a.sh", b"#!/bin/sh\n".to_vec()).await;
    let upload_trace = response.headers()["x-trace-id"]
        .to_str()
        .unwrap()
        .to_string();
    let (_, body) = envelope(response).await;
    let id = body["data"]["id"].as_i64().unwrap();
    // A failed login, and a refused attempt.
    assert_eq!(
        app.get(Who::BadPassword, "/api/v2/software-packages")
            .await
            .status(),
        401
    );
    let response = app
        .request(
            Who::Viewer,
            Method::DELETE,
            &format!("/api/v2/software-packages/{id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // A token made and used.
    let token = create_token(&app, json!({"name": "ci", "user": "manager"})).await;
    let response = app
        .http
        .delete(app.url(&format!("/api/v2/software-packages/{id}")))
        .bearer_auth(token["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Reads are not changes.
    app.get(Who::Viewer, "/api/v2/software-packages").await;

    // Events are written just after the answers: wait for the last one.
    let mut all = events(&app, "").await;
    for _ in 0..50 {
        if all.len() >= 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        all = events(&app, "").await;
    }
    let find = |action: &str, status: u64| {
        all.iter()
            .find(|e| e["action"] == action && e["status"] == status)
            .unwrap_or_else(|| panic!("no {action} {status} in {all:#?}"))
            .clone()
    };
    let upload = find("package.upload", 200);
    assert_eq!(upload["actor"], "manager");
    assert_eq!(upload["outcome"], "success");
    assert_eq!(upload["traceId"], upload_trace.as_str());
    assert!(
        upload["address"].as_str().unwrap().starts_with("127.0.0.1"),
        "{upload}"
    );
    let login = find("GET /api/v2/software-packages", 401);
    assert_eq!(login["actor"], "admin", "the name the failed login tried");
    assert_eq!(login["outcome"], "refused");
    let refused = find("package.delete", 403);
    assert_eq!(refused["actor"], "viewer");
    let created = find("token.create", 200);
    assert_eq!(created["actor"], "admin");
    let deleted = find("package.delete", 200);
    assert_eq!(deleted["actor"], "manager");
    assert_eq!(deleted["tokenId"], token["id"]);
    assert!(
        all.iter()
            .all(|e| !(e["action"] == "GET /api/v2/software-packages" && e["status"] == 200))
    );
    // Newest first.
    assert_eq!(all[0]["action"], "package.delete");

    // Filters.
    let mine = events(&app, "?actor=manager").await;
    assert!(mine.len() >= 2 && mine.iter().all(|e| e["actor"] == "manager"));
    let uploads = events(&app, "?action=package.upload").await;
    assert_eq!(uploads.len(), 1);
    assert!(events(&app, "?since=2999-01-01T00:00:00Z").await.is_empty());
    expect_error(
        app.get(Who::Admin, "/api/v2/audit-events?since=yesterday")
            .await,
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    expect_error(
        app.get(Who::Manager, "/api/v2/audit-events").await,
        StatusCode::FORBIDDEN,
        30014,
    )
    .await;
}
