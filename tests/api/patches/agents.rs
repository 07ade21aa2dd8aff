//! `depot agent` with the real rpm and dnf, each host in an install root:
//! two agents of different personalities take a patch through apply
//! (Partial-Apply → Applied) and remove (Partial-Remove → Available); an
//! agent killed mid-install leaves its host installing (apply waits) and
//! the next run converges; two replicas serve one lifecycle.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::process::Command;

use super::hosts::{P1, patchstate, stuck_check, uploaded};
use super::{PatchSpec, Signer, call, start, upload};
use crate::backend_tests;
use crate::common::{Backend, TestApp, Who};
use crate::repos::{Rpm, wait_for};
use crate::tokens::create_token;

backend_tests!(
    two_agents_converge_through_apply_and_remove,
    an_agent_killed_mid_install_is_taken_over,
    a_dnf_run_past_its_timeout_fails_the_install,
    two_replicas_serve_one_lifecycle
);

const BIN: &str = env!("CARGO_BIN_EXE_depot");

/// A manager's token for the agents.
async fn agent_token(app: &TestApp) -> String {
    let t = create_token(app, json!({"name": "agents", "user": "manager"})).await;
    t["token"].as_str().unwrap().to_string()
}

fn agent(server: &str, token: &str, host: &str, personality: &str, root: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["agent", "--server", server, "--token", token])
        .args(["--hostname", host, "--personality", personality])
        .arg("--installroot")
        .arg(root)
        .arg("--once")
        .env_remove("DEPOT_URL")
        .env_remove("DEPOT_TOKEN")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Runs one agent round; whether it succeeded.
