//! Garbage collection: what nothing references goes, what a package
//! references never does, and one replica collects at a time.

use std::time::Duration;

use bytes::Bytes;
use depot::app::{Migrations, Services};
use depot::domain::gc::{Collector, Pass, Report};
use depot::store::{OnCut, Path};
use futures::stream;
use reqwest::{Method, StatusCode};

use crate::backend_tests;
use crate::common::{Backend, TestApp, Who, envelope};

backend_tests!(
    unreferenced_objects_and_leftovers_are_collected,
    a_listing_is_judged_a_batch_at_a_time,
    young_objects_are_spared,
    collection_racing_uploads_keeps_every_package_whole,
    one_collector_at_a_time,
);

/// A collector like `serve`'s, with `grace` for every kind of object.
async fn collector(app: &TestApp, grace: Duration) -> Collector {
    let mut config = app.config.clone();
    config.gc_grace = grace;
    let services = Services::build(&config, Migrations::Require).await.unwrap();
    services.collector.with_staging_grace(grace)
}

async fn put(app: &TestApp, path: &str, bytes: &'static [u8]) {
    let body = stream::iter([Ok::<_, depot::error::Error>(Bytes::from_static(bytes))]);
    app.store
        .write_part(&Path::from(path), body, u64::MAX, OnCut::Discard)
        .await
        .unwrap();
}

/// Leftovers of the kinds a crash or a failed cleanup leaves.
async fn litter(app: &TestApp) {
    put(
        app,
        &format!("blobs/blake3/ab/{}", "ab".repeat(32)),
        b"orphan",
    )
    .await;
    put(
        app,
        "staging/0b8f2d6e-dead-4bee-8f00-000000000000",
        b"staged",
    )
    .await;
    put(
        app,
        "uploads/6c1e4a3e-0000-4000-8000-000000000000/00000000000000000000-x",
        b"part",
    )
    .await;
}

fn no_gc(c: &mut depot::config::Config) {
    c.gc_interval = None;
}

