//! `/metrics`: what an operator graphs, after real requests.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};

use crate::backend_tests;
use crate::common::{Backend, TestApp, Who, sample};

backend_tests!(metrics_count_requests_bytes_and_failures);

async fn metrics_count_requests_bytes_and_failures(backend: Backend) {
    let app = TestApp::start_with(backend, Box::new(|c| c.max_upload_size = 1 << 20)).await;
    let script = b"#!/bin/sh\necho metrics\n".to_vec();
    app.upload_ok("m.sh", script.clone()).await;
    // Refused from its Content-Length before depot reads it: a client that
    // sends without waiting for `100 Continue` may see the connection close
    // (a broken pipe) instead of the 413. Counted either way.
    let form = Form::new().part("file", Part::bytes(vec![b'#'; 2 << 20]).file_name("big.sh"));
    match app.send_form(form).await {
        Ok(refused) => assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE),
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    let download = app.get(Who::Viewer, "/api/v2/files/sys-package/m.sh").await;
    let proxied = download.status() == StatusCode::OK;
    let _ = download.bytes().await;

    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    let upload_ok = r#"depot_http_requests_total{method="POST",route="/api/v2/software-packages",status="200"}"#;
    assert_eq!(sample(&text, upload_ok), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"depot_uploads_failed_total{cause="DEPOT_UPLOAD_TOO_LARGE"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(sample(&text, "depot_uploaded_bytes_total").unwrap() >= script.len() as f64);
    if proxied {
        assert_eq!(
            sample(&text, "depot_downloaded_bytes_total"),
            Some(script.len() as f64)
        );
    }
    assert_eq!(sample(&text, "depot_uploads_in_flight"), Some(0.0));
    assert!(
        sample(
            &text,
            r#"depot_db_query_duration_seconds_count{outcome="ok"}"#
        )
        .unwrap()
            > 0.0
    );
    assert!(
        sample(
            &text,
            r#"depot_store_operation_duration_seconds_count{operation="copy",outcome="ok"}"#
        )
        .unwrap()
            >= 1.0,
        "{text}"
    );
    // Route templates, not raw paths: one series for every package id.
    assert!(
        text.contains(r#"route="/api/v2/files/sys-package/{file_name}""#),
        "{text}"
    );
    assert!(!text.contains("m.sh"), "{text}");
}
