//! Decompression bombs through obshell's upload, which reads the payload:
//! refused once they inflate beyond their bounds, and left as soon as the
//! client hangs up.

use std::io::Write;
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use rpm::CompressionType;
use tokio::io::AsyncWriteExt;

use crate::backend_tests;
use crate::common::rpms::{RpmSpec, newc_header, with_payload, zero_bomb};
use crate::common::{Backend, PASSWORD, TestApp, Who, envelope, expect_error, metrics, sample};

backend_tests!(
    a_decompression_bomb_is_refused_and_not_stored,
    a_client_hanging_up_stops_the_walk,
);

/// An upgrade package (obshell needs no observer) whose payload is `payload`.
fn obshell_with(payload: &[u8]) -> Vec<u8> {
    let rpm = RpmSpec::new("obshell", "4.2.1.1", "1.el7", "x86_64")
        .compression(CompressionType::Zstd)
        .build();
    with_payload(&rpm, payload)
}

fn walks(text: &str, outcome: &str) -> f64 {
    let series = format!("depot_payload_walks_total{{outcome=\"{outcome}\"}}");
    sample(text, &series).unwrap_or(0.0)
}

/// The bomb: an RPM of a few hundred KB whose payload inflates to
/// 21 GiB (six zero-filled files of 3.5 GiB).
async fn a_decompression_bomb_is_refused_and_not_stored(backend: Backend) {
    let app = TestApp::start(backend).await;
    let bomb = obshell_with(&zero_bomb(6, 7 << 29));
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());

    let form = Form::new().part("file", Part::bytes(bomb.clone()).file_name("ob.rpm"));
    let response = app
        .request(Who::Manager, Method::POST, "/api/v1/upgrade/package")
        .multipart(form)
        .send()
        .await
        .unwrap();
    let message = expect_error(response, StatusCode::BAD_REQUEST, 10001).await;
    assert!(
        message.starts_with("the RPM payload inflates beyond 64.0 MiB"),
        "{message}"
    );
    // It stopped at its bound, not at the end of the 21 GiB.
    assert_eq!(walks(&metrics(&app).await, "inflated"), 1.0);

    let (_, list) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(list["data"]["page"]["totalElements"], 0, "nothing stored");
    assert!(app.stored_objects().await.is_empty());
    assert!(app.staging_objects().await.is_empty());

    // Through OCP's API nothing reads the payload: the package is stored as
    // it is (its MD5 matches), for clients that install it to judge.
    let data = app.upload_ok("ob.rpm", bomb).await;
    assert_eq!(data["name"], "obshell");
}

/// A payload of many empty files, a slow one to walk: 64 MiB of identical
/// cpio entries, in a few KB of zstd.
fn slow_payload() -> Vec<u8> {
    let entry = newc_header("./d", 0o100644, 0);
    let entries = (64 << 20) / entry.len() + 1;
    let mut encoder = zstd::Encoder::new(Vec::new(), 1).unwrap();
    for _ in 0..entries {
        encoder.write_all(&entry).unwrap();
    }
    encoder.write_all(&newc_header("TRAILER!!!", 0, 0)).unwrap();
    encoder.finish().unwrap()
}

/// The multipart upload of `rpm` to obshell's API, as raw HTTP/1.1.
fn raw_upgrade_upload(app: &TestApp, rpm: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let boundary = "depot-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"ob.rpm\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(rpm);
    body.extend(format!("\r\n--{boundary}--\r\n").bytes());
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("manager:{PASSWORD}"));
    let host = app.base.trim_start_matches("http://");
    let mut request = format!(
        "POST /api/v1/upgrade/package HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend(body);
    request
}

/// The client sends a package and hangs up while depot walks its payload:
/// the walk sees it and stops (it would otherwise read its 64 MiB to the
/// end and refuse the package as inflating too much), and nothing is stored.
async fn a_client_hanging_up_stops_the_walk(backend: Backend) {
    let app = TestApp::start(backend).await;
    let request = raw_upgrade_upload(&app, &obshell_with(&slow_payload()));
    // The walk has to be under way when the client leaves: a walk that
    // ended first is tried again (it takes long enough that this is rare).
    let mut stopped = false;
    for _ in 0..5 {
        let before = metrics(&app).await;
        let ended_before = walks(&before, "stopped") + walks(&before, "inflated");
        let mut client = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
            .await
            .unwrap();
        client.write_all(&request).await.unwrap();
        // Hang up as soon as the walk is under way.
        loop {
            let text = metrics(&app).await;
            let ended = walks(&text, "stopped") + walks(&text, "inflated");
            if sample(&text, "depot_payload_walks_in_progress") >= Some(1.0) || ended > ended_before
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        drop(client);
        let text = loop {
            let text = metrics(&app).await;
            if walks(&text, "stopped") + walks(&text, "inflated") > ended_before {
                break text;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        if walks(&text, "stopped") > walks(&before, "stopped") {
            stopped = true;
            break;
        }
    }
    assert!(stopped, "no walk saw its client hang up");

    let (_, list) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(list["data"]["page"]["totalElements"], 0, "nothing stored");
    for _ in 0..100 {
        if app.staging_objects().await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(app.staging_objects().await.is_empty());
    assert!(app.stored_objects().await.is_empty());
}
