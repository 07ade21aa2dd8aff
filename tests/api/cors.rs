//! CORS: a page on an allowed origin (an Uppy or tus-js-client page hosted
//! elsewhere) gets its preflights answered before authentication, on every
//! route, and can read the headers tus answers with; other origins get
//! nothing, and without `--cors-origin` no answer carries CORS headers.

use depot::config::CorsOrigin;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use crate::backend_tests;
use crate::common::{Backend, PASSWORD, TestApp, Who, envelope, expect_error, sha1_hex};
use crate::tokens::create_token;

backend_tests!(
    preflights_are_answered_before_authentication,
    tus_answers_expose_their_headers,
    no_origin_is_allowed_by_default,
    tus_js_client_uploads_and_hears_why_parallel_uploads_fail,
);

const CONSOLE: &str = "https://console.example.com";

async fn app(backend: Backend) -> TestApp {
    TestApp::start_with(
        backend,
        Box::new(|c| {
            c.cors_origins = vec![
                CONSOLE.parse::<CorsOrigin>().unwrap(),
                "http://localhost:3000".parse().unwrap(),
            ]
        }),
    )
    .await
}

fn list(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect()
}

/// A browser's preflight of `method` on `path` with tus's request headers.
async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> reqwest::Response {
    app.http
        .request(Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization,tus-resumable,upload-length,upload-metadata,upload-offset,content-type",
        )
        .send()
        .await
        .unwrap()
}

async fn preflights_are_answered_before_authentication(backend: Backend) {
    let app = app(backend).await;
    for (path, method) in [
        ("/api/v2/uploads/", "POST"),
        ("/api/v2/uploads/0123abcd", "PATCH"),
        ("/api/v2/software-packages", "GET"),
        ("/api/v2/software-packages/7", "DELETE"),
        ("/api/v2/files/sys-package/x.rpm", "GET"),
        ("/no/such/route", "GET"),
    ] {
        let response = preflight(&app, path, CONSOLE, method).await;
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        let h = response.headers();
        assert_eq!(h["access-control-allow-origin"], CONSOLE, "{path}");
        let methods = list(h, "access-control-allow-methods");
        for m in ["get", "head", "post", "patch", "delete"] {
            assert!(methods.contains(&m.to_string()), "{path}: {methods:?}");
        }
        let allowed = list(h, "access-control-allow-headers");
        for name in [
            "authorization",
            "tus-resumable",
            "upload-length",
            "upload-metadata",
            "upload-offset",
            "upload-checksum",
            "content-type",
        ] {
            assert!(allowed.contains(&name.to_string()), "{path}: {allowed:?}");
        }
        assert!(h.get("access-control-max-age").is_some());
        assert!(h.get("access-control-allow-credentials").is_none());
        assert!(list(h, "vary").contains(&"origin".to_string()));
    }
    // Another origin: answered, but nothing a browser would accept.
    let other = preflight(&app, "/api/v2/uploads/", "https://evil.example", "POST").await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // An allowed origin is matched as browsers send it.
    let local = preflight(&app, "/api/v2/uploads/", "http://localhost:3000", "POST").await;
    assert_eq!(
        local.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    // tus's own OPTIONS (no Access-Control-Request-Method) still reaches tus.
    let discovery = app
        .http
        .request(Method::OPTIONS, app.url("/api/v2/uploads/"))
        .header("origin", CONSOLE)
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status(), StatusCode::NO_CONTENT);
    assert_eq!(discovery.headers()["tus-version"], "1.0.0");
}

async fn tus_answers_expose_their_headers(backend: Backend) {
    let app = app(backend).await;
    let script = b"#!/bin/sh\necho cors\n".to_vec();
    let metadata = format!("filename {}", base64_of("cors.sh"));
    let created = app
        .http
        .post(app.url("/api/v2/uploads/"))
        .basic_auth("manager", Some(PASSWORD))
        .header("origin", CONSOLE)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", script.len().to_string())
        .header("upload-metadata", metadata)
        .header("content-type", "application/offset+octet-stream")
        .body(script)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let h = created.headers();
    assert_eq!(h["access-control-allow-origin"], CONSOLE);
    let exposed = list(h, "access-control-expose-headers");
    for name in [
        "location",
        "upload-offset",
        "upload-length",
        "upload-expires",
        "tus-resumable",
        "tus-version",
        "tus-extension",
        "tus-max-size",
        "depot-package-id",
        "x-trace-id",
    ] {
        assert!(exposed.contains(&name.to_string()), "{name}: {exposed:?}");
    }
    // Those headers are there to be read.
    assert!(h.get("location").is_some() && h.get("depot-package-id").is_some());

    // Errors carry the CORS headers too: the page can read why.
    let refused = app
        .http
        .post(app.url("/api/v2/uploads/"))
        .header("origin", CONSOLE)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.headers()["access-control-allow-origin"], CONSOLE);
    expect_error(refused, StatusCode::UNAUTHORIZED, 30000).await;

    // Concatenation (tus-js-client's parallelUploads) is refused as such.
    let concat = app
        .http
        .post(app.url("/api/v2/uploads/"))
        .basic_auth("manager", Some(PASSWORD))
        .header("origin", CONSOLE)
        .header("tus-resumable", "1.0.0")
        .header("upload-concat", "partial")
        .header("upload-length", "10")
        .send()
        .await
        .unwrap();
    let message = expect_error(concat, StatusCode::BAD_REQUEST, 10001).await;
    assert!(message.contains("concatenation"), "{message}");
    assert!(!message.contains("filename"), "{message}");
}

async fn no_origin_is_allowed_by_default(backend: Backend) {
    let app = TestApp::start(backend).await;
    let response = preflight(&app, "/api/v2/uploads/", CONSOLE, "POST").await;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let time = app
        .http
        .get(app.url("/api/v2/time"))
        .header("origin", CONSOLE)
        .send()
        .await
        .unwrap();
    assert!(time.headers().get("access-control-allow-origin").is_none());
}

/// tus-js-client (Uppy's tus library) under node: an upload goes through,
/// and `parallelUploads` (tus concatenation) is told it is not offered.
async fn tus_js_client_uploads_and_hears_why_parallel_uploads_fail(backend: Backend) {
    let modules = std::env::var("DEPOT_TEST_NODE_PATH").unwrap_or_else(|_| {
        panic!("DEPOT_TEST_NODE_PATH is not set: run the tests with scripts/test.sh, which installs tus-js-client")
    });
    let app = app(backend).await;
    let token = create_token(&app, serde_json::json!({"name": "page", "user": "manager"})).await;
    let token = token["token"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("from-the-browser.sh");
    let bytes: Vec<u8> = (0..700_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&file, &bytes).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tus/tus_js_upload.js");
    let endpoint = app.url("/api/v2/uploads/");
    let node = |parallel: &'static str| {
        tokio::process::Command::new("node")
            .env("NODE_PATH", &modules)
            .args([script, &endpoint, file.to_str().unwrap(), &token, parallel])
            .output()
    };
    let out = node("1").await.unwrap();
    let said = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    assert!(out.status.success(), "{}", said(&out));
    let (_, list) = envelope(
        app.get(
            Who::Viewer,
            "/api/v2/software-packages?fileName=from-the-browser.sh",
        )
        .await,
    )
    .await;
    assert_eq!(list["data"]["contents"][0]["sha1"], sha1_hex(&bytes));

    let out = node("2").await.unwrap();
    assert!(!out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("concatenation extension is not supported"),
        "{}",
        said(&out)
    );
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
