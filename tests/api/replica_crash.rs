//! A replica killed while it writes a resumable upload: the client resumes
//! through another replica at once, without a 409 and without waiting out a
//! long lease.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::StatusCode;

use crate::common::{Backend, PASSWORD, config_for, envelope};
use crate::replicas::{shared_env, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_resumes_on_another_replica_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(Backend::PostgresS3, dir.path()).await;
    let mut env = shared_env(&config, dir.path());
    // shared_env lets uploads expire within seconds; this one must outlive the crash.
    env.retain(|(k, _)| k != "DEPOT_UPLOAD_EXPIRY");
    let mut a = start(&env);
    let b = start(&env);
    let http = reqwest::Client::new();
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();

    let response = http
        .post(format!("{}/api/v2/uploads/", a.base))
        .basic_auth("admin", Some(PASSWORD))
        .header("tus-resumable", "1.0.0")
        .header("upload-length", bytes.len().to_string())
        .header(
            "upload-metadata",
            format!("filename {}", BASE64.encode("crash.sh")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let path = response.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches(&a.base)
        .to_string();

    // A PATCH on the first replica that holds the upload's lease, then the
    // replica dies without a word (SIGKILL): nobody renews the lease, nobody
    // answers a takeover request.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let dying = tokio::spawn(
        http.patch(format!("{}{path}", a.base))
            .basic_auth("admin", Some(PASSWORD))
            .header("tus-resumable", "1.0.0")
            .header("upload-offset", "0")
            .header("content-type", "application/offset+octet-stream")
            .body(reqwest::Body::wrap_stream(futures::stream::poll_fn(
                move |cx| rx.poll_recv(cx),
            )))
            .send(),
    );
    tx.send(Ok(bytes[..1000].to_vec())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let _ = dying.await;
    drop(tx);

    // The client resumes on the second replica where HEAD says, as tus
    // clients do: the PATCH waits for the dead lease and then succeeds.
    let head = http
        .head(format!("{}{path}", b.base))
        .basic_auth("admin", Some(PASSWORD))
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let offset: usize = head.headers()["upload-offset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let response = http
        .patch(format!("{}{path}", b.base))
        .basic_auth("admin", Some(PASSWORD))
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(bytes[offset..].to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");

    // The package is whole.
    let (status, body) = envelope(
        http.get(format!("{}/api/v2/software-packages?keyword=crash", b.base))
            .basic_auth("admin", Some(PASSWORD))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["contents"][0]["size"], bytes.len(), "{body}");
    let download = http
        .get(format!("{}/api/v2/files/sys-package/crash.sh", b.base))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(download.bytes().await.unwrap().as_ref(), &bytes[..]);
}
