//! Hosts at scale and in detail: the cap on hosts under concurrent first
//! reports, heartbeats kept out of the audit log, `query_hosts`' computed
//! `interim_state`, `allow_insvc_patching` and `requires_reboot`, and the
//! sw-patch options `host-install-async --force` and `remove
//! --removeunremovable` (and the retired synchronous `host_install`).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::hosts::{host, package, report, report_body, report_ok};
use super::{PatchSpec, Signer, base_rpm, call, start, upload};
use crate::backend_tests;
use crate::common::{Backend, TestApp, Who, audit_event, config_for, envelope, trace_id};
use crate::repos::Rpm;

backend_tests!(
    concurrent_first_reports_keep_to_the_cap,
    heartbeats_are_not_audited,
    query_hosts_computes_interim_and_in_service_fields,
    force_and_removeunremovable_are_understood
);

const P1: &str = "TC_19.12_PATCH_0001";
const P2: &str = "TC_19.12_PATCH_0002";

async fn concurrent_first_reports_keep_to_the_cap(backend: Backend) {
    let signer = Signer::new();
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(backend, dir.path()).await;
    config.patches.trust_certs = vec![signer.cert_pem.clone()];
    config.patches.max_hosts = 3;
    let app = TestApp::start_config(backend, config, dir).await;
    let r = call(
        &app,
        Who::Admin,
        Method::POST,
        "/v1/init_release/19.12?base=el7",
    )
    .await;
    assert_eq!(r["error"], "", "{r}");

    // Twenty new hosts at once, each reporting twice: three get in.
    let sends = (0..40).map(|i| {
        let body = report_body(&format!("host-{}", i % 20), "worker", "idle", vec![]);
        let app = &app;
        async move { report(app, Who::Manager, &body).await.status() }
    });
    let statuses = futures::future::join_all(sends).await;
    let hosts = call(&app, Who::Viewer, Method::GET, "/v1/query_hosts").await;
    let names: Vec<&str> = hosts["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{hosts}");
    for (i, status) in statuses.iter().enumerate() {
        let name = format!("host-{}", i % 20);
        let expected = if names.contains(&name.as_str()) {
            StatusCode::OK
        } else {
            StatusCode::CONFLICT
        };
        assert_eq!(*status, expected, "{name}: {statuses:?}");
    }
}