async fn once(server: &str, token: &str, host: &str, personality: &str, root: &Path) -> bool {
    let out = agent(server, token, host, personality, root)
        .output()
        .await
        .unwrap();
    eprintln!(
        "agent {host}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.success()
}

/// `rpm -q` in an install root.
fn rpm_q(root: &Path, names: &[&str]) -> String {
    let out = std::process::Command::new("rpm")
        .arg("--root")
        .arg(root)
        .arg("-q")
        .args(names)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn host_entry(app: &TestApp, name: &str) -> Value {
    let hosts = call(app, Who::Viewer, Method::GET, "/v1/query_hosts").await;
    hosts["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hostname"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn install(app: &TestApp, host: &str) {
    let r = call(
        app,
        Who::Manager,
        Method::POST,
        &format!("/patch/host_install_async/{host}"),
    )
    .await;
    assert_eq!(r["error"], "", "{r}");
}

async fn two_agents_converge_through_apply_and_remove(backend: Backend) {
    let signer = Signer::new();
    let app = start(backend, &signer).await;
    uploaded(&app, &signer).await;
    let token = agent_token(&app).await;
    let (c, w) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // First reports: nothing applied, nothing to do.
    assert!(once(&app.base, &token, "controller-0", "controller", c.path()).await);
    assert!(once(&app.base, &token, "worker-0", "worker", w.path()).await);
    assert_eq!(patchstate(&app, P1).await, "Available");

    let r = call(&app, Who::Manager, Method::POST, &format!("/v1/apply/{P1}")).await;
    assert_eq!(r["error"], "", "{r}");
    assert_eq!(patchstate(&app, P1).await, "Partial-Apply");
    wait_for(&app, "patches", "19.12", 2).await;
    // Without a request an agent only reports.
    assert!(once(&app.base, &token, "controller-0", "controller", c.path()).await);
    assert!(rpm_q(c.path(), &["foo"]).contains("not installed"));
    install(&app, "controller-0").await;
    install(&app, "worker-0").await;
    assert!(once(&app.base, &token, "controller-0", "controller", c.path()).await);
    assert_eq!(patchstate(&app, P1).await, "Partial-Apply");
    assert!(once(&app.base, &token, "worker-0", "worker", w.path()).await);
    let got = rpm_q(c.path(), &["foo", "bar"]);
    assert!(got.contains("foo-1.1-1.el7.x86_64"), "{got}");
    assert!(got.contains("package bar is not installed"), "{got}");
    let got = rpm_q(w.path(), &["foo", "bar"]);
    assert!(
        got.contains("foo-1.1-1.el7.x86_64") && got.contains("bar-1.0-1.el7.noarch"),
        "{got}"
    );
    assert_eq!(patchstate(&app, P1).await, "Applied");
    for h in ["controller-0", "worker-0"] {
        let e = host_entry(&app, h).await;
        assert_eq!(e["patch_current"], true, "{e}");
        assert_eq!(e["state"], "idle", "{e}");
        assert_eq!(e["install_requested"], false, "{e}");
    }

    let r = call(
        &app,
        Who::Manager,
        Method::POST,
        &format!("/v1/remove/{P1}"),
    )
    .await;
    assert_eq!(r["error"], "", "{r}");
    assert_eq!(patchstate(&app, P1).await, "Partial-Remove");
    wait_for(&app, "patches", "19.12", 0).await;
    let e = host_entry(&app, "worker-0").await;
    assert_eq!(
        e["to_remove"],
        json!(["bar-1.0-1.el7.noarch", "foo-1.1-1.el7.x86_64"]),
        "{e}"
    );
    install(&app, "controller-0").await;
    install(&app, "worker-0").await;
    assert!(once(&app.base, &token, "controller-0", "controller", c.path()).await);
    assert!(once(&app.base, &token, "worker-0", "worker", w.path()).await);
    let got = rpm_q(w.path(), &["foo", "bar"]);
    assert!(
        got.contains("package foo is not installed")
            && got.contains("package bar is not installed"),
        "{got}"
    );
    assert_eq!(patchstate(&app, P1).await, "Available");
}

async fn an_agent_killed_mid_install_is_taken_over(backend: Backend) {
    let signer = Signer::new();
    let app = start(backend, &signer).await;
    uploaded(&app, &signer).await;
    let token = agent_token(&app).await;
    let w = tempfile::tempdir().unwrap();
    assert!(once(&app.base, &token, "worker-0", "worker", w.path()).await);
    let r = call(&app, Who::Manager, Method::POST, &format!("/v1/apply/{P1}")).await;
    assert_eq!(r["error"], "", "{r}");
    wait_for(&app, "patches", "19.12", 2).await;
    install(&app, "worker-0").await;

    // The agent and its dnf in a process group of their own, killed together
    // as soon as the host says it is installing.
    let mut child = agent(&app.base, &token, "worker-0", "worker", w.path())
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if host_entry(&app, "worker-0").await["state"] == "installing" {
            break;
        }
        assert!(Instant::now() < deadline, "the agent never said installing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().await.unwrap();
    assert!(!status.success(), "the agent was killed: {status}");
    let e = host_entry(&app, "worker-0").await;
    assert_eq!(e["state"], "installing", "{e}");
    assert_eq!(
        e["install_requested"], true,
        "the request outlives the agent: {e}"
    );
    // Apply and remove wait for it.
    let mut p2 = PatchSpec::new(
        "TC_19.12_PATCH_0002",
        vec![Rpm::new("baz", "1.0", "1.el7", "x86_64")],
    );
    p2.personalities = vec![("worker", vec!["baz"])];
    upload(&app, &p2, p2.build(Some(&signer), false)).await;
    let r = call(
        &app,
        Who::Manager,
        Method::POST,
        "/v1/apply/TC_19.12_PATCH_0002",
    )
    .await;
    assert_eq!(r["code"], 90045, "{r}");

    // A new agent run finds the request and converges.
    assert!(once(&app.base, &token, "worker-0", "worker", w.path()).await);
    let got = rpm_q(w.path(), &["foo", "bar"]);
    assert!(
        got.contains("foo-1.1-1.el7.x86_64") && got.contains("bar-1.0-1.el7.noarch"),
        "{got}"
    );
    let e = host_entry(&app, "worker-0").await;
    assert_eq!(e["state"], "idle", "{e}");
    assert_eq!(e["patch_current"], true, "{e}");
    assert_eq!(patchstate(&app, P1).await, "Applied");
    let r = call(
        &app,
        Who::Manager,
        Method::POST,
        "/v1/apply/TC_19.12_PATCH_0002",
    )
    .await;
    assert_eq!(r["error"], "", "{r}");
}

async fn two_replicas_serve_one_lifecycle(backend: Backend) {
    let signer = Signer::new();
    let a = start(backend, &signer).await;
    let b = TestApp::start_config(backend, a.config.clone(), tempfile::tempdir().unwrap()).await;
    uploaded(&a, &signer).await;
    let token = agent_token(&a).await;
    let (c, w) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    assert!(once(&a.base, &token, "controller-0", "controller", c.path()).await);
    assert!(once(&b.base, &token, "worker-0", "worker", w.path()).await);
    let r = call(&b, Who::Manager, Method::POST, &format!("/v1/apply/{P1}")).await;
    assert_eq!(r["error"], "", "{r}");
    assert_eq!(patchstate(&a, P1).await, "Partial-Apply");
    wait_for(&a, "patches", "19.12", 2).await;
    wait_for(&b, "patches", "19.12", 2).await;
    install(&a, "worker-0").await;
    install(&b, "controller-0").await;
    // Each agent now talks to the other replica.
    assert!(once(&b.base, &token, "controller-0", "controller", c.path()).await);
    assert!(once(&a.base, &token, "worker-0", "worker", w.path()).await);
    assert_eq!(patchstate(&a, P1).await, "Applied");
    assert_eq!(patchstate(&b, P1).await, "Applied");
    let hosts = call(&a, Who::Viewer, Method::GET, "/v1/query_hosts").await;
    assert_eq!(hosts["data"].as_array().unwrap().len(), 2, "{hosts}");
    assert!(
        hosts["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["patch_current"] == true),
        "{hosts}"
    );
    let r = call(&a, Who::Manager, Method::POST, "/v1/drop_host/worker-0").await;
    assert_eq!(r["error"], "", "{r}");
    let hosts = call(&b, Who::Viewer, Method::GET, "/v1/query_hosts").await;
    assert_eq!(hosts["data"].as_array().unwrap().len(), 1, "{hosts}");
}

async fn a_dnf_run_past_its_timeout_fails_the_install(backend: Backend) {
    let signer = Signer::new();
    let app = start(backend, &signer).await;
    uploaded(&app, &signer).await;
    let token = agent_token(&app).await;
    let w = tempfile::tempdir().unwrap();
    assert!(once(&app.base, &token, "worker-0", "worker", w.path()).await);
    let r = call(&app, Who::Manager, Method::POST, &format!("/v1/apply/{P1}")).await;
    assert_eq!(r["error"], "", "{r}");
    wait_for(&app, "patches", "19.12", 2).await;
    install(&app, "worker-0").await;
    // dnf cannot even start in a millisecond: killed, the install failed.
    let out = agent(&app.base, &token, "worker-0", "worker", w.path())
        .args(["--dnf-timeout", "1ms"])
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("killed"), "{err}");
    let e = host_entry(&app, "worker-0").await;
    assert_eq!(e["state"], "install-failed", "{e}");
    assert_eq!(e["patch_failed"], true, "{e}");
    assert_eq!(e["patch_current"], false, "{e}");
    assert_eq!(e["install_requested"], false, "{e}");
    assert_eq!(patchstate(&app, P1).await, "Partial-Apply");
    let check = stuck_check(&app).await;
    assert_eq!(check["status"], "WARN", "{check}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("worker-0 (install-failed)"),
        "{check}"
    );
    // Asked again, with time enough: done.
    install(&app, "worker-0").await;
    assert!(once(&app.base, &token, "worker-0", "worker", w.path()).await);
    assert_eq!(patchstate(&app, P1).await, "Applied");
    assert_eq!(stuck_check(&app).await["status"], "OK");
}
