//! The audit log under attack: a flood of anonymous and refused requests
//! costs a bounded number of rows, and no change made meanwhile is lost.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::audit_honest::all_events;
use crate::backend_tests;
use crate::common::{Backend, TestApp, Who, envelope, metrics, sample, sha1_hex};

backend_tests!(a_flood_of_refusals_costs_a_bounded_number_of_rows);

/// The audit log's defaults (`domain::audit::Limits`): refusals are kept
/// apart for this many sources per window…
const SOURCES: usize = 256;
/// …of this length…
const WINDOW: Duration = Duration::from_secs(60);
/// …plus one aggregate per status class beyond them.
const CLASSES: usize = 3;

const UNKNOWN_ROUTES: usize = 17_800;
const RANDOM_TOKENS: usize = 2_000;
// Each costs a password hash: fewer.
const RANDOM_NAMES: usize = 200;
const CHANGES: usize = 10;

/// One request of the flood: its kind, by number.
async fn refused(app: &TestApp, i: usize) -> StatusCode {
    let request = if i < UNKNOWN_ROUTES {
        let method = [Method::POST, Method::PUT, Method::DELETE, Method::PATCH][i % 4].clone();
        let path = format!("/{}/{}", uuid::Uuid::new_v4(), "x".repeat(i % 300));
        app.http.request(method, app.url(&path))
    } else if i < UNKNOWN_ROUTES + RANDOM_TOKENS {
        app.http
            .post(app.url("/api/v2/software-packages"))
            .bearer_auth(format!("depot_{}", uuid::Uuid::new_v4().simple()))
    } else {
        app.http
            .delete(app.url("/api/v2/software-packages/1"))
            .basic_auth(format!("user-{i}"), Some("guess"))
    };
    request.send().await.unwrap().status()
}

/// Uploads and deletes, made while the flood goes on.
async fn changes(app: &TestApp) -> Vec<(i64, String, String)> {
    let mut made = Vec::new();
    for n in 0..CHANGES {
        let name = format!("real-{n}.sh");
        let content = format!("#!/bin/sh\necho {n}\n").into_bytes();
        let package = app.upload_ok(&name, content.clone()).await;
        let id = package["id"].as_i64().unwrap();
        if n % 2 == 0 {
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
        }
        made.push((id, name, sha1_hex(&content)));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    made
}

fn is_change(e: &Value) -> bool {
    e["actor"] == "manager" && (e["action"] == "package.upload" || e["action"] == "package.delete")
}

async fn a_flood_of_refusals_costs_a_bounded_number_of_rows(backend: Backend) {
    let app = TestApp::start(backend).await;
    let total = UNKNOWN_ROUTES + RANDOM_TOKENS + RANDOM_NAMES;
    let started = Instant::now();
    let flood = futures::stream::iter(0..total)
        .map(|i| refused(&app, i))
        .buffer_unordered(64)
        .collect::<Vec<_>>();
    let (statuses, made) = tokio::join!(flood, changes(&app));
    let took = started.elapsed();
    assert!(statuses.iter().all(|s| s.is_client_error()), "all refused");
    let shed_refusals = |text: &str| {
        sample(text, r#"depot_audit_events_shed_total{kind="refusal"}"#)
            .expect("the shed counter is exposed")
    };
    let text = metrics(&app).await;
    let shed = shed_refusals(&text);
    assert_eq!(
        sample(&text, r#"depot_audit_events_shed_total{kind="change"}"#),
        Some(0.0),
        "no change is shed: {text}"
    );

    // Stopping writes what the open window counted; read it back after a restart.
    let (config, dir) = app.stop().await;
    let app = TestApp::start_config(backend, config, dir).await;
    let mut events = Vec::new();
    let mut counted = 0;
    for _ in 0..100 {
        events = all_events(&app).await;
        counted = events
            .iter()
            .filter(|e| !is_change(e) && e["action"] != "audit.shed")
            .map(|e| e["count"].as_u64().unwrap())
            .sum::<u64>();
        if counted as f64 + shed >= total as f64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Nothing refused went unaccounted: counted in the log, or shed and counted as such.
    assert_eq!(counted as f64 + shed, total as f64, "took {took:?}");

    // The bound: per window, SOURCES kinds kept apart and one aggregate per
    // status class; a flood within one window touches at most two.
    let windows = took.as_secs() as usize / WINDOW.as_secs() as usize + 2;
    let refusal_rows = events.iter().filter(|e| !is_change(e)).count();
    let bound = windows * (SOURCES + CLASSES) + took.as_secs() as usize + 1;
    assert!(
        refusal_rows <= bound,
        "{refusal_rows} rows for {total} refusals (bound {bound})"
    );
    // Unknown routes are one event per method, not one per path.
    for e in events.iter().filter(|e| {
        e["target"]
            .as_str()
            .unwrap_or_default()
            .starts_with("unknown route")
    }) {
        assert!(e["target"].as_str().unwrap().len() < 64, "{e}");
    }
    let unknown: u64 = events
        .iter()
        .filter(|e| e["action"].as_str().unwrap().ends_with(" unknown route"))
        .map(|e| e["count"].as_u64().unwrap())
        .sum();
    assert!(unknown as f64 + shed >= UNKNOWN_ROUTES as f64, "{unknown}");

    // Every change made during the flood is there, with its package.
    for (n, (id, name, sha1)) in made.iter().enumerate() {
        let upload = events
            .iter()
            .find(|e| e["action"] == "package.upload" && e["package"]["id"] == *id)
            .unwrap_or_else(|| panic!("the upload of {name} is lost"));
        assert_eq!(upload["package"]["fileName"], name.as_str(), "{upload}");
        assert_eq!(upload["package"]["sha1"], sha1.as_str(), "{upload}");
        assert_eq!(upload["status"], 200, "{upload}");
        if n % 2 == 0 {
            let target = format!("/api/v2/software-packages/{id}");
            assert!(
                events
                    .iter()
                    .any(|e| e["action"] == "package.delete" && e["target"] == target.as_str()),
                "the delete of {name} is lost"
            );
        }
    }

    if backend == Backend::SqliteLocal {
        let path = app.config.database_url.trim_start_matches("sqlite://");
        let path = path.split('?').next().unwrap();
        let size =
            |suffix: &str| std::fs::metadata(format!("{path}{suffix}")).map_or(0, |m| m.len());
        let bytes = size("") + size("-wal");
        assert!(bytes < 4 << 20, "the database grew to {bytes} bytes");
        eprintln!(
            "{total} refusals in {took:?}: {refusal_rows} rows, database {bytes} bytes, {shed} shed"
        );
    }
    let (_, body) = envelope(app.get(Who::Admin, "/api/v2/audit-events?size=1").await).await;
    assert!(
        body["data"]["page"]["totalElements"].as_u64().unwrap() as usize <= bound + 2 * CHANGES
    );
}
