//! The OpenAPI description: it covers every route, every route it lists
//! exists, and a property-based fuzzer (schemathesis) finds no server error
//! and no answer that departs from it.

use std::process::Command;

use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::backend_tests;
use crate::common::rpms::RpmSpec;
use crate::common::source::rust_files;
use crate::common::upgrade_dep::{DEP_YAML, DEP_YAML_PATH};
use crate::common::{Backend, PASSWORD, TestApp, Who, envelope};

/// Routes are registered only through utoipa-axum's `routes!`, which takes
/// each route from its handler's `#[utoipa::path]`: a plain axum `.route(…)`
/// (or a nested router) would be a route without a description.
#[test]
fn every_route_is_described() {
    let files = rust_files("src");
    assert!(files.len() > 20);
    let mut undescribed = Vec::new();
    for file in &files {
        for (n, code) in file.code_lines() {
            let plain_router = code
                .match_indices("Router::new()")
                .any(|(i, _)| !code[..i].ends_with("OpenApi"));
            if [".route(", ".route_service(", ".nest(", ".nest_service("]
                .iter()
                .any(|call| code.contains(call))
                || plain_router
            {
                undescribed.push(format!("{}:{n}: {}", file.path.display(), code.trim()));
            }
        }
    }
    assert!(
        undescribed.is_empty(),
        "routes must be registered with utoipa_axum's routes! so that they are described:\n{}",
        undescribed.join("\n")
    );
}

async fn description(app: &TestApp) -> Value {
    let response = app.get(Who::Anonymous, "/api-docs/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Every operation of the description reaches a handler: no fallback 404
/// ("no such endpoint") and no 405.
async fn described_routes_exist(backend: Backend) {
    let app = TestApp::start(backend).await;
    let api = description(&app).await;
    assert_eq!(api["openapi"], "3.1.0");
    assert_eq!(api["info"]["version"], env!("CARGO_PKG_VERSION"));
    let paths = api["paths"].as_object().unwrap();
    assert!(paths.len() >= 15, "{paths:?}");
    let mut operations = 0;
    for (template, item) in paths {
        // Any value routes: the handler then answers for itself.
        let path = template
            .replace("{id}", "1")
            .replace("{file_name}", "x.rpm");
        for (method, operation) in item.as_object().unwrap() {
            let method: Method = method.to_uppercase().parse().unwrap();
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty()),
                "{method} {template} describes no answer"
            );
            operations += 1;
            let response = app
                .request(Who::Admin, method.clone(), &path)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {template}: {body}"
            );
            assert!(
                !body.contains("no such endpoint"),
                "{method} {template} is described but not routed: {body}"
            );
        }
    }
    assert!(operations >= 25, "{operations} operations");
    // The browsable page.
    let page = app.get(Who::Anonymous, "/api-docs/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("swagger"));
}

/// schemathesis (installed by scripts/test.sh) against the running server:
/// every phase, the conformance checks, as an administrator. The seed is
/// fixed so that CI is repeatable; set DEPOT_SCHEMATHESIS_SEED to explore.
async fn fuzzed_api_conforms(backend: Backend) {
    let app = TestApp::start(backend).await;
    // Stored packages for the description's examples (package 1, its file
    // name, a route from 4.2.1.0 to 4.2.1.1), so that answers with data are
    // checked against their schemas too, not only the errors.
    let rpm = RpmSpec::new(
        "oceanbase-ce",
        "4.2.1.1",
        "101000012023111012.el7",
        "x86_64",
    )
    .file("/home/admin/oceanbase/bin/observer", "ELF")
    .file(DEP_YAML_PATH, DEP_YAML);
    let response = app
        .request(Who::Manager, Method::POST, "/api/v1/upgrade/package")
        .multipart(Form::new().part("file", Part::bytes(rpm.build()).file_name(rpm.file_name())))
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["PkgId"], 1);
    app.upload_ok("install-agent.sh", b"#!/bin/sh\necho install\n".to_vec())
        .await;
    let st = std::env::var("DEPOT_TEST_SCHEMATHESIS").unwrap_or_else(|_| {
        panic!(
            "DEPOT_TEST_SCHEMATHESIS is not set: run the tests with scripts/test.sh, which installs schemathesis"
        )
    });
    let seed = std::env::var("DEPOT_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261128".into());
    let report = tempfile::tempdir().unwrap();
    let url = app.url("/api-docs/openapi.json");
    let auth = format!("admin:{PASSWORD}");
    let hooks = crate::common::source::root().join("tests/schemathesis");
    let output = tokio::task::spawn_blocking({
        let report = report.path().to_path_buf();
        move || {
            Command::new(st)
                .args(["--no-color", "run", &url, "--auth", &auth])
                .args([
                    "--checks",
                    "not_a_server_error,status_code_conformance,content_type_conformance,\
                     response_headers_conformance,response_schema_conformance",
                ])
                .args(["--max-examples", "25", "--seed", &seed])
                .args(["--request-timeout", "30"])
                .arg("--report-dir")
                .arg(&report)
                // Its example database goes there too, not into the clone.
                .current_dir(&report)
                // tests/schemathesis/depot_hooks.py: how to make tus bodies.
                .env("PYTHONPATH", hooks)
                .env("SCHEMATHESIS_HOOKS", "depot_hooks")
                .output()
                .expect("running schemathesis")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // It did test the operations.
    assert!(stdout.contains("passed"), "{stdout}");
}

backend_tests!(described_routes_exist, fuzzed_api_conforms);
