//! `DELETE /api/v2/software-packages/{id}` and what happens to the object.

use reqwest::{Method, StatusCode};

use crate::backend_tests;
use crate::common::{Backend, TestApp, Who, envelope, expect_error};

backend_tests!(
    delete_removes_the_package,
    shared_objects_outlive_one_package
);

async fn delete_removes_the_package(backend: Backend) {
    let app = TestApp::start(backend).await;
    let data = app.upload_ok("gone.sh", b"echo gone\n".to_vec()).await;
    let path = format!("/api/v2/software-packages/{}", data["id"]);

    let (status, body) = envelope(
        app.request(Who::Manager, Method::DELETE, &path)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("data").is_none(), "{body}");

    expect_error(
        app.get(Who::Viewer, &path).await,
        StatusCode::NOT_FOUND,
        10002,
    )
    .await;
    expect_error(
        app.get(Who::Viewer, "/api/v2/files/sys-package/gone.sh")
            .await,
        StatusCode::NOT_FOUND,
        10002,
    )
    .await;
    let again = app
        .request(Who::Manager, Method::DELETE, &path)
        .send()
        .await
        .unwrap();
    expect_error(again, StatusCode::NOT_FOUND, 10002).await;
    assert!(
        app.stored_objects().await.is_empty(),
        "the unreferenced object is removed"
    );

    // The same name can be uploaded again, with other content.
    app.upload_ok("gone.sh", b"echo back\n".to_vec()).await;
}

async fn shared_objects_outlive_one_package(backend: Backend) {
    let app = TestApp::start(backend).await;
    let bytes = b"#!/bin/sh\necho shared\n".to_vec();
    let a = app.upload_ok("a.sh", bytes.clone()).await;
    let b = app.upload_ok("b.sh", bytes.clone()).await;
    assert_eq!(app.stored_objects().await.len(), 1);

    let del = |id: &serde_json::Value| {
        app.request(
            Who::Admin,
            Method::DELETE,
            &format!("/api/v2/software-packages/{id}"),
        )
        .send()
    };
    assert_eq!(del(&a["id"]).await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.stored_objects().await.len(), 1, "b still references it");
    let response = app.get(Who::Viewer, "/api/v2/files/sys-package/b.sh").await;
    assert!(matches!(
        response.status(),
        StatusCode::OK | StatusCode::FOUND
    ));

    assert_eq!(del(&b["id"]).await.unwrap().status(), StatusCode::OK);
    assert!(app.stored_objects().await.is_empty());

    // Uploading the bytes again after the object went stores them again.
    app.upload_ok("c.sh", bytes).await;
    assert_eq!(app.stored_objects().await.len(), 1);
}
