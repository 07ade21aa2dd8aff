//! The denial-of-service attacks of the adversarial assessment, replayed:
//! each must leave the service answering everyone else. Bounded in count
//! and time, on loopback only.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::backend_tests;
use crate::common::{Backend, TestApp, Who, config_for, envelope};

backend_tests!(
    slow_uploads_cannot_wedge_the_server,
    bodies_read_whole_have_a_limit,
    resumable_uploads_are_bounded_per_user,
    what_comes_before_the_file_is_bounded
);

/// An upload that sends its multipart preamble and 1 KiB of its file, then
/// nothing, until dropped (the client leaves).
struct SlowUpload {
    _feed: mpsc::Sender<std::io::Result<Bytes>>,
    request: JoinHandle<reqwest::Result<reqwest::Response>>,
}

impl Drop for SlowUpload {
    fn drop(&mut self) {
        self.request.abort();
    }
}

async fn slow_upload(app: &TestApp, who: Who, name: &str) -> SlowUpload {
    const BOUNDARY: &str = "depot-slow-upload";
    let (feed, rx) = mpsc::channel(4);
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    feed.send(Ok(Bytes::from(head))).await.unwrap();
    feed.send(Ok(Bytes::from(vec![b'#'; 1024]))).await.unwrap();
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let request = app
        .request(who, Method::POST, "/api/v2/software-packages")
        .header(
            CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(reqwest::Body::wrap_stream(body))
        .build()
        .unwrap();
    // A client of its own: an attacker shares no connection pool.
    let client = reqwest::Client::new();
    SlowUpload {
        _feed: feed,
        request: tokio::spawn(async move { client.execute(request).await }),
    }
}

/// Waits (a few seconds at most) until the server holds `slots` upload slots.
async fn wait_for_slots(app: &TestApp, slots: u64) {
    let wanted = format!("depot_upload_slots_in_use {slots}");
    for _ in 0..100 {
        let metrics = app.get(Who::Anonymous, "/metrics").await;
        if metrics
            .text()
            .await
            .unwrap()
            .lines()
            .any(|line| line == wanted)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the slow uploads never took their {slots} slots");
}

/// Slow multipart uploads (1 KiB, then nothing) on a server with few
/// blocking threads. When each upload parked threads for its digests, a
/// handful left none for file I/O and the server hung for good, `/healthz`
/// still answering 200. Now no thread waits for a client, and one user (or
/// all together) can hold only the slots the bounds give.
async fn slow_uploads_cannot_wedge_the_server(backend: Backend) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(backend, dir.path()).await;
    config.max_uploads = 8;
    config.max_uploads_per_user = 6;
    let app = TestApp::start_on(backend, config, dir, Some(runtime)).await;

    let mut attack = Vec::new();
    for i in 0..6 {
        attack.push(slow_upload(&app, Who::Manager, &format!("slow-{i}.sh")).await);
    }
    wait_for_slots(&app, 6).await;
    // The manager's seventh is refused at once, and told when to retry.
    let refused = app
        .upload_as(Who::Manager, "seventh.sh", b"echo 7\n".to_vec())
        .await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key(RETRY_AFTER));
    let (_, body) = envelope(refused).await;
    assert_eq!(body["error"]["errCode"], "DEPOT_TOO_MANY_UPLOADS", "{body}");

    // Everyone else is served, file I/O included.
    let admin = app
        .upload_as(Who::Admin, "legit.sh", b"echo legit\n".to_vec())
        .await;
    assert_eq!(admin.status(), StatusCode::OK);
    let list = app.get(Who::Viewer, "/api/v2/software-packages").await;
    assert_eq!(list.status(), StatusCode::OK);
    assert_eq!(
        app.get(Who::Anonymous, "/healthz").await.status(),
        StatusCode::OK
    );

    // All users together hold at most `max_uploads`.
    for i in 0..2 {
        attack.push(slow_upload(&app, Who::Admin, &format!("slow-admin-{i}.sh")).await);
    }
    wait_for_slots(&app, 8).await;
    let busy = app
        .upload_as(Who::Admin, "ninth.sh", b"echo 9\n".to_vec())
        .await;
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(busy.headers().contains_key(RETRY_AFTER));
    let (_, body) = envelope(busy).await;
    assert_eq!(body["error"]["errCode"], "DEPOT_SERVER_BUSY", "{body}");
    assert_eq!(
        app.get(Who::Anonymous, "/healthz").await.status(),
        StatusCode::OK
    );

    // The attacker leaves: the slots come back.
    drop(attack);
    let mut stored = false;
    for _ in 0..100 {
        let response = app
            .upload_as(Who::Manager, "after.sh", b"echo after\n".to_vec())
            .await;
        if response.status() == StatusCode::OK {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(stored, "the slots of the cut uploads were never given back");
}

/// Slowloris: one client opens connections and sends half a request on
/// each. Those beyond its share are closed at once, the rest when the
/// header timeout ends them, and everyone else is served all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_cannot_deny_service() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const SHARE: usize = 20;
    let app = TestApp::start_with(
        Backend::SqliteLocal,
        Box::new(|config| {
            config.header_timeout = Duration::from_secs(1);
            config.max_connections_per_address = SHARE;
        }),
    )
    .await;
    let server: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    // The attacker comes from another loopback address than the test's client.
    let mut attack = Vec::new();
    for _ in 0..SHARE * 5 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let mut stream = socket.connect(server).await.unwrap();
        // Half a request: never the blank line that ends the headers.
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await;
        attack.push(stream);
    }
    // Everyone else is served while the attack holds its share.
    assert_eq!(
        app.get(Who::Viewer, "/api/v2/software-packages")
            .await
            .status(),
        StatusCode::OK
    );
    // Every attacking connection ends: past its share at once, the others
    // at the header timeout (a read that waited longer fails the test).
    let mut closed = 0;
    for stream in &mut attack {
        let mut buf = [0u8; 1024];
        let end = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    // hyper may answer 408 before closing.
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(end.is_ok(), "a half-open connection was never closed");
        closed += 1;
    }
    assert_eq!(closed, SHARE * 5);
    assert_eq!(
        app.get(Who::Anonymous, "/healthz").await.status(),
        StatusCode::OK
    );
}

