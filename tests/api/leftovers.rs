//! What interrupted writes leave where no listing of objects looks — a local
//! store's temporary files, S3's unaborted multipart uploads — is found by
//! the doctor and removed by GC, in each store.

use std::time::Duration;

use depot::app::{Migrations, Services};
use depot::config::StorageConfig;
use depot::domain::gc::Pass;
use reqwest::StatusCode;

use crate::backend_tests;
use crate::common::{Backend, TestApp, Who, envelope};

backend_tests!(unfinished_writes_are_reported_and_collected);

/// A write that died half way, left the way each store leaves it; its size.
async fn leave_unfinished_write(app: &TestApp) -> u64 {
    match &app.config.storage {
        StorageConfig::Local { root } => {
            // What object_store's LocalFileSystem writes before its rename.
            let dir = root.join("staging");
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("6b0f7c1e-0000-4000-8000-00000000dead#1");
            std::fs::write(&path, [7u8; 1000]).unwrap();
            // Left by a process killed two days ago.
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            let then = std::time::SystemTime::now() - Duration::from_secs(2 * 24 * 3600);
            file.set_modified(then).unwrap();
            1000
        }
        StorageConfig::S3(s3) => {
            let client = sdk(s3);
            let key = format!("{}/staging/6b0f7c1e-dead", s3.prefix.as_deref().unwrap());
            let upload = client
                .create_multipart_upload()
                .bucket(&s3.bucket)
                .key(&key)
                .send()
                .await
                .unwrap();
            client
                .upload_part()
                .bucket(&s3.bucket)
                .key(&key)
                .upload_id(upload.upload_id().unwrap())
                .part_number(1)
                .body(vec![7u8; 1000].into())
                .send()
                .await
                .unwrap();
            1000
        }
    }
}

fn sdk(s3: &depot::config::S3Config) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            s3.access_key_id.clone().unwrap(),
            s3.secret_access_key.as_ref().unwrap().expose().to_string(),
            None,
            None,
            "test",
        ))
        .endpoint_url(s3.endpoint.clone().unwrap())
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// How many unfinished writes the store itself still holds.
async fn still_there(app: &TestApp) -> usize {
    match &app.config.storage {
        StorageConfig::Local { root } => walkdir(root)
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with("#1"))
            .count(),
        StorageConfig::S3(s3) => sdk(s3)
            .list_multipart_uploads()
            .bucket(&s3.bucket)
            .prefix(format!("{}/", s3.prefix.as_deref().unwrap()))
            .send()
            .await
            .unwrap()
            .uploads()
            .len(),
    }
}

fn walkdir(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

async fn unfinished_writes_are_reported_and_collected(backend: Backend) {
    let app = TestApp::start_with(backend, Box::new(|c| c.gc_interval = None)).await;
    let size = leave_unfinished_write(&app).await;
    assert_eq!(still_there(&app).await, 1);

    // The doctor counts an old one among what GC would remove (a young one
    // may be a write in flight). S3 keeps when an upload began, which a
    // test cannot set back: there a collector with no grace finds it.
    if backend == Backend::SqliteLocal {
        let (status, body) = envelope(app.get(Who::Admin, "/api/v2/diagnostics").await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let orphans = body["data"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "orphaned objects")
            .unwrap()
            .clone();
        assert_eq!(orphans["status"], "WARN", "{orphans}");
        assert!(
            orphans["detail"]
                .as_str()
                .unwrap()
                .contains("; 1 unfinished write(s), "),
            "{orphans}"
        );
    }
    let mut config = app.config.clone();
    config.gc_grace = Duration::ZERO;
    let services = Services::build(&config, Migrations::Require).await.unwrap();
    let gc = services.collector.with_staging_grace(Duration::ZERO);
    let dry = gc.run(Pass::DryRun).await.unwrap();
    assert_eq!(
        (dry.unfinished_writes, dry.unfinished_bytes),
        (1, size),
        "{dry:?}"
    );
    assert!(dry.oldest_unfinished.is_some(), "{dry:?}");
    assert_eq!(dry.blind_spot, None, "{dry:?}");
    assert!(
        dry.to_string()
            .contains("would remove 1 unfinished write(s)"),
        "{dry}"
    );
    assert_eq!(still_there(&app).await, 1, "a dry run removes nothing");

    let report = gc.run(Pass::Collect).await.unwrap();
    assert_eq!(
        (report.unfinished_writes, report.unfinished_bytes),
        (1, size),
        "{report:?}"
    );
    assert_eq!(still_there(&app).await, 0, "GC left the unfinished write");
    let again = gc.run(Pass::Collect).await.unwrap();
    assert_eq!(again.unfinished_writes, 0, "{again:?}");
}
