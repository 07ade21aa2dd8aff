//! `depot serve` as a process: the embedded default, logs and traces.

use std::time::{Duration, Instant};

use super::{depot, serve};

#[tokio::test]
async fn serve_starts_on_the_embedded_default_and_prints_the_admin_password() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, rx) = serve(depot(dir.path()).args(["serve", "--listen", "127.0.0.1:0"]));
    let mut said = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut password, mut addr) = (None, None);
    while password.is_none() || addr.is_none() {
        let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            panic!(
                "no admin password or address printed; depot said:\n{}",
                said.join("\n")
            );
        };
        if let Some((_, p)) = line.split_once("with password ") {
            password = Some(p.trim().to_string());
        }
        if let Some((_, a)) = line.split_once("addr=") {
            addr = a.split_whitespace().next().map(str::to_string);
        }
        said.push(line);
    }
    let (password, addr) = (password.unwrap(), addr.unwrap());

    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    while client
        .get(format!("{base}/api/v2/time"))
        .send()
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "depot serve did not come up; it said:\n{}",
            said.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = client
        .get(format!("{base}/api/v2/software-packages"))
        .basic_auth("admin", Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(dir.path().join("depot.db").exists());
    assert!(dir.path().join("blobs").is_dir());
    child.kill().unwrap();
    let _ = child.wait();
}

/// `--log-format json`: one JSON object a line, and the trace id an answer
/// carries is on the log line of its request.
#[tokio::test]
async fn json_logs_carry_the_answers_trace_id() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, rx) = serve(
        depot(dir.path())
            .env("DEPOT_ADMIN_PASSWORD", "admin-password-1")
            .args(["serve", "--log-format", "json", "--listen", "127.0.0.1:0"]),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let next = || {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("depot kept logging");
        serde_json::from_str::<serde_json::Value>(&line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    };
    let addr = loop {
        let entry = next();
        if let Some(addr) = entry["fields"]["addr"].as_str() {
            break addr.to_string();
        }
    };
    let response = reqwest::get(format!("http://{addr}/api/v2/software-packages"))
        .await
        .unwrap();
    let trace_id = response.headers()["x-trace-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["traceId"], trace_id.as_str());
    loop {
        let entry = next();
        if entry["span"]["trace_id"] == trace_id.as_str()
            && entry["fields"]["message"] == "answered"
        {
            assert_eq!(entry["fields"]["status"], 401);
            assert_eq!(entry["span"]["route"], "/api/v2/software-packages");
            break;
        }
    }
    child.kill().unwrap();
    let _ = child.wait();
}

/// With OTEL_EXPORTER_OTLP_ENDPOINT set, each request's span reaches the
/// collector under the envelope's traceId (the client's, from `traceparent`).
#[tokio::test]
async fn traces_are_exported_under_the_envelopes_trace_id() {
    use std::sync::{Arc, Mutex};
    let received = Arc::new(Mutex::new(String::new()));
    let sink = received.clone();
    let collector = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: String| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push_str(&body);
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let dir = tempfile::tempdir().unwrap();
    let (mut child, rx) = serve(
        depot(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("depot serve printed its address");
        if let Some((_, a)) = line.split_once("addr=") {
            break a.split_whitespace().next().unwrap().to_string();
        }
    };
    let client = reqwest::Client::new();
    let time = |traceparent: Option<&'static str>| {
        let mut request = client.get(format!("http://{addr}/api/v2/time"));
        if let Some(tp) = traceparent {
            request = request.header("traceparent", tp);
        }
        async move {
            let body: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            body["traceId"].as_str().unwrap().to_string()
        }
    };
    let own = time(None).await;
    let theirs = time(Some(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ))
    .await;
    assert_eq!(theirs, "4bf92f3577b34da6a3ce929d0e0e4736");
    loop {
        let got = received.lock().unwrap().clone();
        // OTLP/JSON writes ids as hex strings.
        if got.contains(&format!("\"{own}\"")) && got.contains(&format!("\"{theirs}\"")) {
            assert!(
                got.contains("\"00f067aa0ba902b7\""),
                "the client's span is the parent: {got}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "traces {own} and {theirs} never reached the collector; it got:\n{got}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    let _ = child.wait();
}
