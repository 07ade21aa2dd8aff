//! `/api/v2/tokens` and `Authorization: Bearer`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestApp, Who, envelope, expect_error};

backend_tests!(
    tokens_act_for_their_user,
    a_token_carries_at_most_its_users_role,
    revoked_and_expired_tokens_are_refused,
    only_user_admins_manage_tokens,
);

/// Creates a token as the admin; returns the whole answer (`token` is the secret).
pub async fn create_token(app: &TestApp, body: Value) -> Value {
    let response = app
        .request(Who::Admin, Method::POST, "/api/v2/tokens")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

async fn with_token(app: &TestApp, token: &str, method: Method, path: &str) -> reqwest::Response {
    app.http
        .request(method, app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn tokens_act_for_their_user(backend: Backend) {
    let app = TestApp::start(backend).await;
    let created = create_token(&app, json!({"name": "ci deploy", "user": "manager"})).await;
    let secret = created["token"].as_str().unwrap();
    assert!(
        secret.starts_with("depot_") && secret.len() > 40,
        "{created}"
    );
    assert_eq!(created["user"], "manager");
    assert_eq!(created["role"], "manager");
    assert_eq!(created["state"], "active");
    assert!(created.get("lastUsedTime").is_none());

    // Anywhere Basic works: an upload, a list.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"#!/bin/sh\n".to_vec()).file_name("t.sh"),
    );
    let response = app
        .http
        .post(app.url("/api/v2/software-packages"))
        .bearer_auth(secret)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(response).await.0, StatusCode::OK);
    let response = with_token(&app, secret, Method::GET, "/api/v2/software-packages").await;
    assert_eq!(envelope(response).await.0, StatusCode::OK);

    // Listed without the secret, with its last use.
    let (_, body) = envelope(app.get(Who::Admin, "/api/v2/tokens?user=manager").await).await;
    let listed = &body["data"][0];
    assert_eq!(listed["id"], created["id"]);
    assert!(listed.get("token").is_none(), "{listed}");
    assert!(listed["lastUsedTime"].is_string(), "{listed}");
    // The secret is stored hashed only.
    let rows = depot::db::connect(&app.config.database_url).await.unwrap();
    let stored = depot::db::tokens::list(&rows, None).await.unwrap();
    assert_ne!(stored[0].0.token_hash, secret);
    assert!(!stored[0].0.token_hash.contains(secret));
}

async fn a_token_carries_at_most_its_users_role(backend: Backend) {
    let app = TestApp::start(backend).await;
    let viewer_token = create_token(
        &app,
        json!({"name": "read", "user": "manager", "role": "viewer"}),
    )
    .await;
    let secret = viewer_token["token"].as_str().unwrap();
    let response = with_token(&app, secret, Method::GET, "/api/v2/software-packages").await;
    assert_eq!(envelope(response).await.0, StatusCode::OK);
    let response = with_token(&app, secret, Method::DELETE, "/api/v2/software-packages/1").await;
    let message = expect_error(response, StatusCode::FORBIDDEN, 30014).await;
    assert!(message.contains("token"), "{message}");

    // More than the user has: refused at creation.
    let response = app
        .request(Who::Admin, Method::POST, "/api/v2/tokens")
        .json(&json!({"name": "too much", "user": "viewer", "role": "manager"}))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, 10001).await;

    // The user removed after the token was made: the token goes with them.
    let token = create_token(&app, json!({"name": "m", "user": "manager"})).await;
    let secret = token["token"].as_str().unwrap();
    app.users.remove("manager").await.unwrap();
    let response = with_token(&app, secret, Method::GET, "/api/v2/software-packages").await;
    expect_error(response, StatusCode::UNAUTHORIZED, 30004).await;
}

async fn revoked_and_expired_tokens_are_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    let token = create_token(
        &app,
        json!({"name": "short", "user": "viewer", "expiresIn": "2s"}),
    )
    .await;
    assert!(token["expireTime"].is_string(), "{token}");
    let secret = token["token"].as_str().unwrap().to_string();
    let response = with_token(&app, &secret, Method::GET, "/api/v2/software-packages").await;
    assert_eq!(envelope(response).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = with_token(&app, &secret, Method::GET, "/api/v2/software-packages").await;
    let message = expect_error(response, StatusCode::UNAUTHORIZED, 30004).await;
    assert!(message.contains("expired"), "{message}");

    let token = create_token(&app, json!({"name": "long", "user": "viewer"})).await;
    let secret = token["token"].as_str().unwrap().to_string();
    let response = with_token(&app, &secret, Method::GET, "/api/v2/software-packages").await;
    assert_eq!(envelope(response).await.0, StatusCode::OK);
    let response = app
        .request(
            Who::Admin,
            Method::DELETE,
            &format!("/api/v2/tokens/{}", token["id"]),
        )
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(response).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["state"], "revoked");
    let response = with_token(&app, &secret, Method::GET, "/api/v2/software-packages").await;
    expect_error(response, StatusCode::UNAUTHORIZED, 30004).await;
    let response = with_token(
        &app,
        "depot_not-a-token",
        Method::GET,
        "/api/v2/software-packages",
    )
    .await;
    expect_error(response, StatusCode::UNAUTHORIZED, 30004).await;
    let response = app
        .request(Who::Admin, Method::DELETE, "/api/v2/tokens/999999")
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::NOT_FOUND, 10002).await;
}

async fn only_user_admins_manage_tokens(backend: Backend) {
    let app = TestApp::start(backend).await;
    for who in [Who::Viewer, Who::Manager] {
        let response = app
            .request(who, Method::POST, "/api/v2/tokens")
            .json(&json!({"name": "mine"}))
            .send()
            .await
            .unwrap();
        expect_error(response, StatusCode::FORBIDDEN, 30014).await;
        let response = app.get(who, "/api/v2/tokens").await;
        expect_error(response, StatusCode::FORBIDDEN, 30014).await;
    }
    let response = app.get(Who::Anonymous, "/api/v2/tokens").await;
    expect_error(response, StatusCode::UNAUTHORIZED, 30000).await;
    // A token cannot mint a stronger one either: the admin's viewer token is a viewer.
    let token = create_token(&app, json!({"name": "ro", "role": "viewer"})).await;
    assert_eq!(token["user"], "admin");
    let response = app
        .http
        .post(app.url("/api/v2/tokens"))
        .bearer_auth(token["token"].as_str().unwrap())
        .json(&json!({"name": "escalate"}))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::FORBIDDEN, 30014).await;
    // Bad input is named.
    let response = app
        .request(Who::Admin, Method::POST, "/api/v2/tokens")
        .json(&json!({"name": "x", "expiresIn": "soon"}))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::BAD_REQUEST, 10001).await;
    let response = app
        .request(Who::Admin, Method::POST, "/api/v2/tokens")
        .json(&json!({"name": "x", "user": "nobody"}))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::NOT_FOUND, 10002).await;
}
