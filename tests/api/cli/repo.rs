//! `depot repo list|publish|verify` on the embedded default, beside a
//! running server.

use depot::config::StorageConfig;

use super::{depot, run};
use crate::common::{Backend, TestApp};
use crate::repos::{Rpm, wait_for};

async fn cli(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let (dir, args): (_, Vec<String>) = (
        dir.to_path_buf(),
        args.iter().map(|a| a.to_string()).collect(),
    );
    tokio::task::spawn_blocking(move || run(depot(&dir).args(&args), ""))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repo_commands_list_publish_and_verify() {
    let app = TestApp::start(Backend::SqliteLocal).await;
    for rpm in [
        Rpm::new("cli-a", "1.0", "1.el7", "x86_64"),
        Rpm::new("cli-b", "1.0", "1.el7", "noarch"),
    ] {
        app.upload_ok(&rpm.file_name(), rpm.build()).await;
    }
    wait_for(&app, "el7", "x86_64", 2).await;
    let StorageConfig::Local { root } = &app.config.storage else {
        unreachable!("the embedded default stores local files")
    };
    let dir = root.parent().unwrap();

    let (ok, out, err) = cli(dir, &["repo", "list"]).await;
    assert!(ok, "{out}{err}");
    let line = out.lines().find(|l| l.starts_with("el7/x86_64")).unwrap();
    assert_eq!(line.split_whitespace().nth(1), Some("2"), "{out}");

    let (ok, out, err) = cli(dir, &["repo", "verify"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("el7/x86_64: OK"), "{out}");
    assert!(out.contains("3 files, 2 packages"), "{out}");

    let (ok, out, err) = cli(dir, &["repo", "publish", "el7/x86_64"]).await;
    assert!(ok, "{out}{err}");
    assert_eq!(out.trim(), "el7/x86_64: unchanged");
    let (ok, _, err) = cli(dir, &["repo", "publish", "el7"]).await;
    assert!(!ok && err.contains("is not OS/ARCH"), "{err}");

    // The metadata files changed on disk behind depot's back (the current
    // publication's three, and any an earlier publication left for its grace).
    for entry in std::fs::read_dir(root.join("repos/el7/x86_64")).unwrap() {
        let file = entry.unwrap().path();
        let mut bytes = std::fs::read(&file).unwrap();
        // The gzip header's OS byte: still a valid gzip of the same XML.
        bytes[9] ^= 1;
        std::fs::write(&file, bytes).unwrap();
    }
    let (ok, out, err) = cli(dir, &["repo", "verify", "el7/x86_64"]).await;
    assert!(!ok, "{out}");
    assert!(out.contains("el7/x86_64: 3 problem(s)"), "{out}");
    assert!(out.contains("-primary.xml.gz: stored bytes are"), "{out}");
    assert!(err.contains("does not match"), "{err}");
}