async fn unreferenced_objects_and_leftovers_are_collected(backend: Backend) {
    let app = TestApp::start_with(backend, Box::new(no_gc)).await;
    let kept = app
        .upload_ok("keep.sh", b"#!/bin/sh\necho keep\n".to_vec())
        .await;
    litter(&app).await;
    // An upload in progress: its part is no leftover.
    let response = app
        .request(Who::Manager, Method::POST, "/api/v2/uploads/")
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "100")
        .header("upload-metadata", "filename bGl2ZS5zaA==")
        .header("content-type", "application/offset+octet-stream")
        .body(vec![b'#'; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let gc = collector(&app, Duration::ZERO).await;

    let dry = gc.run(Pass::DryRun).await.unwrap();
    assert_eq!(
        (
            dry.unreferenced_objects,
            dry.staging_leftovers,
            dry.stray_upload_parts
        ),
        (1, 1, 1),
        "{dry:?}"
    );
    assert!(dry.to_string().contains("would remove"), "{dry}");
    assert_eq!(
        app.stored_objects().await.len(),
        2,
        "a dry run removes nothing"
    );

    let report = gc.run(Pass::Collect).await.unwrap();
    assert_eq!(report.objects(), 3, "{report:?}");
    assert_eq!(report.bytes(), 6 + 6 + 4);
    assert_eq!(app.stored_objects().await.len(), 1);
    assert!(app.staging_objects().await.is_empty());
    assert_eq!(
        app.upload_objects().await.len(),
        1,
        "the live upload's part stays"
    );
    // The package is whole.
    let response = app
        .get(Who::Viewer, "/api/v2/files/sys-package/keep.sh")
        .await;
    assert!(response.status().is_success() || response.status().is_redirection());
    let again = gc.run(Pass::Collect).await.unwrap();
    assert_eq!(again.objects(), 0, "{again:?}");
    let _ = kept;
}

/// The collector holds a batch of the listing at a time and asks the
/// database about that batch only: with batches of two, referenced and
/// unreferenced objects share batches and straddle their boundaries.
async fn a_listing_is_judged_a_batch_at_a_time(backend: Backend) {
    let app = TestApp::start_with(backend, Box::new(no_gc)).await;
    let mut kept = Vec::new();
    for i in 0..3 {
        let name = format!("keep-{i}.sh");
        app.upload_ok(&name, format!("#!/bin/sh\necho {i}\n").into_bytes())
            .await;
        kept.push(name);
    }
    for i in 0..5u8 {
        let hash = format!("{:02x}", i * 51).repeat(32);
        let body = stream::iter([Ok::<_, depot::error::Error>(Bytes::from(vec![i; 10]))]);
        app.store
            .write_part(
                &Path::from(format!("blobs/blake3/{}/{hash}", &hash[..2])),
                body,
                u64::MAX,
                OnCut::Discard,
            )
            .await
            .unwrap();
    }
    assert_eq!(app.stored_objects().await.len(), 8);

    let gc = collector(&app, Duration::ZERO).await.with_batch(2);
    let dry = gc.run(Pass::DryRun).await.unwrap();
    assert_eq!(
        (dry.unreferenced_objects, dry.unreferenced_bytes),
        (5, 50),
        "{dry:?}"
    );
    let report = gc.run(Pass::Collect).await.unwrap();
    assert_eq!(
        (report.unreferenced_objects, report.unreferenced_bytes),
        (5, 50),
        "{report:?}"
    );
    assert_eq!(app.stored_objects().await.len(), 3);
    for name in kept {
        let response = app
            .get(Who::Viewer, &format!("/api/v2/files/sys-package/{name}"))
            .await;
        let status = response.status();
        assert!(
            status.is_success() || status.is_redirection(),
            "{name}: {status}"
        );
    }
}

async fn young_objects_are_spared(backend: Backend) {
    let app = TestApp::start_with(backend, Box::new(no_gc)).await;
    litter(&app).await;
    let report = collector(&app, Duration::from_secs(3600))
        .await
        .run(Pass::Collect)
        .await
        .unwrap();
    assert_eq!(report.objects(), 0, "{report:?}");
    assert_eq!(app.stored_objects().await.len(), 1);
}

async fn collection_racing_uploads_keeps_every_package_whole(backend: Backend) {
    let app = TestApp::start_with(backend, Box::new(no_gc)).await;
    let gc = collector(&app, Duration::ZERO).await;
    let content = b"#!/bin/sh\necho shared content\n".to_vec();
    // Uploads and deletes of packages sharing one object, while the collector
    // runs as often as it can with no grace at all. Without grace it also
    // takes staging objects from under uploads in flight (what the grace
    // period is for): such an upload fails cleanly and is tried again. What
    // matters is the end: no package without its bytes.
    let upload = |name: String| {
        let app = &app;
        let content = content.clone();
        async move {
            for _ in 0..20 {
                let response = app.upload(&name, content.clone()).await;
                let (status, body) = envelope(response).await;
                if status.is_success() {
                    return body["data"].clone();
                }
                assert!(status.is_server_error(), "{body}");
            }
            panic!("{name} never went in");
        }
    };
    let churn = async {
        for round in 0..12 {
            let data = upload(format!("s{}.sh", round % 3)).await;
            if round % 2 == 0 {
                let response = app
                    .request(
                        Who::Manager,
                        Method::DELETE,
                        &format!("/api/v2/software-packages/{}", data["id"]),
                    )
                    .send()
                    .await
                    .unwrap();
                assert!(envelope(response).await.0.is_success());
            }
        }
    };
    let collecting = async {
        let mut runs = 0;
        loop {
            gc.run(Pass::Collect).await.unwrap();
            runs += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
            if runs > 500 {
                break;
            }
        }
    };
    tokio::select! {
        () = churn => {}
        () = collecting => panic!("the collector outran the uploads"),
    }
    gc.run(Pass::Collect).await.unwrap();
    // Every package left can be downloaded, byte for byte.
    let (_, list) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    let packages = list["data"]["contents"].as_array().unwrap().clone();
    assert!(!packages.is_empty());
    for p in packages {
        let name = p["fileName"].as_str().unwrap();
        let response = app
            .get(Who::Viewer, &format!("/api/v2/files/sys-package/{name}"))
            .await;
        let bytes = if response.status().is_redirection() {
            let location = response.headers()["location"].to_str().unwrap().to_string();
            reqwest::get(location).await.unwrap().bytes().await.unwrap()
        } else {
            assert!(
                response.status().is_success(),
                "{name}: {}",
                response.status()
            );
            response.bytes().await.unwrap()
        };
        assert_eq!(bytes.as_ref(), content.as_slice(), "{name}");
    }
    assert_eq!(app.stored_objects().await.len(), 1);
}

async fn one_collector_at_a_time(backend: Backend) {
    let app = TestApp::start_with(backend, Box::new(no_gc)).await;
    let db = depot::db::connect(&app.config.database_url).await.unwrap();
    let now = chrono::Utc::now();
    assert!(
        depot::db::locks::try_acquire(
            &db,
            "gc",
            "another-replica",
            now,
            now + chrono::Duration::minutes(5)
        )
        .await
        .unwrap()
    );
    litter(&app).await;
    let gc = collector(&app, Duration::ZERO).await;
    let report = gc.run(Pass::Collect).await.unwrap();
    assert_eq!(
        report,
        Report {
            skipped: true,
            ..Report::default()
        }
    );
    assert_eq!(
        app.stored_objects().await.len(),
        1,
        "nothing removed while another collects"
    );
    // Once the other replica is done, this one collects.
    depot::db::locks::release(&db, "gc", "another-replica")
        .await
        .unwrap();
    assert_eq!(gc.run(Pass::Collect).await.unwrap().objects(), 3);
}
