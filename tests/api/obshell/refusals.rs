//! What depot refuses of obshell's auth: each with obshell's 401 and code
//! 10008, on which the SDKs fetch the key again and retry; and obshell's
//! operations depot does not have, with a clear 501.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, Response, StatusCode};
use rsa::RsaPrivateKey;

use super::client::{
    KEYS, OTHER_KEYS, encrypt_blocks, encrypt_body, multipart, now, public_key, v1_header,
    v2_header,
};
use super::{noise, oceanbase};
use crate::backend_tests;
use crate::common::{Backend, PASSWORD, TestApp, envelope, expect_error};

backend_tests!(
    obshell_headers_refused_with_10008,
    obshell_hostile_headers_and_bodies_are_refused,
    obshell_other_operations_are_refused_clearly,
);

const INFO: &str = "/api/v1/upgrade/package/info";

async fn get(app: &TestApp, path: &str, name: &str, header: &str) -> Response {
    app.http
        .get(app.url(path))
        .header(name, header)
        .send()
        .await
        .unwrap()
}

async fn refused(response: Response) -> String {
    expect_error(response, StatusCode::UNAUTHORIZED, 10008).await
}

async fn obshell_headers_refused_with_10008(backend: Backend) {
    let app = TestApp::start(backend).await;
    let key = public_key(&app).await;
    let v2 = |password: &str, ts: i64, uri: &str| v2_header(&key, password, ts, uri, KEYS);

    // The baseline: a good header is accepted (v2 and v1).
    let good = v2(PASSWORD, now() + 60, INFO);
    let (status, body) = envelope(get(&app, INFO, "X-OCS-Header", &good).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v1 = v1_header(&key, PASSWORD, now() + 60);
    let (status, body) = envelope(get(&app, INFO, "X-OCS-Auth", &v1).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Used once: not again, not for another target.
    let message = refused(get(&app, INFO, "X-OCS-Header", &good).await).await;
    assert!(message.contains("used before"), "{message}");
    let fresh = v2(PASSWORD, now() + 60, INFO);
    let other = format!("{INFO}?page=2");
    let message = refused(get(&app, &other, "X-OCS-Header", &fresh).await).await;
    assert!(message.contains("made for"), "{message}");
    let message = refused(get(&app, INFO, "X-OCS-Auth", &v1).await).await;
    assert!(message.contains("used before"), "{message}");

    // Expired; too far ahead (the Go SDK's v1 adds nanoseconds).
    let message =
        refused(get(&app, INFO, "X-OCS-Header", &v2(PASSWORD, now() - 120, INFO)).await).await;
    assert!(message.contains("expired"), "{message}");
    let message = refused(
        get(
            &app,
            INFO,
            "X-OCS-Header",
            &v2(PASSWORD, now() + 1000, INFO),
        )
        .await,
    )
    .await;
    assert!(message.contains("ahead"), "{message}");
    let far = v1_header(&key, PASSWORD, now() + 60_000_000_000);
    refused(get(&app, INFO, "X-OCS-Auth", &far).await).await;

    // A wrong password, an unknown token.
    refused(
        get(
            &app,
            INFO,
            "X-OCS-Header",
            &v2("not-the-password", now() + 60, INFO),
        )
        .await,
    )
    .await;
    refused(
        get(
            &app,
            INFO,
            "X-OCS-Header",
            &v2("depot_unknown", now() + 60, INFO),
        )
        .await,
    )
    .await;

    // Encrypted to another key than depot's.
    let stranger = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
    let header = v2_header(&stranger.to_public_key(), PASSWORD, now() + 60, INFO, KEYS);
    let message = refused(get(&app, INFO, "X-OCS-Header", &header).await).await;
    assert!(message.contains("cannot be decrypted"), "{message}");

    // A body encrypted with other keys than its header carries.
    let path = "/api/v1/upgrade/package";
    let (body, content_type) = multipart("ob.rpm", &oceanbase("1.el7", noise(50_000, 9)));
    let response = app
        .http
        .post(app.url(path))
        .header("X-OCS-Header", v2(PASSWORD, now() + 60, path))
        .header(CONTENT_TYPE, content_type)
        .body(encrypt_body(OTHER_KEYS, &body))
        .send()
        .await
        .unwrap();
    let message = refused(response).await;
    assert!(message.contains("body"), "{message}");
    assert!(app.stored_objects().await.is_empty());
}

async fn obshell_hostile_headers_and_bodies_are_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    let key = public_key(&app).await;
    // A huge header is refused before any RSA; garbage is unreadable.
    let message = refused(get(&app, INFO, "X-OCS-Header", &"QUFB".repeat(4096)).await).await;
    assert!(message.contains("longer than"), "{message}");
    refused(get(&app, INFO, "X-OCS-Header", "%%% not base64 %%%").await).await;
    refused(get(&app, INFO, "X-OCS-Auth", "AAAA").await).await;

    // Bodies read whole (a posted upgrade YAML): not base64, bad padding.
    let path = "/api/v1/upgrade/route?from=4.2.1.0&to=4.2.1.1";
    let post = |body: String| {
        app.http
            .post(app.url(path))
            .header(
                "X-OCS-Header",
                v2_header(&key, PASSWORD, now() + 60, path, KEYS),
            )
            .body(body)
            .send()
    };
    let message = refused(post("@@@@ not base64 @@@@".into()).await.unwrap()).await;
    assert!(message.contains("base64"), "{message}");
    let mut unpadded = b"- version: 4.2.1.0\n".to_vec();
    unpadded.resize(32, 0);
    let message = refused(post(encrypt_blocks(KEYS, unpadded)).await.unwrap()).await;
    assert!(message.contains("padding"), "{message}");
    let message = refused(post(encrypt_blocks(KEYS, vec![7; 20])).await.unwrap()).await;
    assert!(
        message.contains("blocks") || message.contains("base64"),
        "{message}"
    );

    // Unreadable headers spend the address's failed-login budget: a flood
    // of them is throttled (429) instead of decrypted without end.
    let mut throttled = false;
    for _ in 0..40 {
        let response = get(&app, INFO, "X-OCS-Header", "AAAA").await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
        refused(response).await;
    }
    assert!(
        throttled,
        "40 unreadable headers from one address were never throttled"
    );
}

async fn obshell_other_operations_are_refused_clearly(backend: Backend) {
    let app = TestApp::start(backend).await;
    for (method, path) in [
        (Method::GET, "/api/v1/status"),
        (Method::POST, "/api/v1/ob/init"),
        (Method::POST, "/api/v1/agent/join"),
        (Method::GET, "/api/v1/tenant/sys/parameters"),
    ] {
        let response = app
            .http
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        let message = expect_error(response, StatusCode::NOT_IMPLEMENTED, 90021).await;
        assert!(
            message.contains("not an obshell agent") && message.contains(path),
            "{method} {path}: {message}"
        );
    }
    // depot's own /api/v1 routes still answer.
    let response = app
        .http
        .get(app.url("/api/v1/upgrade/package/info"))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::UNAUTHORIZED, 30000).await;
}