async fn audited_actions(app: &TestApp, action: &str) -> Vec<String> {
    let path = format!("/api/v2/audit-events?size=1000&action={action}");
    let (_, body) = envelope(app.get(Who::Admin, &path).await).await;
    body["data"]["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["traceId"].as_str().unwrap().to_string())
        .collect()
}

async fn heartbeats_are_not_audited(backend: Backend) {
    let signer = Signer::new();
    let app = start(backend, &signer).await;
    let send = |body: Value| {
        let app = &app;
        async move {
            let response = report(app, Who::Manager, &body).await;
            assert_eq!(response.status(), StatusCode::OK);
            trace_id(&response)
        }
    };
    let idle = report_body(
        "c-0",
        "controller",
        "idle",
        vec![package("foo", "1.0", "x86_64")],
    );
    let first = send(idle.clone()).await;
    let heartbeat = send(idle.clone()).await;
    let mut installing = idle.clone();
    installing["state"] = json!("installing");
    let state = send(installing.clone()).await;
    let still_installing = send(installing).await;
    let mut done = report_body(
        "c-0",
        "controller",
        "idle",
        vec![package("foo", "1.1", "x86_64")],
    );
    done["finished"] = json!(true);
    let finished = send(done.clone()).await;
    let after = send(done).await;

    // The last change is written: the events before it are too.
    audit_event(&app, &finished).await;
    let audited = audited_actions(&app, "patch.host-report").await;
    for t in [&first, &state, &finished] {
        assert!(audited.contains(t), "{t} not in {audited:?}");
    }
    for t in [&heartbeat, &still_installing, &after] {
        assert!(!audited.contains(t), "heartbeat {t} audited: {audited:?}");
    }
}

async fn query_hosts_computes_interim_and_in_service_fields(backend: Backend) {
    let signer = Signer::new();
    let app = start(backend, &signer).await;
    base_rpm(&app, &Rpm::new("foo", "1.0", "1.el7", "x86_64")).await;
    base_rpm(&app, &Rpm::new("bar", "1.0", "1.el7", "x86_64")).await;
    // P1 needs a reboot (controllers' foo); P2 does not (workers' bar).
    let mut p1 = PatchSpec::new(P1, vec![Rpm::new("foo", "1.1", "1.el7", "x86_64")]);
    p1.reboot_required = true;
    let mut p2 = PatchSpec::new(P2, vec![Rpm::new("bar", "1.1", "1.el7", "x86_64")]);
    p2.personalities = vec![("worker", vec!["bar"])];
    for p in [&p1, &p2] {
        let r = upload(&app, p, p.build(Some(&signer), false)).await;
        assert_eq!(r["error"], "", "{r}");
    }
    let controller = report_body(
        "c-0",
        "controller",
        "idle",
        vec![package("foo", "1.0", "x86_64")],
    );
    let worker = report_body(
        "w-0",
        "worker",
        "idle",
        vec![package("bar", "1.0", "x86_64")],
    );
    report_ok(&app, &controller).await;
    report_ok(&app, &worker).await;
    let hosts = call(&app, Who::Viewer, Method::GET, "/v1/query_hosts").await;
    for name in ["c-0", "w-0"] {
        let h = host(&hosts, name);
        assert_eq!(h["interim_state"], false, "{h}");
        assert_eq!(h["allow_insvc_patching"], true, "{h}");
        assert_eq!(h["requires_reboot"], false, "{h}");
    }

    let r = call(
        &app,
        Who::Manager,
        Method::POST,
        &format!("/v1/apply/{P1}/{P2}"),
    )
    .await;
    assert_eq!(r["error"], "", "{r}");
    // Neither has reported since: both interim. c-0 lacks a reboot-required
    // patch, which stops in-service patching for all: w-0, out of date on
    // a patch that needs none, must reboot too (StarlingX's rule).
    let hosts = call(&app, Who::Viewer, Method::GET, "/v1/query_hosts").await;
    for name in ["c-0", "w-0"] {
        let h = host(&hosts, name);
        assert_eq!(h["interim_state"], true, "{h}");
        assert_eq!(h["allow_insvc_patching"], false, "{h}");
        assert_eq!(h["requires_reboot"], true, "{h}");
    }
    // The worker reports: no longer interim; still out of date.
    report_ok(&app, &worker).await;
    let hosts = call(&app, Who::Viewer, Method::GET, "/v1/query_hosts").await;
    assert_eq!(host(&hosts, "w-0")["interim_state"], false, "{hosts}");
    assert_eq!(host(&hosts, "c-0")["interim_state"], true, "{hosts}");
    // The controller installs: in-service patching is allowed again, and
    // the worker's own patch needs no reboot.
    let current = report_body(
        "c-0",
        "controller",
        "idle",
        vec![package("foo", "1.1", "x86_64")],
    );
    report_ok(&app, &current).await;
    let hosts = call(&app, Who::Viewer, Method::GET, "/v1/query_hosts").await;
    let (c, w) = (host(&hosts, "c-0"), host(&hosts, "w-0"));
    assert_eq!(c["patch_current"], true, "{c}");
    assert_eq!(c["requires_reboot"], false, "{c}");
    assert_eq!(w["patch_current"], false, "{w}");
    assert_eq!(w["allow_insvc_patching"], true, "{w}");
    assert_eq!(w["requires_reboot"], false, "{w}");
    assert_eq!(w["patch_failed"], false, "{w}");
    let mut failed = worker.clone();
    failed["state"] = json!("install-failed");
    failed["finished"] = json!(true);
    report_ok(&app, &failed).await;
    let hosts = call(&app, Who::Viewer, Method::GET, "/v1/query_hosts").await;
    assert_eq!(host(&hosts, "w-0")["patch_failed"], true, "{hosts}");
}

async fn force_and_removeunremovable_are_understood(backend: Backend) {
    let signer = Signer::new();
    let app = start(backend, &signer).await;
    base_rpm(&app, &Rpm::new("foo", "1.0", "1.el7", "x86_64")).await;
    let mut p1 = PatchSpec::new(P1, vec![Rpm::new("foo", "1.1", "1.el7", "x86_64")]);
    p1.unremovable = true;
    upload(&app, &p1, p1.build(Some(&signer), false)).await;
    let r = call(&app, Who::Manager, Method::POST, &format!("/v1/apply/{P1}")).await;
    assert_eq!(r["error"], "", "{r}");

    // sw-patch host-install-async --force: the agent is asked all the same.
    let c = report_body(
        "c-0",
        "controller",
        "idle",
        vec![package("foo", "1.0", "x86_64")],
    );
    report_ok(&app, &c).await;
    for route in [
        "/v1/host_install_async/c-0/force",
        "/patch/host_install_async/c-0/force",
    ] {
        let r = call(&app, Who::Manager, Method::POST, route).await;
        assert_eq!(r["error"], "", "{r}");
        assert!(r["info"].as_str().unwrap().contains("c-0"), "{r}");
    }
    assert_eq!(report_ok(&app, &c).await["install"], true);
    let r = call(
        &app,
        Who::Manager,
        Method::POST,
        "/v1/host_install_async/nope/force",
    )
    .await;
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("nope is unrecognized"),
        "{r}"
    );
    let response = app
        .request(
            Who::Viewer,
            Method::POST,
            "/v1/host_install_async/c-0/force",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // The synchronous call StarlingX retired answers as StarlingX does.
    let r = call(&app, Who::Manager, Method::POST, "/patch/host_install/c-0").await;
    assert_eq!(r["error"], "Deprecated: Use host_install_async", "{r}");

    // Unremovable: refused, unless removeunremovable=yes (with a warning).
    let r = call(
        &app,
        Who::Manager,
        Method::POST,
        &format!("/v1/remove/{P1}"),
    )
    .await;
    assert!(
        r["error"].as_str().unwrap().contains("is not removable"),
        "{r}"
    );
    let path = format!("/patch/remove/{P1}?removeunremovable=no");
    let r = call(&app, Who::Manager, Method::POST, &path).await;
    assert!(
        r["error"].as_str().unwrap().contains("is not removable"),
        "{r}"
    );
    let path = format!("/patch/remove/{P1}?removeunremovable=yes");
    let r = call(&app, Who::Manager, Method::POST, &path).await;
    assert_eq!(r["error"], "", "{r}");
    assert_eq!(
        r["warning"],
        format!("Unremovable patch {P1} being removed\n"),
        "{r}"
    );
    assert!(
        r["info"]
            .as_str()
            .unwrap()
            .contains("removed from the repo"),
        "{r}"
    );
    let q = call(&app, Who::Viewer, Method::GET, "/v1/query").await;
    assert_eq!(q["pd"][P1]["repostate"], "Available", "{q}");
}