/// Slowloris over HTTP/2 (prior knowledge), which hyper never times out: a
/// connection that opened and sent nothing more, and one whose request's
/// headers never end (a HEADERS frame without END_HEADERS), are both closed
/// once nothing has run on them for the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::start_with(
        Backend::SqliteLocal,
        Box::new(|config| config.header_timeout = Duration::from_secs(1)),
    )
    .await;
    let server: std::net::SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    // An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
    const SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];
    // HEADERS on stream 1 without END_HEADERS (flags 0): one literal field
    // (":method: GET", indexed 2), and no CONTINUATION ever follows.
    const HALF_HEADERS: &[u8] = &[0, 0, 1, 1, 0, 0, 0, 0, 1, 0x82];
    for opening in [
        [PREFACE, SETTINGS].concat(),
        [PREFACE, SETTINGS, HALF_HEADERS].concat(),
    ] {
        let mut stream = tokio::net::TcpStream::connect(server).await.unwrap();
        stream.write_all(&opening).await.unwrap();
        let mut buf = [0u8; 1024];
        let end = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    // The server's SETTINGS, its ACK, then GOAWAY.
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(end.is_ok(), "an idle HTTP/2 connection was never closed");
    }
    assert_eq!(
        app.get(Who::Anonymous, "/healthz").await.status(),
        StatusCode::OK
    );
}

/// Every body depot reads whole has a limit: a viewer's 2 GiB body to the
/// route planner once took 4.6 GB of memory. Just over each limit is refused
/// with 413 in the envelope (just over: the client can still send it all
/// before the answer, so it reads the answer rather than a broken pipe).
async fn bodies_read_whole_have_a_limit(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cases = [
        (
            Who::Viewer,
            "/api/v1/upgrade/route?from=4.0.0.0&to=4.2.0.0",
            "application/yaml",
            (1 << 20) + 1024,
        ),
        (
            Who::Admin,
            "/api/v2/tokens",
            "application/json",
            (16 << 10) + 1024,
        ),
    ];
    for (who, path, content_type, size) in cases {
        let response = app
            .request(who, Method::POST, path)
            .header(CONTENT_TYPE, content_type)
            .body(" ".repeat(size))
            .send()
            .await
            .unwrap();
        let (status, body) = envelope(response).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {body}");
        assert_eq!(body["error"]["errCode"], "DEPOT_BODY_TOO_LARGE", "{path}");
    }
}

/// `/metrics` is open by default (Prometheus' convention) and answers only
/// its token when depot runs with `--metrics-token`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_require_a_token() {
    let app = TestApp::start_with(
        Backend::SqliteLocal,
        Box::new(|config| {
            config.metrics_token = Some(depot::config::Secret::new("scrape-secret"));
        }),
    )
    .await;
    let anonymous = app.get(Who::Anonymous, "/metrics").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let wrong = app
        .request(Who::Anonymous, Method::GET, "/metrics")
        .bearer_auth("scrape-secreT")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = app
        .request(Who::Anonymous, Method::GET, "/metrics")
        .bearer_auth("scrape-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert!(
        right
            .text()
            .await
            .unwrap()
            .contains("depot_http_requests_total")
    );
}

