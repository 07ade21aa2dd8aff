//! An S3 store that stalls: a request it leaves unanswered is tried once
//! more, one it never answers fails with a 503 in bounded time, and a
//! download its client reads slowly is not cut by the store's timeout,
//! which bounds a stall, not a transfer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use depot::config::{Config, S3Config, StorageConfig};
use futures::StreamExt;
use reqwest::StatusCode;

use crate::common::proxy::{Stall, StallingProxy};
use crate::common::{Backend, TestApp, Who, expect_error, sha1_hex};

/// Bytes that neither compress nor repeat, quickly.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn s3_endpoint() -> SocketAddr {
    let endpoint = std::env::var("DEPOT_TEST_S3_ENDPOINT").unwrap();
    let authority = endpoint.trim_start_matches("http://").trim_end_matches('/');
    std::net::ToSocketAddrs::to_socket_addrs(authority)
        .unwrap()
        .next()
        .unwrap()
}

/// The test S3 server behind `proxy`, with `timeout` as the store's.
fn through(proxy: Option<&StallingProxy>, timeout: Duration) -> Box<dyn FnOnce(&mut Config)> {
    tweaked(proxy, timeout, |_| {})
}

fn tweaked(
    proxy: Option<&StallingProxy>,
    timeout: Duration,
    tweak: impl FnOnce(&mut S3Config) + 'static,
) -> Box<dyn FnOnce(&mut Config)> {
    let endpoint = proxy.map(|p| format!("http://{}", p.addr));
    Box::new(move |c| {
        let StorageConfig::S3(s3) = &mut c.storage else {
            panic!("an S3 backend");
        };
        if let Some(endpoint) = endpoint {
            s3.endpoint = Some(endpoint);
        }
        s3.timeout = timeout;
        tweak(s3);
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_the_store_leaves_unread_is_sent_again() {
    // The first request to carry more than 1 MiB, a part, is never read.
    let proxy = StallingProxy::start(s3_endpoint(), Stall::After(1 << 20), 1).await;
    let app = TestApp::start_with(
        Backend::PostgresS3,
        through(Some(&proxy), Duration::from_secs(2)),
    )
    .await;
    let bytes = noise(12 << 20, 1);
    let data = app.upload_ok("stalled.sh", bytes.clone()).await;
    assert_eq!(proxy.stalled.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(data["sha1"], sha1_hex(&bytes), "{data}");

    let response = app
        .get(Who::Viewer, "/api/v2/files/sys-package/stalled.sh")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let got = response.bytes().await.unwrap();
    assert!(got == bytes, "the stored file is the one sent");
}

/// A staged upload's copy under its content key, as one CopyObject or, past
/// `max_single_copy`, in UploadPartCopy parts (through the AWS SDK, whose
/// own timeouts are set apart from object_store's).
async fn a_copy_the_store_leaves_unanswered_is_tried_again(max_single_copy: u64) {
    let proxy = StallingProxy::start(s3_endpoint(), Stall::On("x-amz-copy-source"), 1).await;
    let app = TestApp::start_with(
        Backend::PostgresS3,
        tweaked(Some(&proxy), Duration::from_secs(2), move |s3| {
            s3.max_single_copy = max_single_copy;
        }),
    )
    .await;
    let bytes = noise(12 << 20, 4);
    let data = app.upload_ok("copied.sh", bytes.clone()).await;
    assert_eq!(proxy.stalled.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(data["sha1"], sha1_hex(&bytes), "{data}");
    let response = app
        .get(Who::Viewer, "/api/v2/files/sys-package/copied.sh")
        .await;
    assert!(response.bytes().await.unwrap() == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_object_the_store_leaves_unanswered_is_tried_again() {
    a_copy_the_store_leaves_unanswered_is_tried_again(5 << 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_part_copy_the_store_leaves_unanswered_is_tried_again() {
    a_copy_the_store_leaves_unanswered_is_tried_again(1 << 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_never_answers_fails_the_upload_in_bounded_time() {
    let proxy = StallingProxy::start(s3_endpoint(), Stall::After(1 << 20), u64::MAX).await;
    let app = TestApp::start_with(
        Backend::PostgresS3,
        through(Some(&proxy), Duration::from_secs(1)),
    )
    .await;
    let started = Instant::now();
    let response = app.upload("hung.sh", noise(12 << 20, 2)).await;
    let message = expect_error(response, StatusCode::SERVICE_UNAVAILABLE, 90005).await;
    let elapsed = started.elapsed();
    assert!(
        proxy.stalled.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "a stalled part is tried again: {message}"
    );
    // Tries stop 20 s after the first: never minutes of silent retrying.
    assert!(elapsed < Duration::from_secs(40), "{elapsed:?}: {message}");
    assert!(app.stored_objects().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_downloads_past_the_store_timeout() {
    let app = TestApp::start_with(Backend::PostgresS3, through(None, Duration::from_secs(1))).await;
    // Larger than every buffer between the store and the reader (sockets'
    // included, about 25 MiB on loopback), so the store's response stays open.
    let bytes = noise(64 << 20, 3);
    app.upload_ok("slow.sh", bytes.clone()).await;

    // About 6 MiB/s: the store's response stays open for ten seconds and
    // more, past the timeout and past all of object_store's resumptions
    // (three, each after a cut), but never pauses as long as the timeout.
    let started = Instant::now();
    let response = app
        .get(Who::Viewer, "/api/v2/files/sys-package/slow.sh")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.bytes_stream();
    let mut got = Vec::with_capacity(bytes.len());
    while let Some(chunk) = body.next().await {
        got.extend_from_slice(&chunk.expect("the download is not cut"));
        let due = Duration::from_secs_f64(got.len() as f64 / (6 << 20) as f64);
        tokio::time::sleep(due.saturating_sub(started.elapsed())).await;
    }
    assert!(
        started.elapsed() > Duration::from_secs(9),
        "a download slower than the timeout's bound: {:?}",
        started.elapsed()
    );
    assert_eq!(got.len(), bytes.len());
    assert!(got == bytes, "the bytes stored");
}
