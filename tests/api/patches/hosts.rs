//! Hosts over HTTP: agents' reports, `query_hosts`' fields computed against
//! the release's applied patches, install requests, dropping hosts, the
//! partial states they drive, apply refused while a host installs, the
//! doctor's check, audit and metrics; and the bounds of what hosts send.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{PatchSpec, Signer, base_rpm, call, start, upload};
use crate::backend_tests;
use crate::common::{
    Backend, TestApp, Who, audit_event, config_for, envelope, expect_error, metrics, sample,
    trace_id,
};
use crate::repos::Rpm;

backend_tests!(
    reports_drive_query_hosts_and_the_partial_states,
    what_hosts_send_is_bounded
);

pub const P1: &str = "TC_19.12_PATCH_0001";
const P2: &str = "TC_19.12_PATCH_0002";

pub fn package(name: &str, version: &str, arch: &str) -> Value {
    json!({"name": name, "epoch": "", "version": version, "release": "1.el7", "arch": arch})
}

pub fn report_body(host: &str, personality: &str, state: &str, installed: Vec<Value>) -> Value {
    json!({
        "hostname": host, "ip": "192.0.2.7", "personality": personality,
        "subfunctions": [], "sw_version": "19.12", "state": state, "installed": installed,
    })
}

/// Posts a report as `who`.
pub async fn report(app: &TestApp, who: Who, body: &Value) -> reqwest::Response {
    app.request(who, Method::POST, "/v1/host_report")
        .json(body)
        .send()
        .await
        .unwrap()
}

pub async fn report_ok(app: &TestApp, body: &Value) -> Value {
    let response = report(app, Who::Manager, body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str(&text).unwrap()
}

pub async fn patchstate(app: &TestApp, id: &str) -> String {
    let q = call(app, Who::Viewer, Method::GET, "/v1/query").await;
    q["pd"][id]["patchstate"].as_str().unwrap().to_string()
}

pub fn host<'a>(hosts: &'a Value, name: &str) -> &'a Value {
    hosts["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hostname"] == name)
        .unwrap_or_else(|| panic!("no host {name} in {hosts}"))
}

/// P1: foo 1.1 for controllers and workers, bar 1.0 for workers only.
pub async fn uploaded(app: &TestApp, signer: &Signer) -> PatchSpec {
    base_rpm(app, &Rpm::new("foo", "1.0", "1.el7", "x86_64")).await;
    let mut p1 = PatchSpec::new(
        P1,
        vec![
            Rpm::new("foo", "1.1", "1.el7", "x86_64"),
            Rpm::new("bar", "1.0", "1.el7", "noarch"),
        ],
    );
    p1.personalities = vec![("controller", vec!["foo"]), ("worker", vec!["foo", "bar"])];
    let r = upload(app, &p1, p1.build(Some(signer), false)).await;
    assert_eq!(r["error"], "", "{r}");
    p1
}

pub async fn stuck_check(app: &TestApp) -> Value {
    let (_, body) = envelope(app.get(Who::Admin, "/api/v2/diagnostics").await).await;
    body["data"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "patch states")
        .cloned()
        .unwrap_or_else(|| panic!("no patch states check: {body}"))
}

