//! `depot patch query-hosts | host-install | drop-host` against a server.

use reqwest::Method;

use super::{depot, run};
use crate::common::{Backend, PASSWORD, Who};
use crate::patches::hosts::{P1, package, report, report_body, uploaded};
use crate::patches::{Signer, call, start};

async fn cli(server: &str, args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec!["patch".to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    all.extend([
        "--server".into(),
        server.to_string(),
        "--user".into(),
        "manager".into(),
    ]);
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        run(
            depot(&path)
                .env_remove("DEPOT_TOKEN")
                .env("DEPOT_PASSWORD", PASSWORD)
                .args(&all),
            "",
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_host_commands() {
    let signer = Signer::new();
    let app = start(Backend::SqliteLocal, &signer).await;
    uploaded(&app, &signer).await;
    call(&app, Who::Manager, Method::POST, &format!("/v1/apply/{P1}")).await;
    let body = report_body(
        "compute-0",
        "worker",
        "idle",
        vec![package("foo", "1.0", "x86_64")],
    );
    assert!(
        report(&app, Who::Manager, &body)
            .await
            .status()
            .is_success()
    );

    let (ok, out, err) = cli(&app.base, &["query-hosts"]).await;
    assert!(ok, "{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with("compute-0"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.contains("192.0.2.7") && row.contains("No") && row.contains("worker"),
        "{out}"
    );
    assert!(
        out.contains("missing: bar-1.0-1.el7.noarch foo-1.1-1.el7.x86_64"),
        "{out}"
    );

    let (ok, out, err) = cli(&app.base, &["host-install", "compute-0"]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("installation request sent to compute-0"),
        "{out}"
    );
    let (ok, _, err) = cli(&app.base, &["host-install", "compute-9"]).await;
    assert!(!ok);
    assert!(err.contains("compute-9 is unrecognized"), "{err}");

    let (ok, out, err) = cli(&app.base, &["drop-host", "compute-0"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("compute-0 has been dropped"), "{out}");
    let (ok, out, _) = cli(&app.base, &["query-hosts"]).await;
    assert!(ok && !out.contains("compute-0"), "{out}");
}
