//! Replication: an upload is downloadable at once from every region
//! (served from where it is), and from its own region once replicated.

use std::time::Duration;

use reqwest::StatusCode;

use depot::config::StorageConfig;
use serde_json::json;

use super::{
    add_region, blobs_in, download_from, post_region, region, script, start, wait_present,
};
use crate::common::garage::Garage;
use crate::common::{Backend, TestApp, Who, config_for, expect_error, metrics, sample};

/// SQLite and local directories as regions: the same replication, proxied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_directories_on_sqlite_replicate_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(Backend::SqliteLocal, dir.path()).await;
    config.regions.poll = Duration::from_millis(200);
    let StorageConfig::Local { root } = config.storage.clone() else {
        unreachable!()
    };
    let app = TestApp::start_config(Backend::SqliteLocal, config, dir).await;
    let other = tempfile::tempdir().unwrap();
    post_region(
        &app,
        &json!({"name": "hz", "storageUrl": format!("file://{}", root.display())}),
    )
    .await;
    post_region(
        &app,
        &json!({"name": "sh", "storageUrl": format!("file://{}", other.path().display()), "cidrs": ["127.0.0.2"]}),
    )
    .await;
    let bytes = script("local", 70_000);
    app.upload_ok("local.sh", bytes.clone()).await;
    assert_eq!(region(&app, "hz").await["present"], 1);
    wait_present(&app, "sh", 1, Duration::from_secs(30)).await;
    let (status, served, body) = download_from(&app.http, &app, "local.sh", Some("sh")).await;
    assert_eq!((status, served.as_deref()), (StatusCode::OK, Some("sh")));
    assert!(body == bytes);
    // A redirect cannot be presigned for local files: the bytes are served.
    let response = app
        .get(Who::Viewer, "/api/v2/files/sys-package/local.sh?region=sh")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-depot-region"], "sh");
    let copies = walk(other.path());
    assert_eq!(copies.len(), 1, "{copies:?}");
    assert!(copies[0].contains("blobs/blake3/"));
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_is_served_everywhere_at_once_and_from_its_region_once_replicated() {
    let (hz, sh) = (Garage::start().await, Garage::start().await);
    let app = start(&hz).await;
    // No region yet: depot serves as always, without a region header.
    let bytes = script("before", 10_000);
    app.upload_ok("before.sh", bytes.clone()).await;
    let (status, served, body) = download_from(&app.http, &app, "before.sh", Some("sh")).await;
    assert_eq!(
        (status, served, body == bytes),
        (StatusCode::OK, None, true)
    );

    add_region(&app, "hz", &hz, &[], true).await;
    add_region(&app, "sh", &sh, &["10.20.0.0/16"], false).await;
    // The package stored before the region existed is queued for it too.
    wait_present(&app, "sh", 1, Duration::from_secs(30)).await;
    let hz_status = region(&app, "hz").await;
    assert_eq!(hz_status["home"], true);
    assert_eq!(hz_status["local"], true);
    assert_eq!(hz_status["present"], 1, "{hz_status}");

    // A region that is down cannot have the new upload yet: sh is stopped
    // while the upload lands, so the first downloads from sh are served by hz.
    let mut sh = sh;
    sh.kill();
    let bytes = script("fresh", 300_000);
    let data = app.upload_ok("fresh.sh", bytes.clone()).await;
    assert_eq!(data["fileName"], "fresh.sh");
    for asked in [Some("sh"), Some("hz"), None, Some("nowhere")] {
        let (status, served, body) = download_from(&app.http, &app, "fresh.sh", asked).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(served.as_deref(), Some("hz"), "asked {asked:?}");
        assert!(body == bytes);
    }
    // A redirect asked for goes to where the blob is, never to a missing object.
    let response = app
        .get(
            Who::Viewer,
            "/api/v2/files/sys-package/fresh.sh?redirect=1&region=sh",
        )
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["x-depot-region"], "hz");
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&hz.endpoint), "{location}");

    sh.resume().await;
    let sh_status = wait_present(&app, "sh", 2, Duration::from_secs(60)).await;
    assert_eq!(sh_status["presentBytes"], 310_000, "{sh_status}");
    assert_eq!(blobs_in(&sh).await.len(), 2);

    // Now sh serves its own agents: by header, by query, redirected or not.
    let (status, served, body) = download_from(&app.http, &app, "fresh.sh", Some("sh")).await;
    assert_eq!((status, served.as_deref()), (StatusCode::OK, Some("sh")));
    assert!(body == bytes);
    let response = app
        .get(
            Who::Viewer,
            "/api/v2/files/sys-package/fresh.sh?redirect=1&region=sh",
        )
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["x-depot-region"], "sh");
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&sh.endpoint), "{location}");
    let fetched = reqwest::get(&location).await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert!(fetched.bytes().await.unwrap() == bytes);

    // The status says what happened to sh, and the metrics count it.
    let text = metrics(&app).await;
    assert!(
        sample(&text, r#"depot_region_replicated_bytes_total{region="sh"}"#).unwrap() >= 310_000.0
    );
    assert!(
        sample(
            &text,
            r#"depot_region_downloads_total{reason="explicit",region="sh"}"#
        )
        .unwrap()
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_regions_each_get_every_blob_and_the_configuration_is_guarded() {
    let (hz, sh, bj) = (
        Garage::start().await,
        Garage::start().await,
        Garage::start().await,
    );
    let app = start(&hz).await;
    add_region(&app, "hz", &hz, &[], false).await;
    add_region(&app, "sh", &sh, &[], false).await;
    add_region(&app, "bj", &bj, &[], false).await;
    for i in 0..5 {
        app.upload_ok(&format!("p{i}.sh"), script(&format!("p{i}"), 5_000 + i))
            .await;
    }
    for name in ["sh", "bj"] {
        wait_present(&app, name, 5, Duration::from_secs(60)).await;
    }
    for garage in [&hz, &sh, &bj] {
        assert_eq!(blobs_in(garage).await.len(), 5);
    }
    for (asked, expect) in [("hz", "hz"), ("sh", "sh"), ("bj", "bj")] {
        let (status, served, body) = download_from(&app.http, &app, "p3.sh", Some(asked)).await;
        assert_eq!((status, served.as_deref()), (StatusCode::OK, Some(expect)));
        assert!(body == script("p3", 5_003));
    }

    // The first region is home; it goes only when it is the last.
    assert_eq!(region(&app, "hz").await["home"], true);
    let remove = |name: &str| {
        app.request(
            Who::Admin,
            reqwest::Method::DELETE,
            &format!("/api/v2/regions/{name}"),
        )
        .send()
    };
    expect_error(remove("hz").await.unwrap(), StatusCode::CONFLICT, 90050).await;
    expect_error(remove("nope").await.unwrap(), StatusCode::NOT_FOUND, 10002).await;
    // Viewers read the status; only admins change regions.
    let refused = app
        .request(Who::Manager, reqwest::Method::DELETE, "/api/v2/regions/bj")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(remove("bj").await.unwrap().status(), StatusCode::OK);
    assert_eq!(super::status(&app).await.len(), 2);
    // A removed region is no longer chosen; downloads still work.
    let (status, served, _) = download_from(&app.http, &app, "p3.sh", Some("bj")).await;
    assert_eq!((status, served.as_deref()), (StatusCode::OK, Some("hz")));
    // Each change is in the audit log (written by a batching writer).
    for _ in 0..100 {
        let (_, events) = crate::common::envelope(
            app.get(Who::Admin, "/api/v2/audit-events?action=region.remove")
                .await,
        )
        .await;
        if events["data"]["contents"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("region.remove is not in the audit log");
}