async fn reports_drive_query_hosts_and_the_partial_states(backend: Backend) {
    let signer = Signer::new();
    let app = start(backend, &signer).await;
    uploaded(&app, &signer).await;
    let r = call(&app, Who::Manager, Method::POST, &format!("/v1/apply/{P1}")).await;
    assert_eq!(r["error"], "", "{r}");
    // No host: StarlingX's n/a.
    assert_eq!(patchstate(&app, P1).await, "n/a");

    // Viewers read hosts, only managers report.
    let controller = report_body(
        "controller-0",
        "controller",
        "idle",
        vec![package("foo", "1.0", "x86_64")],
    );
    let refused = report(&app, Who::Viewer, &controller).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let answer = report_ok(&app, &controller).await;
    assert_eq!(answer["install"], false, "{answer}");
    assert_eq!(answer["host"]["patch_current"], false, "{answer}");
    assert_eq!(patchstate(&app, P1).await, "Partial-Apply");

    let worker = report_body("worker-0", "worker", "idle", vec![]);
    report_ok(&app, &worker).await;
    let hosts = call(&app, Who::Viewer, Method::GET, "/patch/query_hosts").await;
    let c = host(&hosts, "controller-0");
    for field in [
        "ip",
        "hostname",
        "patch_current",
        "secs_since_ack",
        "patch_failed",
        "stale_details",
        "installed",
        "to_remove",
        "missing_pkgs",
        "duplicated_pkgs",
        "nodetype",
        "subfunctions",
        "sw_version",
        "state",
        "requires_reboot",
        "allow_insvc_patching",
        "interim_state",
    ] {
        assert!(c.get(field).is_some(), "{field} missing: {c}");
    }
    assert_eq!(c["ip"], "192.0.2.7");
    assert_eq!(c["nodetype"], "controller");
    assert_eq!(c["sw_version"], "19.12");
    assert_eq!(c["state"], "idle");
    assert_eq!(c["missing_pkgs"], json!(["foo-1.1-1.el7.x86_64"]), "{c}");
    assert_eq!(c["to_remove"], json!([]));
    assert_eq!(c["requires_reboot"], false);
    assert!(c["secs_since_ack"].as_i64().unwrap() < 60);
    let w = host(&hosts, "worker-0");
    assert_eq!(
        w["missing_pkgs"],
        json!(["bar-1.0-1.el7.noarch", "foo-1.1-1.el7.x86_64"]),
        "{w}"
    );

    // Nobody installs: the doctor names the patch and its waiting hosts.
    let check = stuck_check(&app).await;
    assert_eq!(check["status"], "WARN", "{check}");
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.contains(P1) && detail.contains("controller-0"),
        "{check}"
    );
    assert!(check["remedy"].as_str().unwrap().contains("host-install"));

    // An install request reaches the agent in the answer to its report.
    let response = app
        .request(
            Who::Manager,
            Method::POST,
            "/v1/host_install_async/controller-0",
        )
        .send()
        .await
        .unwrap();
    let install_trace = trace_id(&response);
    let r: Value = response.json().await.unwrap();
    assert_eq!(r["error"], "", "{r}");
    let r = call(
        &app,
        Who::Manager,
        Method::POST,
        "/v1/host_install_async/nope",
    )
    .await;
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("nope is unrecognized"),
        "{r}"
    );
    let answer = report_ok(&app, &controller).await;
    assert_eq!(answer["install"], true, "{answer}");
    // Installing: apply and remove wait (StarlingX's words), delete does not.
    let mut installing = controller.clone();
    installing["state"] = json!("installing");
    let answer = report_ok(&app, &installing).await;
    assert_eq!(
        answer["install"], false,
        "an installing agent has it: {answer}"
    );
    let mut p2 = PatchSpec::new(P2, vec![Rpm::new("baz", "1.0", "1.el7", "x86_64")]);
    p2.personalities = vec![("controller", vec!["baz"])];
    upload(&app, &p2, p2.build(Some(&signer), false)).await;
    let r = call(&app, Who::Manager, Method::POST, &format!("/v1/apply/{P2}")).await;
    assert_eq!(
        r["error"], "Rejected: One or more nodes are installing patches.\n",
        "{r}"
    );
    assert_eq!(r["code"], 90045);
    let r = call(
        &app,
        Who::Manager,
        Method::POST,
        &format!("/patch/remove/{P1}"),
    )
    .await;
    assert_eq!(r["code"], 90045, "{r}");
    // The doctor sees controller-0 at work; worker-0 still waits for nobody.
    let check = stuck_check(&app).await;
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.contains("worker-0") && !detail.contains("controller-0"),
        "{check}"
    );

    // Done: the agent reports the new version and the install finished.
    let mut done = report_body(
        "controller-0",
        "controller",
        "idle",
        vec![package("foo", "1.1", "x86_64")],
    );
    done["finished"] = json!(true);
    let answer = report_ok(&app, &done).await;
    assert_eq!(answer["install"], false, "{answer}");
    assert_eq!(answer["host"]["patch_current"], true, "{answer}");
    assert_eq!(answer["host"]["installed"]["foo"], "1.1-1.el7", "{answer}");
    // worker-0 still lacks its packages.
    assert_eq!(patchstate(&app, P1).await, "Partial-Apply");
    let response = app
        .request(Who::Manager, Method::POST, "/patch/drop_host/worker-0")
        .send()
        .await
        .unwrap();
    let drop_trace = trace_id(&response);
    let r: Value = response.json().await.unwrap();
    assert_eq!(r["error"], "", "{r}");
    assert_eq!(patchstate(&app, P1).await, "Applied");
    let hosts = call(&app, Who::Viewer, Method::GET, "/v1/query_hosts").await;
    assert_eq!(hosts["data"].as_array().unwrap().len(), 1, "{hosts}");
    let r = call(&app, Who::Manager, Method::POST, "/v1/drop_host/worker-0").await;
    assert!(r["error"].as_str().unwrap().contains("unrecognized"), "{r}");

    // Removed: Partial-Remove until the host sheds foo 1.1.
    let r = call(
        &app,
        Who::Manager,
        Method::POST,
        &format!("/v1/remove/{P1}"),
    )
    .await;
    assert_eq!(r["error"], "", "{r}");
    assert_eq!(patchstate(&app, P1).await, "Partial-Remove");
    let answer = report_ok(&app, &done).await;
    assert_eq!(
        answer["host"]["to_remove"],
        json!(["foo-1.1-1.el7.x86_64"]),
        "{answer}"
    );
    let shed = report_body(
        "controller-0",
        "controller",
        "idle",
        vec![package("foo", "1.0", "x86_64")],
    );
    report_ok(&app, &shed).await;
    assert_eq!(patchstate(&app, P1).await, "Available");
    assert_eq!(stuck_check(&app).await["status"], "OK");

    // Audit and metrics.
    assert_eq!(
        audit_event(&app, &install_trace).await["action"],
        "patch.host-install"
    );
    assert_eq!(
        audit_event(&app, &drop_trace).await["action"],
        "patch.host-drop"
    );
    let m = metrics(&app).await;
    for op in ["host-install", "host-drop", "host-report"] {
        let series = format!("depot_patch_operations_total{{operation=\"{op}\"}}");
        assert!(sample(&m, &series).unwrap_or(0.0) >= 1.0, "{series}");
    }
}

