//! The real dnf installing from a yum repository whose package blobs are
//! served by another region, chosen by the client's address: dnf reaches
//! depot through a relay whose connections come from 127.0.0.2 (an agent in
//! region sh, as a NAT or an egress proxy would make it), and the bytes can
//! only have come from sh.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use depot::store::BlobKey;
use tokio::net::{TcpListener, TcpSocket};

use super::{add_region, blobs_in, download_from, region_config, store_of, wait_present};
use crate::common::garage::Garage;
use crate::common::{Backend, TestApp, metrics};
use crate::repos::dnf::{dnf, packages, repo_file};
use crate::repos::wait_for;

/// A TCP relay on 127.0.0.1 whose connections to `target` come from
/// `source`; its address.
async fn relay(target: std::net::SocketAddr, source: &str) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let source: std::net::SocketAddr = format!("{source}:0").parse().unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                let socket = TcpSocket::new_v4().unwrap();
                socket.bind(source).unwrap();
                let Ok(mut outbound) = socket.connect(target).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    addr
}

/// Downloads served per (region, reason), from depot's metrics.
async fn served(app: &TestApp, region: &str, reason: Option<&str>) -> f64 {
    let text = metrics(app).await;
    text.lines()
        .filter(|l| l.starts_with("depot_region_downloads_total{"))
        .filter(|l| l.contains(&format!("region=\"{region}\"")))
        .filter(|l| reason.is_none_or(|r| l.contains(&format!("reason=\"{r}\""))))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A dnf root of its own with depot's .repo file pointing at `base`.
async fn dnf_root(app: &TestApp, base: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("repos.d")).unwrap();
    let repo = repo_file(app).await.replace(
        &format!("baseurl={}/", app.base),
        &format!("baseurl={base}/"),
    );
    assert!(
        repo.contains(&format!("baseurl={base}/repos/el7/")),
        "{repo}"
    );
    std::fs::write(dir.path().join("repos.d/depot.repo"), repo).unwrap();
    dir
}

async fn run_dnf(root: &Path, args: &'static [&'static str]) -> bool {
    let root: PathBuf = root.to_path_buf();
    tokio::task::spawn_blocking(move || dnf(&root, args).status.success())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnf_installs_from_the_region_its_address_is_in() {
    let (hz, sh) = (Garage::start().await, Garage::start().await);
    let dir = tempfile::tempdir().unwrap();
    let mut config = region_config(&hz, dir.path()).await;
    // No drift check during the test: it would copy the bytes back to hz.
    config.regions.reconcile_every = Duration::from_secs(3600);
    let app = TestApp::start_config(Backend::PostgresS3, config, dir).await;
    add_region(&app, "hz", &hz, &[], true).await;
    add_region(&app, "sh", &sh, &["127.0.0.2/32"], false).await;
    let mut built = std::collections::HashMap::new();
    for rpm in packages() {
        let bytes = rpm.build();
        app.upload_ok(&rpm.file_name(), bytes.clone()).await;
        built.insert(rpm.file_name(), bytes);
    }
    wait_for(&app, "el7", "x86_64", 2).await;
    wait_present(&app, "sh", 2, Duration::from_secs(60)).await;
    // The packages' bytes are then taken out of hz behind depot's back:
    // only sh can serve them (hz keeps the repository's metadata).
    let keys = blobs_in(&hz).await;
    assert_eq!(keys.len(), 2);
    let hz_store = store_of(&hz);
    for key in keys {
        hz_store.delete(&BlobKey::from_stored(key)).await.unwrap();
    }
    assert_eq!(blobs_in(&sh).await.len(), 2);

    // An agent in sh: its address chooses sh, and dnf installs.
    let depot_addr = app.base.trim_start_matches("http://").parse().unwrap();
    let via_sh = relay(depot_addr, "127.0.0.2").await;
    let agent = dnf_root(&app, &format!("http://{via_sh}")).await;
    assert!(run_dnf(agent.path(), &["install", "depot-app"]).await);
    let query = Command::new("rpm")
        .args(["--root"])
        .arg(agent.path().join("root"))
        .args(["-q", "depot-app", "depot-lib"])
        .output()
        .unwrap();
    let installed = String::from_utf8_lossy(&query.stdout);
    assert!(query.status.success(), "{installed}");
    assert!(
        installed.contains("depot-app-2.0-3.el7.x86_64"),
        "{installed}"
    );
    assert!(
        installed.contains("depot-lib-1.0-1.el7.noarch"),
        "{installed}"
    );
    assert!(served(&app, "sh", Some("address")).await >= 2.0);
    assert_eq!(served(&app, "hz", None).await, 0.0);

    // From 127.0.0.1 home (hz) is chosen, which lost the bytes: that
    // answer fails, so the install owed its bytes to the relay's address.
    // depot then avoids hz for a while and serves from sh.
    let rpm = "depot-lib-1.0-1.el7.noarch.rpm";
    let (status, _, _) = download_from(&app.http, &app, rpm, None).await;
    assert!(!status.is_success(), "{status}");
    let (status, served_by, body) = download_from(&app.http, &app, rpm, None).await;
    assert_eq!((status.as_u16(), served_by.as_deref()), (200, Some("sh")));
    assert!(body == built[rpm]);
}