/// Resumable uploads reserve what they announce: one user may have only so
/// many in progress, announcing only so many bytes, with little metadata.
/// Terminating one makes room again; other users are not affected.
async fn resumable_uploads_are_bounded_per_user(backend: Backend) {
    use base64::Engine;
    let app = TestApp::start_with(
        backend,
        Box::new(|config| {
            config.max_open_uploads = 3;
            config.max_open_upload_bytes = 10 << 20;
        }),
    )
    .await;
    let create = |who: Who, length: u64, metadata: String| {
        app.request(who, Method::POST, "/api/v2/uploads/")
            .header("tus-resumable", "1.0.0")
            .header("upload-length", length.to_string())
            .header("upload-metadata", metadata)
            .send()
    };
    let name = |n: &str| {
        format!(
            "filename {}",
            base64::engine::general_purpose::STANDARD.encode(n)
        )
    };
    let mut created = Vec::new();
    for i in 0..3 {
        let response = create(Who::Manager, 1 << 20, name(&format!("u{i}.sh")))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        created.push(response.headers()["location"].to_str().unwrap().to_string());
    }
    // A fourth: too many in progress.
    let (status, body) = envelope(create(Who::Manager, 1, name("u3.sh")).await.unwrap()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["errCode"], "DEPOT_TOO_MANY_UPLOADS");
    // Another user is not affected; but cannot announce more than the bytes allowed.
    let (status, body) =
        envelope(create(Who::Admin, 11 << 20, name("big.sh")).await.unwrap()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let response = create(Who::Admin, 1 << 20, name("fine.sh")).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    // Metadata is kept, so it is small.
    let long = format!("{},note {}", name("meta.sh"), "A".repeat(8 << 10));
    let (status, _) = envelope(create(Who::Admin, 1, long).await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Terminating one makes room.
    let gone = app
        .http
        .delete(&created[0])
        .basic_auth("manager", Some(crate::common::PASSWORD))
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let response = create(Who::Manager, 1, name("u4.sh")).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// A multipart body that never reaches its file: a preamble without a
/// boundary, or an endless field header. The parser reads such bytes whole
/// while it looks for the boundary (~690 MB a request before the 408 once);
/// now it stops past 1 MiB: the client gets its answer (or is cut off)
/// having sent a small part of the 256 MiB it offers, and a real upload
/// still works.
async fn what_comes_before_the_file_is_bounded(backend: Backend) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    const BOUNDARY: &str = "depot-preamble";
    const OFFERED: u64 = 256 << 20;
    let app = TestApp::start(backend).await;
    let endless_header = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.sh\"\r\nX-Pad: "
    );
    for start in [String::new(), endless_header] {
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let chunks = std::iter::once(Bytes::from(start))
            .chain((0..OFFERED >> 16).map(|_| Bytes::from(vec![b'a'; 64 << 10])))
            .map(move |chunk| {
                counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                Ok::<_, std::io::Error>(chunk)
            });
        let response = app
            .request(Who::Manager, Method::POST, "/api/v2/software-packages")
            .header(
                CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
            .send()
            .await;
        let sent = sent.load(Ordering::Relaxed);
        assert!(
            sent < OFFERED / 4,
            "the server read {sent} bytes before the file"
        );
        // Refused with 400; or, while the client still sends, cut off.
        if let Ok(response) = response {
            let (status, body) = envelope(response).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        }
    }
    let fine = app
        .upload("after-preamble.sh", b"echo fine\n".to_vec())
        .await;
    assert_eq!(fine.status(), StatusCode::OK);
}

/// SIGTERM ends the server within `--shutdown-grace`, even while a client
/// holds a request open (a slow upload that would otherwise keep it for the
/// whole idle timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_within_its_grace() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(Backend::SqliteLocal, dir.path()).await;
    config.shutdown_grace = Duration::from_secs(1);
    let server = depot::app::Server::build(config).await.unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    // A slow upload by the admin, held open.
    let (feed, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    feed.send(Ok(Bytes::from_static(
        b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.sh\"\r\n\r\n#",
    )))
    .await
    .unwrap();
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let upload = tokio::spawn(
        reqwest::Client::new()
            .post(format!("http://{addr}/api/v2/software-packages"))
            .basic_auth("admin", Some(crate::common::PASSWORD))
            .header(CONTENT_TYPE, "multipart/form-data; boundary=b")
            .body(reqwest::Body::wrap_stream(body))
            .send(),
    );
    // Wait until the server has the upload in hand.
    let metrics = format!("http://{addr}/metrics");
    for _ in 0..100 {
        let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
        if text.lines().any(|l| l == "depot_upload_slots_in_use 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.send(()).unwrap();
    // The grace (1 s) and the audit flush: well within 20 s, far below the
    // upload's 60 s idle timeout.
    let ended = tokio::time::timeout(Duration::from_secs(20), running).await;
    assert!(ended.is_ok(), "the server did not stop within its grace");
    drop(feed);
    upload.abort();
}