async fn what_hosts_send_is_bounded(backend: Backend) {
    let signer = Signer::new();
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(backend, dir.path()).await;
    config.patches.trust_certs = vec![signer.cert_pem.clone()];
    config.patches.max_hosts = 2;
    let app = TestApp::start_config(backend, config, dir).await;
    let r = call(
        &app,
        Who::Admin,
        Method::POST,
        "/v1/init_release/19.12?base=el7",
    )
    .await;
    assert_eq!(r["error"], "", "{r}");

    // Hosts in total: the third is refused until one is dropped.
    for name in ["a", "b"] {
        report_ok(&app, &report_body(name, "worker", "idle", vec![])).await;
    }
    let third = report_body("c", "worker", "idle", vec![]);
    let message = expect_error(
        report(&app, Who::Manager, &third).await,
        StatusCode::CONFLICT,
        90046,
    )
    .await;
    assert!(message.contains("at most 2 hosts"), "{message}");
    // A known host still reports.
    report_ok(&app, &report_body("a", "controller", "idle", vec![])).await;
    call(&app, Who::Manager, Method::POST, "/v1/drop_host/b").await;
    report_ok(&app, &third).await;

    // Packages per report.
    let many: Vec<Value> = (0..16_385)
        .map(|i| package(&format!("p{i}"), "1", "x86_64"))
        .collect();
    let message = expect_error(
        report(
            &app,
            Who::Manager,
            &report_body("a", "worker", "idle", many),
        )
        .await,
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    assert!(message.contains("16384"), "{message}");
    // The body: over 4 MiB is refused before it is parsed.
    let long = "x".repeat(200);
    let big: Vec<Value> = (0..16_000).map(|_| package(&long, "1", "x86_64")).collect();
    let response = report(&app, Who::Manager, &report_body("a", "worker", "idle", big)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Fields, names, states, releases.
    let mut odd = report_body(
        "a",
        "worker",
        "idle",
        vec![package(&"y".repeat(300), "1", "x")],
    );
    let r = report(&app, Who::Manager, &odd).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    odd = report_body("a b", "worker", "idle", vec![]);
    assert_eq!(
        report(&app, Who::Manager, &odd).await.status(),
        StatusCode::BAD_REQUEST
    );
    odd = report_body("a", "worker", "sleeping", vec![]);
    assert_eq!(
        report(&app, Who::Manager, &odd).await.status(),
        StatusCode::BAD_REQUEST
    );
    odd = report_body("a", "worker", "idle", vec![]);
    odd["subfunctions"] = json!((0..17).map(|i| format!("s{i}")).collect::<Vec<_>>());
    assert_eq!(
        report(&app, Who::Manager, &odd).await.status(),
        StatusCode::BAD_REQUEST
    );
    odd = report_body("a", "worker", "idle", vec![]);
    odd["sw_version"] = json!("20.06");
    expect_error(
        report(&app, Who::Manager, &odd).await,
        StatusCode::NOT_FOUND,
        90044,
    )
    .await;
    let hosts = call(&app, Who::Viewer, Method::GET, "/v1/query_hosts").await;
    assert_eq!(hosts["data"].as_array().unwrap().len(), 2, "{hosts}");
}
