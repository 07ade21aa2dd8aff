//! Authentication, permissions, and the endpoints open to everyone.

use depot::config::Secret;
use reqwest::{Method, StatusCode, header};

use crate::backend_tests;
use crate::common::rpms::ocp_agent;
use crate::common::{TestApp, Who, envelope, expect_error};

backend_tests!(
    time_and_info_are_open,
    permission_matrix,
    unauthenticated_answers,
    unknown_routes,
    password_changes_take_effect_at_once,
    probes_are_open,
    schemes_without_credentials_are_refused,
);

async fn time_and_info_are_open(backend: crate::common::Backend) {
    let app = TestApp::start(backend).await;
    let (status, body) = envelope(app.get(Who::Anonymous, "/api/v2/time").await).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        chrono::DateTime::parse_from_rfc3339(body["data"].as_str().unwrap()).is_ok(),
        "{body}"
    );
    let (status, body) = envelope(app.get(Who::Anonymous, "/api/v2/info").await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["name"], "depot");
}

/// Every protected endpoint × every kind of caller.
async fn permission_matrix(backend: crate::common::Backend) {
    let app = TestApp::start(backend).await;
    let spec = ocp_agent();
    let stored = app.upload_ok("agent.rpm", spec.build()).await;
    let id = stored["id"].as_i64().unwrap();
    let download = format!("/api/v2/files/sys-package/{}", spec.file_name());

    for who in Who::ALL {
        let (read, write) = match who {
            Who::Anonymous => (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED),
            Who::BadPassword => (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED),
            Who::Viewer => (StatusCode::OK, StatusCode::FORBIDDEN),
            Who::Manager | Who::Admin => (StatusCode::OK, StatusCode::OK),
        };
        let list = app.get(who, "/api/v2/software-packages").await;
        assert_eq!(list.status(), read, "{who:?} list");
        let show = app
            .get(who, &format!("/api/v2/software-packages/{id}"))
            .await;
        assert_eq!(show.status(), read, "{who:?} show");
        let get = app.get(who, &download).await;
        let ok_download = matches!(get.status(), StatusCode::OK | StatusCode::FOUND);
        assert_eq!(
            ok_download,
            read == StatusCode::OK,
            "{who:?} download: {}",
            get.status()
        );
        let head = app
            .request(who, Method::HEAD, &download)
            .send()
            .await
            .unwrap();
        let ok_head = matches!(head.status(), StatusCode::OK | StatusCode::FOUND);
        assert_eq!(
            ok_head,
            read == StatusCode::OK,
            "{who:?} head: {}",
            head.status()
        );

        // A script per caller, so a permitted upload creates a package to delete.
        let script = format!("probe-{who:?}.sh").to_lowercase();
        let upload = app
            .upload_as(who, &script, b"#!/bin/sh\necho hi\n".to_vec())
            .await;
        assert_eq!(upload.status(), write, "{who:?} upload");
        let victim = app
            .upload_ok(
                &format!("victim-{who:?}.sh").to_lowercase(),
                b"echo\n".to_vec(),
            )
            .await;
        let path = format!("/api/v2/software-packages/{}", victim["id"]);
        let delete = app
            .request(who, Method::DELETE, &path)
            .send()
            .await
            .unwrap();
        assert_eq!(delete.status(), write, "{who:?} delete");
    }
}

async fn unauthenticated_answers(backend: crate::common::Backend) {
    let app = TestApp::start(backend).await;
    let response = app.get(Who::Anonymous, "/api/v2/software-packages").await;
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        r#"Basic realm="depot""#
    );
    expect_error(response, StatusCode::UNAUTHORIZED, 30000).await;

    let response = app.get(Who::BadPassword, "/api/v2/software-packages").await;
    assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    expect_error(response, StatusCode::UNAUTHORIZED, 30004).await;

    // An unknown user reads the same as a wrong password.
    let response = app
        .http
        .get(app.url("/api/v2/software-packages"))
        .basic_auth("nobody", Some("whatever-it-is"))
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::UNAUTHORIZED, 30004).await;

    // A scheme other than Basic, or a broken header, is refused the same way.
    let response = app
        .http
        .get(app.url("/api/v2/software-packages"))
        .header(header::AUTHORIZATION, "Basic !!!")
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::UNAUTHORIZED, 30004).await;

    let response = app.upload_as(Who::Viewer, "x.sh", b"echo".to_vec()).await;
    let message = expect_error(response, StatusCode::FORBIDDEN, 30014).await;
    assert!(message.contains("PACKAGE_MANAGER"), "{message}");
}

async fn unknown_routes(backend: crate::common::Backend) {
    let app = TestApp::start(backend).await;
    expect_error(
        app.get(Who::Admin, "/api/v2/nope").await,
        StatusCode::NOT_FOUND,
        10002,
    )
    .await;
    let response = app
        .request(Who::Admin, Method::PUT, "/api/v2/software-packages")
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::METHOD_NOT_ALLOWED, 90007).await;
    let response = app.get(Who::Admin, "/api/v2/software-packages/abc").await;
    expect_error(response, StatusCode::BAD_REQUEST, 10001).await;
}

/// Verified passwords are remembered for a while; a change or removal made by
/// this process must still count at once (other processes: within 30 s).
async fn password_changes_take_effect_at_once(backend: crate::common::Backend) {
    let app = TestApp::start(backend).await;
    let list = "/api/v2/software-packages";
    assert_eq!(app.get(Who::Viewer, list).await.status(), StatusCode::OK);
    assert_eq!(app.get(Who::Viewer, list).await.status(), StatusCode::OK);

    app.users
        .set_password("viewer", &Secret::new("a-brand-new-password"))
        .await
        .unwrap();
    expect_error(
        app.get(Who::Viewer, list).await,
        StatusCode::UNAUTHORIZED,
        30004,
    )
    .await;
    let with_new = app
        .http
        .get(app.url(list))
        .basic_auth("viewer", Some("a-brand-new-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(with_new.status(), StatusCode::OK);

    app.users.remove("viewer").await.unwrap();
    let removed = app
        .http
        .get(app.url(list))
        .basic_auth("viewer", Some("a-brand-new-password"))
        .send()
        .await
        .unwrap();
    expect_error(removed, StatusCode::UNAUTHORIZED, 30004).await;
}

async fn probes_are_open(backend: crate::common::Backend) {
    let app = TestApp::start(backend).await;
    let (status, body) = envelope(app.get(Who::Anonymous, "/healthz").await).await;
    assert_eq!(
        (status, body["data"]["status"].as_str()),
        (StatusCode::OK, Some("UP"))
    );
    let (status, body) = envelope(app.get(Who::Anonymous, "/readyz").await).await;
    assert_eq!(
        (status, body["data"]["status"].as_str()),
        (StatusCode::OK, Some("READY"))
    );
}

/// `Authorization: Bearer` with no token used to panic (500).
async fn schemes_without_credentials_are_refused(backend: crate::common::Backend) {
    let app = TestApp::start(backend).await;
    for value in [
        "Bearer",
        "bearer",
        "Bearer  ",
        "Basic",
        "Bearerdepot_x",
        "Negotiate abc",
    ] {
        let response = app
            .http
            .get(app.url("/api/v2/software-packages"))
            .header(header::AUTHORIZATION, value)
            .send()
            .await
            .unwrap();
        let message = expect_error(response, StatusCode::UNAUTHORIZED, 30004).await;
        assert!(!message.contains("internal"), "{value:?}: {message}");
    }
}
