//! What goes wrong: a region's store down and back (converges, downloads
//! keep working), a replica dying mid-copy (exactly one correct object),
//! two replicas in two regions (no row copied twice), deletes (every region
//! emptied after the grace period, never under a copy in flight).

use std::time::Duration;

use depot::store::BlobKey;
use object_store::ObjectStoreExt;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::Value;

use super::{
    add_region, blobs_in, download_from, region, region_config, script, start, store_of,
    wait_present,
};
use crate::common::garage::Garage;
use crate::common::{Backend, TestApp, Who};

async fn db(app: &TestApp) -> sea_orm::DatabaseConnection {
    depot::db::connect(&app.config.database_url).await.unwrap()
}

/// (state, attempts) of every status row of `region`.
async fn rows(app: &TestApp, region: &str) -> Vec<(String, i32)> {
    let db = db(app).await;
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT state, attempts FROM region_blobs WHERE region = $1 ORDER BY blob_key",
            [region.into()],
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get("", "state").unwrap(),
                r.try_get("", "attempts").unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_down_and_back_converges_while_downloads_keep_working() {
    let (hz, sh) = (Garage::start().await, Garage::start().await);
    let mut bj = Garage::start().await;
    let app = start(&hz).await;
    add_region(&app, "hz", &hz, &[], true).await;
    add_region(&app, "sh", &sh, &[], false).await;
    add_region(&app, "bj", &bj, &[], false).await;
    bj.kill();
    let mut expected = Vec::new();
    for i in 0..4 {
        let bytes = script(&format!("down{i}"), 50_000 + i);
        app.upload_ok(&format!("down{i}.sh"), bytes.clone()).await;
        expected.push(bytes);
    }
    wait_present(&app, "sh", 4, Duration::from_secs(60)).await;
    // bj is down: its copies fail and are retried; its agents are served
    // by a region that has the blobs, every time.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let bj_status = region(&app, "bj").await;
        if bj_status["failed"].as_u64() > Some(0) && bj_status["lastError"].is_string() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{bj_status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (i, bytes) in expected.iter().enumerate() {
        let (status, served, body) =
            download_from(&app.http, &app, &format!("down{i}.sh"), Some("bj")).await;
        assert_eq!(status, StatusCode::OK);
        assert_ne!(served.as_deref(), Some("bj"));
        assert!(body == *bytes);
    }
    // The doctor names the region whose store does not answer.
    let (_, diagnostics) =
        crate::common::envelope(app.get(Who::Admin, "/api/v2/diagnostics").await).await;
    let checks = diagnostics["data"]["checks"].as_array().unwrap();
    let failing: Vec<&Value> = checks
        .iter()
        .filter(|c| c["name"] == "region store reachable" && c["status"] == "FAIL")
        .collect();
    assert_eq!(failing.len(), 1, "{diagnostics}");
    assert!(failing[0]["detail"].as_str().unwrap().starts_with("bj:"));
    // Back: no manual step, it converges.
    bj.resume().await;
    wait_present(&app, "bj", 4, Duration::from_secs(60)).await;
    assert_eq!(blobs_in(&bj).await.len(), 4);
    for (i, bytes) in expected.iter().enumerate() {
        let (status, served, body) =
            download_from(&app.http, &app, &format!("down{i}.sh"), Some("bj")).await;
        assert_eq!((status, served.as_deref()), (StatusCode::OK, Some("bj")));
        assert!(body == *bytes);
    }

    // Drift: an object removed behind depot's back is found and copied again.
    let key = blobs_in(&bj).await.remove(0);
    store_of(&bj)
        .delete(&BlobKey::from_stored(key.clone()))
        .await
        .unwrap();
    let response = app
        .request(Who::Admin, reqwest::Method::POST, "/api/v2/regions/sync")
        .send()
        .await
        .unwrap();
    let (status, body) = crate::common::envelope(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The sync finds it, unless the background reconciler (every second
    // here) found it first; either way it is copied again.
    assert!(body["data"]["drifted"].as_u64() <= Some(1), "{body}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !blobs_in(&bj).await.contains(&key) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{key} never copied again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_present(&app, "bj", 4, Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_dead_mid_copy_leaves_exactly_one_correct_object() {
    let (hz, sh) = (Garage::start().await, Garage::start().await);
    let app = start(&hz).await;
    add_region(&app, "hz", &hz, &[], true).await;
    let bytes = script("big", 24 << 20);
    app.upload_ok("big.sh", bytes.clone()).await;
    let key = blobs_in(&hz).await.remove(0);
    // What a replica that died copying to sh leaves: the row claimed by it
    // until its lease runs out, and half a multipart upload in sh's bucket.
    let db = db(&app).await;
    let s3 = store_of(&sh);
    let raw = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(sh.s3_config().bucket)
        .with_endpoint(sh.endpoint.clone())
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id(sh.s3_config().access_key_id.unwrap())
        .with_secret_access_key(sh.s3_config().secret_access_key.unwrap().expose())
        .build()
        .unwrap();
    let mut half = raw.put_multipart(&key.as_str().into()).await.unwrap();
    half.put_part(bytes[..(8 << 20)].to_vec().into())
        .await
        .unwrap();
    drop(half);
    // sh is down when it is added: the first copy fails; then its row is
    // made what the dead replica's would be.
    let mut sh = sh;
    sh.kill();
    add_region(&app, "sh", &sh, &[], false).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let taken = db
            .execute_raw(Statement::from_string(
                db.get_database_backend(),
                "UPDATE region_blobs SET state = 'copying', lease_owner = 'dead-replica', \
                 lease_until = now() + interval '4 seconds', attempts = 1 \
                 WHERE region = 'sh' AND state = 'failed'",
            ))
            .await
            .unwrap();
        if taken.rows_affected() == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "sh's first copy never failed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sh.resume().await;
    // Nobody touches it while the lease holds.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(rows(&app, "sh").await, vec![("copying".into(), 1)]);
    assert!(blobs_in(&sh).await.is_empty());
    // Then a live worker takes it over, and the copy is whole and verified.
    wait_present(&app, "sh", 1, Duration::from_secs(60)).await;
    assert_eq!(rows(&app, "sh").await, vec![("present".into(), 2)]);
    assert_eq!(blobs_in(&sh).await, vec![key.clone()]);
    assert!(s3.holds_verified(&BlobKey::from_stored(key)).await.unwrap());
    let (status, served, body) = download_from(&app.http, &app, "big.sh", Some("sh")).await;
    assert_eq!((status, served.as_deref()), (StatusCode::OK, Some("sh")));
    assert!(body == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_in_two_regions_copy_each_blob_once() {
    let (hz, sh) = (Garage::start().await, Garage::start().await);
    let dir = tempfile::tempdir().unwrap();
    let mut config = region_config(&hz, dir.path()).await;
    config.regions.own = Some("hz".into());
    config.regions.workers = 4;
    let first = TestApp::start_config(Backend::PostgresS3, config.clone(), dir).await;
    config.regions.own = Some("sh".into());
    let second =
        TestApp::start_config(Backend::PostgresS3, config, tempfile::tempdir().unwrap()).await;
    add_region(&first, "hz", &hz, &[], true).await;
    add_region(&first, "sh", &sh, &[], false).await;
    // Both replicas read the regions again every second here: until the
    // second has, it cannot copy to sh, and a copy it tried would fail and
    // count as an attempt.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for i in 0..12 {
        let app = if i % 2 == 0 { &first } else { &second };
        app.upload_ok(&format!("r{i}.sh"), script(&format!("r{i}"), 200_000 + i))
            .await;
    }
    wait_present(&second, "sh", 12, Duration::from_secs(90)).await;
    // One claim per row: no copy was done twice.
    let rows = rows(&first, "sh").await;
    assert_eq!(rows.len(), 12);
    assert!(
        rows.iter().all(|r| *r == ("present".to_string(), 1)),
        "{rows:?}"
    );
    assert_eq!(blobs_in(&sh).await.len(), 12);
    // Each replica serves from its own region by default.
    let (_, served, _) = download_from(&second.http, &second, "r3.sh", None).await;
    assert_eq!(served.as_deref(), Some("sh"));
    let (_, served, _) = download_from(&first.http, &first, "r3.sh", None).await;
    assert_eq!(served.as_deref(), Some("hz"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_empties_every_region_after_the_grace_period() {
    let (hz, sh, bj) = (
        Garage::start().await,
        Garage::start().await,
        Garage::start().await,
    );
    let dir = tempfile::tempdir().unwrap();
    let mut config = region_config(&hz, dir.path()).await;
    config.gc_interval = Some(Duration::from_secs(1));
    config.gc_grace = Duration::from_secs(2);
    let app = TestApp::start_config(Backend::PostgresS3, config, dir).await;
    add_region(&app, "hz", &hz, &[], true).await;
    add_region(&app, "sh", &sh, &[], false).await;
    add_region(&app, "bj", &bj, &[], false).await;
    let data = app.upload_ok("gone.sh", script("gone", 30_000)).await;
    app.upload_ok("kept.sh", script("kept", 30_000)).await;
    wait_present(&app, "sh", 2, Duration::from_secs(60)).await;
    wait_present(&app, "bj", 2, Duration::from_secs(60)).await;
    let id = data["id"].as_i64().unwrap();
    let response = app
        .request(
            Who::Manager,
            reqwest::Method::DELETE,
            &format!("/api/v2/software-packages/{id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let counts = (
            blobs_in(&hz).await.len(),
            blobs_in(&sh).await.len(),
            blobs_in(&bj).await.len(),
        );
        if counts == (1, 1, 1) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{counts:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for name in ["hz", "sh", "bj"] {
        let status = region(&app, name).await;
        assert_eq!(status["present"], 1, "{status}");
    }
    let (status, _, body) = download_from(&app.http, &app, "kept.sh", Some("bj")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body == script("kept", 30_000));
}
