//! What the audit log says is what happened: the package an upload stored
//! (even after its client hung up), the token a refused attempt presented,
//! the client's address only as far as trusted proxies vouch for it, and
//! each request under its own trace id.

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{
    Backend, PASSWORD, TestApp, Who, audit_event, envelope, metrics, sample, sha1_hex, trace_id,
};
use crate::tokens::create_token;

backend_tests!(
    an_upload_names_its_package,
    forwarded_for_counts_only_from_a_trusted_proxy,
    a_traceparent_cannot_take_over_another_requests_trace,
    a_refused_token_is_named_without_its_secret
);

/// Every event, newest first.
pub async fn all_events(app: &TestApp) -> Vec<Value> {
    let mut all = Vec::new();
    for page in 1.. {
        let path = format!("/api/v2/audit-events?size=1000&page={page}");
        let (status, body) = envelope(app.get(Who::Admin, &path).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let contents = body["data"]["contents"].as_array().unwrap().clone();
        if contents.is_empty() {
            break;
        }
        all.extend(contents);
    }
    all
}

/// The first event `matches` finds, waiting for it to be written.
pub async fn wait_for_event(app: &TestApp, matches: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        if let Some(event) = all_events(app).await.into_iter().find(&matches) {
            return event;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no such event in {:#?}", all_events(app).await);
}

async fn an_upload_names_its_package(backend: Backend) {
    let app = TestApp::start(backend).await;
    let content = b"#!/bin/sh\necho named\n".to_vec();
    let response = app.upload("named.sh", content.clone()).await;
    let trace = trace_id(&response);
    let (_, body) = envelope(response).await;
    let event = audit_event(&app, &trace).await;
    assert_eq!(event["action"], "package.upload", "{event}");
    assert_eq!(event["outcome"], "success", "{event}");
    assert_eq!(event["count"], 1, "{event}");
    assert_eq!(
        event["package"],
        json!({"id": body["data"]["id"], "fileName": "named.sh", "sha1": sha1_hex(&content)}),
        "{event}"
    );
}

async fn forwarded_for_counts_only_from_a_trusted_proxy(backend: Backend) {
    let forged = |app: &TestApp, name: &str| {
        let form = Form::new().part(
            "file",
            Part::bytes(b"#!/bin/sh\n".to_vec()).file_name(name.to_string()),
        );
        app.request(Who::Manager, Method::POST, "/api/v2/software-packages")
            .header("x-forwarded-for", "203.0.113.9")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "https")
            .multipart(form)
            .send()
    };

    // No trusted proxy (the default): the headers are anyone's words.
    let app = TestApp::start(backend).await;
    let response = forged(&app, "direct.sh").await.unwrap();
    let trace = trace_id(&response);
    let (status, body) = envelope(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = body["data"]["downloadUrl"].as_str().unwrap();
    assert!(url.starts_with(&app.base), "{url}");
    let event = audit_event(&app, &trace).await;
    assert_eq!(event["address"], "127.0.0.1", "{event}");
    drop(app);

    // The loopback peer is a trusted proxy: it vouches for the client.
    let trusting = Box::new(|c: &mut depot::config::Config| {
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]
    });
    let app = TestApp::start_with(backend, trusting).await;
    let response = forged(&app, "proxied.sh").await.unwrap();
    let trace = trace_id(&response);
    let (status, body) = envelope(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["downloadUrl"],
        "https://evil.example/api/v2/files/sys-package/proxied.sh"
    );
    let event = audit_event(&app, &trace).await;
    assert_eq!(event["address"], "203.0.113.9 (via 127.0.0.1)", "{event}");
}

async fn a_traceparent_cannot_take_over_another_requests_trace(backend: Backend) {
    let app = TestApp::start(backend).await;
    let response = app.upload("traced.sh", b"#!/bin/sh\n".to_vec()).await;
    let victim = trace_id(&response);
    let (_, body) = envelope(response).await;
    let id = body["data"]["id"].as_i64().unwrap();
    let upload = audit_event(&app, &victim).await;

    // Another request claims the upload's trace.
    let response = app
        .request(
            Who::Manager,
            Method::DELETE,
            &format!("/api/v2/software-packages/{id}"),
        )
        .header("traceparent", format!("00-{victim}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The client's trace stays its trace (the envelope, the exported spans)…
    assert_eq!(trace_id(&response), victim);
    // …but the audit log keeps the requests apart.
    let delete = wait_for_event(&app, |e| e["action"] == "package.delete").await;
    assert_ne!(delete["traceId"], victim.as_str(), "{delete}");
    assert_eq!(
        delete["traceId"].as_str().map(str::len),
        Some(32),
        "{delete}"
    );
    assert_eq!(delete["traceLink"], victim.as_str(), "{delete}");
    let claimed: Vec<Value> = all_events(&app)
        .await
        .into_iter()
        .filter(|e| e["traceId"] == victim.as_str())
        .collect();
    assert_eq!(claimed, vec![upload.clone()]);
    assert!(upload.get("traceLink").is_none(), "{upload}");
}

async fn a_refused_token_is_named_without_its_secret(backend: Backend) {
    let app = TestApp::start(backend).await;
    let token = create_token(&app, json!({"name": "old ci", "user": "manager"})).await;
    let secret = token["token"].as_str().unwrap().to_string();
    let id = token["id"].as_i64().unwrap();
    let response = app
        .request(Who::Admin, Method::DELETE, &format!("/api/v2/tokens/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let attempt = |secret: String| {
        app.http
            .post(app.url("/api/v2/software-packages"))
            .bearer_auth(secret)
            .send()
    };
    let response = attempt(secret.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let revoked = audit_event(&app, &trace_id(&response)).await;
    assert_eq!(revoked["status"], 401, "{revoked}");
    assert_eq!(revoked["outcome"], "refused", "{revoked}");
    assert_eq!(revoked["tokenId"], id, "{revoked}");
    assert_eq!(
        revoked["actor"], "manager",
        "the revoked token's user: {revoked}"
    );
    assert_eq!(
        revoked["tokenHint"],
        format!("{}…", &secret[..10]),
        "{revoked}"
    );

    let unknown = format!("depot_{}", "Zz9".repeat(14));
    let response = attempt(unknown.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let event = audit_event(&app, &trace_id(&response)).await;
    assert_eq!(event["tokenHint"], "depot_Zz9Z…", "{event}");
    assert!(event.get("tokenId").is_none(), "{event}");
    assert_eq!(event["actor"], "", "{event}");

    // The secrets themselves are nowhere in the log.
    let text = serde_json::to_string(&all_events(&app).await).unwrap();
    assert!(!text.contains(&secret[10..]) && !text.contains(&unknown[10..]));
}

/// The client hangs up while its upload is being stored (the database's
/// write lock is held meanwhile): the package is stored all the same, and
/// its event says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_stored_after_its_client_hung_up_is_recorded_as_stored() {
    let app = TestApp::start(Backend::SqliteLocal).await;
    // Credentials checked once, so that the upload waits only in storing.
    app.upload_ok("warm.sh", b"#!/bin/sh\n".to_vec()).await;
    let db = depot::db::connect(&app.config.database_url).await.unwrap();
    let lock = db.begin().await.unwrap();
    lock.execute_unprepared("CREATE TABLE hold_the_write_lock (x INTEGER)")
        .await
        .unwrap();

    let content = b"#!/bin/sh\necho late\n".to_vec();
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    let form = Form::new().part("file", Part::bytes(content.clone()).file_name("late.sh"));
    let sent = impatient
        .post(app.url("/api/v2/software-packages"))
        .basic_auth("manager", Some(PASSWORD))
        .multipart(form)
        .send()
        .await;
    assert!(sent.as_ref().is_err_and(|e| e.is_timeout()), "{sent:?}");
    // The server noticed: the request is gone.
    for _ in 0..100 {
        if sample(&metrics(&app).await, "depot_uploads_in_flight") == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        sample(&metrics(&app).await, "depot_uploads_in_flight"),
        Some(0.0)
    );
    lock.rollback().await.unwrap();

    let event = wait_for_event(&app, |e| {
        e["action"] == "package.upload" && e["package"]["fileName"] == "late.sh"
    })
    .await;
    assert_eq!(event["status"], 499, "{event}");
    assert_eq!(event["outcome"], "stored", "{event}");
    assert_eq!(event["actor"], "manager", "{event}");
    assert_eq!(event["package"]["sha1"], sha1_hex(&content), "{event}");
    let (_, package) = envelope(
        app.get(
            Who::Viewer,
            &format!("/api/v2/software-packages/{}", event["package"]["id"]),
        )
        .await,
    )
    .await;
    assert_eq!(package["data"]["fileName"], "late.sh", "{package}");
}
