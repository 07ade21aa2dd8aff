//! What a client can make the region code spend is bounded, and each bound
//! is tried: regions (at most 32), client networks per region (at most 64),
//! the admin API's bodies (16 KiB, refused before they are read whole), one
//! sync at a time per replica (each reads every copy back), and copies at
//! once (never more than `--region-workers`, whatever the flood).

use std::time::Duration;

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, Statement};
use serde_json::json;

use super::{post_region, script, status};
use crate::backend_tests;
use crate::common::{Backend, TestApp, Who, envelope, expect_error};

backend_tests!(
    regions_and_their_networks_are_bounded,
    a_region_body_is_refused_before_it_is_read_whole,
    one_sync_runs_at_a_time,
    a_flood_of_uploads_never_runs_more_copies_than_the_workers
);

fn local_region(name: &str, dir: &std::path::Path) -> serde_json::Value {
    std::fs::create_dir_all(dir.join(name)).unwrap();
    json!({"name": name, "storageUrl": format!("file://{}", dir.join(name).display())})
}

async fn regions_and_their_networks_are_bounded(backend: Backend) {
    let app = TestApp::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let add = |body: serde_json::Value| {
        app.request(Who::Admin, Method::POST, "/api/v2/regions")
            .json(&body)
            .send()
    };
    // 65 client networks are refused; 64 are taken.
    let mut body = local_region("nets", dir.path());
    let nets: Vec<String> = (0..65).map(|i| format!("10.{i}.0.0/16")).collect();
    body["cidrs"] = json!(nets);
    let message = expect_error(
        add(body.clone()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    assert!(message.contains("at most 64 client networks"), "{message}");
    body["cidrs"] = json!(nets[..64]);
    post_region(&app, &body).await;
    // 32 regions in all; the 33rd is refused with a clear error, and so is
    // each try after it.
    for i in 1..32 {
        post_region(&app, &local_region(&format!("r{i}"), dir.path())).await;
    }
    assert_eq!(status(&app).await.len(), 32);
    for _ in 0..2 {
        let message = expect_error(
            add(local_region("r32", dir.path())).await.unwrap(),
            StatusCode::CONFLICT,
            90050,
        )
        .await;
        assert!(message.contains("at most 32 regions"), "{message}");
    }
    assert_eq!(status(&app).await.len(), 32);
    // Removing one makes room for one.
    let removed = app
        .request(Who::Admin, Method::DELETE, "/api/v2/regions/r31")
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::OK);
    post_region(&app, &local_region("r32", dir.path())).await;
    assert_eq!(status(&app).await.len(), 32);
}

/// A 1 MiB body announced, 64 KiB of it sent, the rest held back: depot
/// answers 413 without waiting for the rest (it never reads it whole).
async fn a_region_body_is_refused_before_it_is_read_whole(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let mut head = br#"{"name": "big", "storageUrl": "file:///tmp/x", "cidrs": [""#.to_vec();
    head.resize(64 << 10, b'a');
    tx.send(Ok(head)).await.unwrap();
    let body = reqwest::Body::wrap_stream(tokio_stream_of(rx));
    let response = tokio::time::timeout(
        Duration::from_secs(20),
        app.request(Who::Admin, Method::POST, "/api/v2/regions")
            .header("content-type", "application/json")
            .header("content-length", (1u64 << 20).to_string())
            .body(body)
            .send(),
    )
    .await
    .expect("depot waited for the whole body")
    .unwrap();
    let (status, body) = envelope(response).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["errCode"], "DEPOT_BODY_TOO_LARGE", "{body}");
    drop(tx);
    assert!(super::status(&app).await.is_empty(), "nothing was added");
}

fn tokio_stream_of(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A sync that hangs on a region's store (one that accepts connections and
/// never answers) holds the replica's one sync: a second is refused at once.
async fn one_sync_runs_at_a_time(backend: Backend) {
    let app = TestApp::start(backend).await;
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", hole.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hole.accept().await {
            held.push(socket);
        }
    });
    post_region(
        &app,
        &json!({"name": "hole", "storageUrl": "s3://hole", "s3Endpoint": endpoint,
                "s3Region": "us-east-1", "accessKeyId": "GKhole0000000000",
                "secretAccessKey": "0123456789abcdef0123456789abcdef"}),
    )
    .await;
    // A copy the status says is there: a verifying sync reads it back.
    let db = depot::db::connect(&app.config.database_url).await.unwrap();
    let now = chrono::Utc::now();
    let hex = "ab".repeat(32);
    entity::region_blob::ActiveModel {
        blob_key: Set(format!("blobs/blake3/ab/{hex}")),
        region: Set("hole".into()),
        size: Set(1000),
        state: Set("present".into()),
        attempts: Set(1),
        last_error: Set(None),
        next_attempt_at: Set(now),
        lease_owner: Set(None),
        lease_until: Set(None),
        verified_at: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&db)
    .await
    .unwrap();
    let sync = || {
        app.request(Who::Admin, Method::POST, "/api/v2/regions/sync?verify=true")
            .send()
    };
    let first = tokio::spawn(sync());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!first.is_finished(), "the first sync hangs on the hole");
    for _ in 0..3 {
        let message = expect_error(sync().await.unwrap(), StatusCode::CONFLICT, 90051).await;
        assert!(message.contains("sync is running"), "{message}");
    }
    first.abort();
    held.abort();
}

/// Copies in state `copying` right now.
async fn copying(db: &sea_orm::DatabaseConnection) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM region_blobs WHERE state = 'copying'",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

async fn a_flood_of_uploads_never_runs_more_copies_than_the_workers(backend: Backend) {
    const WORKERS: usize = 2;
    let app = TestApp::start_with(
        backend,
        Box::new(|c| {
            c.regions.workers = WORKERS;
            c.regions.poll = Duration::from_millis(100);
        }),
    )
    .await;
    // Two regions apart from the replica's own store: each upload makes
    // two copies, read from that store.
    let dir = tempfile::tempdir().unwrap();
    post_region(&app, &local_region("a", dir.path())).await;
    post_region(&app, &local_region("b", dir.path())).await;
    let db = depot::db::connect(&app.config.database_url).await.unwrap();
    const UPLOADS: usize = 16;
    let sampler = {
        let db = db.clone();
        tokio::spawn(async move {
            let (mut most, mut present) = (0, 0);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
            while present < 2 * UPLOADS as i64 && tokio::time::Instant::now() < deadline {
                most = most.max(copying(&db).await);
                let row = db
                    .query_one_raw(Statement::from_string(
                        db.get_database_backend(),
                        "SELECT COUNT(*) AS n FROM region_blobs WHERE state = 'present'",
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                present = row.try_get("", "n").unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (most, present)
        })
    };
    let uploads = futures::stream::iter(0..UPLOADS)
        .map(|i| {
            let app = &app;
            async move {
                app.upload_ok(
                    &format!("flood{i}.sh"),
                    script(&format!("flood{i}"), (4 << 20) + i),
                )
                .await
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>();
    assert_eq!(uploads.await.len(), UPLOADS);
    let (most, present) = sampler.await.unwrap();
    assert_eq!(present, 2 * UPLOADS as i64, "every copy was made");
    assert!(most >= 1, "copies were seen in flight");
    assert!(
        most <= WORKERS as i64,
        "{most} copies ran at once with {WORKERS} workers"
    );
    for name in ["a", "b"] {
        let r = super::region(&app, name).await;
        assert_eq!(r["present"], UPLOADS, "{r}");
    }
}
