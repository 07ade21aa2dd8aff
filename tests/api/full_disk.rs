//! The embedded database on a full disk: every write that answered success
//! has committed, and the server writes again once space is back.
//!
//! A real full file system (a small tmpfs under the database), not a fault
//! injected into depot: SQLite finds out at commit time, when the WAL grows,
//! which is where acknowledged writes used to vanish.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Backend, TestApp, Who, config_for, envelope};

/// A tmpfs of `size` mounted on `dir`, unmounted on drop.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("running mount");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (as scripts/test.sh runs in CI)"
        );
        Self {
            dir: dir.to_path_buf(),
        }
    }

    /// Fills what is left with a file, leaving the disk full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        // Byte-wise, to leave no gap a commit could slip through.
        while file.write_all(&[0]).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

async fn create_token(app: &TestApp, name: &str) -> (StatusCode, Value) {
    let response = app
        .request(Who::Admin, Method::POST, "/api/v2/tokens")
        .json(&json!({"name": name, "user": "manager"}))
        .send()
        .await
        .unwrap();
    envelope(response).await
}

async fn token_works(app: &TestApp, secret: &str) -> bool {
    let response = app
        .http
        .get(app.url("/api/v2/software-packages"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    response.status() == StatusCode::OK
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_disk_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let disk = SmallDisk::mount(&dir.path().join("db"), "16m");
    let mut config = config_for(Backend::SqliteLocal, dir.path()).await;
    config.database_url = format!("sqlite://{}/depot.db?mode=rwc", disk.dir.display());
    let app = TestApp::start_config(Backend::SqliteLocal, config.clone(), dir).await;
    // Connections warm, the admin's password cached: what follows measures writes.
    let (status, body) = create_token(&app, "before").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let filler = disk.fill();
    let mut acknowledged = Vec::new();
    let mut refused = 0;
    for i in 0..40 {
        let (status, body) = create_token(&app, &format!("full-{i}")).await;
        match status {
            StatusCode::OK => acknowledged.push(body["data"]["token"].as_str().unwrap().to_owned()),
            StatusCode::INSUFFICIENT_STORAGE | StatusCode::SERVICE_UNAVAILABLE => refused += 1,
            other => panic!("a full disk answered {other}: {body}"),
        }
    }
    assert!(refused > 0, "the disk never filled up: nothing was refused");

    // Space is back: the server writes again, without a restart.
    std::fs::remove_file(filler).unwrap();
    let (status, body) = create_token(&app, "after").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let after = body["data"]["token"].as_str().unwrap().to_owned();
    acknowledged.push(after);

    // Every token that was answered is there, now and after a restart (so
    // it was committed, not held in a transaction that never ended).
    for secret in &acknowledged {
        assert!(
            token_works(&app, secret).await,
            "an acknowledged token is lost"
        );
    }
    let (config, dir) = app.stop().await;
    let app = TestApp::start_config(Backend::SqliteLocal, config, dir).await;
    for secret in &acknowledged {
        assert!(
            token_works(&app, secret).await,
            "an acknowledged token is lost after a restart"
        );
    }
    let (_, dir) = app.stop().await;
    drop(disk);
    drop(dir);
}
