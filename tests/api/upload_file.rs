//! `POST /api/v2/files/uploadFile?type=FILE_TYPE`: OCP 2.4's upload call.

use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response, StatusCode};

use crate::backend_tests;
use crate::common::rpms::{RpmSpec, ocp_agent};
use crate::common::{Backend, TestApp, Who, envelope, expect_error};

backend_tests!(
    the_seed_call_stores_a_package,
    the_declared_type_overrides_inference,
    declared_types_must_fit_the_file,
    the_same_bytes_declared_as_another_type_are_a_conflict,
);

/// As `curl --user … -X POST "$SITE_URL/api/v2/files/uploadFile?type=$FILE_TYPE" -F "file=@$FILE_NAME"`.
async fn upload_file(
    app: &TestApp,
    who: Who,
    file_type: &str,
    name: &str,
    bytes: Vec<u8>,
) -> Response {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_string()));
    app.request(
        who,
        Method::POST,
        &format!("/api/v2/files/uploadFile?type={file_type}"),
    )
    .multipart(form)
    .send()
    .await
    .unwrap()
}

async fn the_seed_call_stores_a_package(backend: Backend) {
    let app = TestApp::start(backend).await;
    let spec = ocp_agent();
    let bytes = spec.build();
    let response = upload_file(
        &app,
        Who::Manager,
        "OCP_AGENT_INSTALL_PACKAGE",
        &spec.file_name(),
        bytes.clone(),
    )
    .await;
    let (status, body) = envelope(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!(data["type"], "OCP_AGENT_INSTALL_PACKAGE");
    assert_eq!(data["fileName"], spec.file_name());
    assert_eq!(data["buildNumber"], "20210812221645");

    // The same store as the 2.5 call: listed there, and the same bytes are the same package.
    let (_, list) = envelope(
        app.get(
            Who::Viewer,
            "/api/v2/software-packages?type=OCP_AGENT_INSTALL_PACKAGE",
        )
        .await,
    )
    .await;
    assert_eq!(list["data"]["contents"][0]["id"], data["id"]);
    assert_eq!(app.upload_ok("again.rpm", bytes).await["id"], data["id"]);

    let response = upload_file(
        &app,
        Who::Viewer,
        "OCP_AGENT_INSTALL_PACKAGE",
        "x.rpm",
        spec.build(),
    )
    .await;
    expect_error(response, StatusCode::FORBIDDEN, 30014).await;
}

async fn the_declared_type_overrides_inference(backend: Backend) {
    let app = TestApp::start(backend).await;
    let spec = RpmSpec::new("company-monitor", "2.0", "1.el7", "x86_64");
    let (_, body) = envelope(
        upload_file(
            &app,
            Who::Manager,
            "OB_AGENT_INSTALL_PACKAGE",
            "m.rpm",
            spec.build(),
        )
        .await,
    )
    .await;
    assert_eq!(body["data"]["type"], "OB_AGENT_INSTALL_PACKAGE");

    let (_, body) = envelope(
        upload_file(
            &app,
            Who::Manager,
            "SCRIPT",
            "prepare-host.sh",
            b"echo prepare\n".to_vec(),
        )
        .await,
    )
    .await;
    assert_eq!(body["data"]["type"], "SCRIPT");

    // Without a type, the 2.4 call infers like the 2.5 one.
    let form = Form::new().part(
        "file",
        Part::bytes(RpmSpec::new("obproxy-ce", "4.2.0", "1.el7", "x86_64").build())
            .file_name("p.rpm"),
    );
    let response = app
        .request(Who::Manager, Method::POST, "/api/v2/files/uploadFile")
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (_, body) = envelope(response).await;
    assert_eq!(body["data"]["type"], "OBPROXY_INSTALL_PACKAGE");
}

async fn declared_types_must_fit_the_file(backend: Backend) {
    let app = TestApp::start(backend).await;
    let message = expect_error(
        upload_file(&app, Who::Manager, "RPM", "a.rpm", ocp_agent().build()).await,
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    assert!(
        message.contains("OB_SERVER_INSTALL_PACKAGE") && message.contains("SCRIPT"),
        "{message}"
    );

    let message = expect_error(
        upload_file(&app, Who::Manager, "SCRIPT", "a.rpm", ocp_agent().build()).await,
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    assert!(message.contains("not a SCRIPT"), "{message}");

    let message = expect_error(
        upload_file(
            &app,
            Who::Manager,
            "OTHERS_RPM",
            "run.sh",
            b"echo\n".to_vec(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    assert!(message.contains("not an RPM"), "{message}");

    let (_, list) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(list["data"]["page"]["totalElements"], 0, "nothing stored");
}

/// The same bytes again, declaring another type than the stored one: a 409
/// that names the stored type, not a 200 that silently keeps it.
async fn the_same_bytes_declared_as_another_type_are_a_conflict(backend: Backend) {
    let app = TestApp::start(backend).await;
    let spec = ocp_agent();
    let bytes = spec.build();
    let name = spec.file_name();
    let first = upload_file(&app, Who::Manager, "OTHERS_RPM", &name, bytes.clone()).await;
    let (status, body) = envelope(first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["data"]["id"].clone();

    let again = upload_file(
        &app,
        Who::Manager,
        "OCP_AGENT_INSTALL_PACKAGE",
        &name,
        bytes.clone(),
    )
    .await;
    let message = expect_error(again, StatusCode::CONFLICT, 90030).await;
    assert!(message.contains("as type OTHERS_RPM"), "{message}");
    assert!(
        message.contains("not OCP_AGENT_INSTALL_PACKAGE"),
        "{message}"
    );

    // The same type again, or none (the 2.5 call), is the stored package.
    let same = upload_file(&app, Who::Manager, "OTHERS_RPM", &name, bytes.clone()).await;
    let (status, body) = envelope(same).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["id"], id);
    let inferred = app.upload_ok(&name, bytes).await;
    assert_eq!(inferred["id"], id);
    assert_eq!(inferred["type"], "OTHERS_RPM");
}
