//! `GET`/`HEAD /api/v2/files/sys-package/{fileName}`: the bytes streamed by
//! depot by default, a redirect to the store when asked for.

use depot::config::{DownloadRedirect, StorageConfig};
use reqwest::{Method, StatusCode, header};

use crate::backend_tests;
use crate::common::rpms::{RpmSpec, ocp_agent};
use crate::common::{Backend, TestApp, Who, expect_error, sha1_hex};

backend_tests!(
    the_bytes_by_default_a_redirect_on_request,
    proxy_mode_streams_with_ranges_and_etags,
    unknown_files_are_404
);

mod s3_only {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redirect_mode_presigns_for_the_method() {
        redirect_mode_presigns(Backend::PostgresS3).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn public_endpoint_signs_download_urls() {
        public_endpoint(Backend::PostgresS3).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn objects_over_the_copy_limit_are_copied_in_parts() {
        multipart_copy(Backend::PostgresS3).await
    }
}

fn sys_package(name: &str) -> String {
    format!("/api/v2/files/sys-package/{name}")
}

/// The download route asking for the redirect.
fn redirected(name: &str) -> String {
    format!("/api/v2/files/sys-package/{name}?redirect=1")
}

async fn the_bytes_by_default_a_redirect_on_request(backend: Backend) {
    let app = TestApp::start(backend).await;
    let spec = ocp_agent();
    let bytes = spec.build();
    app.upload_ok("a.rpm", bytes.clone()).await;
    let response = app.get(Who::Viewer, &sys_package(&spec.file_name())).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap(), bytes);
    let response = app.get(Who::Viewer, &redirected(&spec.file_name())).await;
    let expected = match app.redirects_on_request() {
        false => StatusCode::OK,
        true => StatusCode::FOUND,
    };
    assert_eq!(response.status(), expected);
    // `never` serves the bytes even to a request that asks.
    if app.redirects_on_request() {
        let never = TestApp::start_with(
            backend,
            Box::new(|c| c.download_redirect = Some(DownloadRedirect::Never)),
        )
        .await;
        never.upload_ok("a.rpm", bytes.clone()).await;
        let response = never.get(Who::Viewer, &redirected(&spec.file_name())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.bytes().await.unwrap(), bytes);
    }
}

async fn proxy_mode_streams_with_ranges_and_etags(backend: Backend) {
    let app = TestApp::start(backend).await;
    let spec = RpmSpec::new("obagent", "4.2.0", "1.el7", "x86_64").file(
        "/opt/data",
        (0..=255u8).cycle().take(300_000).collect::<Vec<_>>(),
    );
    let bytes = spec.build();
    let data = app.upload_ok("obagent.rpm", bytes.clone()).await;
    let path = sys_package(&spec.file_name());
    let etag = format!("\"{}\"", sha1_hex(&bytes));

    let response = app.get(Who::Viewer, &path).await;
    assert_eq!(response.status(), StatusCode::OK);
    let h = response.headers().clone();
    assert_eq!(h[header::CONTENT_LENGTH], bytes.len().to_string().as_str());
    assert_eq!(h[header::CONTENT_TYPE], "application/x-rpm");
    assert_eq!(
        h[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"{}\"", spec.file_name()).as_str()
    );
    assert_eq!(h[header::ETAG], etag.as_str());
    let body = response.bytes().await.unwrap();
    assert_eq!(sha1_hex(&body), data["sha1"].as_str().unwrap());

    // The downloadUrl the API handed out works as it is.
    let response = app
        .http
        .get(data["downloadUrl"].as_str().unwrap())
        .basic_auth("viewer", Some(crate::common::PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.bytes().await.unwrap(), body);

    let head = app
        .request(Who::Viewer, Method::HEAD, &path)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(
        head.headers()[header::CONTENT_LENGTH],
        bytes.len().to_string().as_str()
    );
    assert!(head.bytes().await.unwrap().is_empty());

    let ranged = app
        .request(Who::Viewer, Method::GET, &path)
        .header(header::RANGE, "bytes=100-1099")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        ranged.headers()[header::CONTENT_RANGE],
        format!("bytes 100-1099/{}", bytes.len()).as_str()
    );
    assert_eq!(ranged.bytes().await.unwrap(), &bytes[100..1100]);

    let tail = app
        .request(Who::Viewer, Method::GET, &path)
        .header(header::RANGE, "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(tail.bytes().await.unwrap(), &bytes[bytes.len() - 10..]);

    let beyond = app
        .request(Who::Viewer, Method::GET, &path)
        .header(header::RANGE, format!("bytes={}-", bytes.len() + 5))
        .send()
        .await
        .unwrap();
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        beyond.headers()[header::CONTENT_RANGE],
        format!("bytes */{}", bytes.len()).as_str()
    );

    let cached = app
        .request(Who::Viewer, Method::GET, &path)
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert!(cached.bytes().await.unwrap().is_empty());
    let stale = app
        .request(Who::Viewer, Method::GET, &path)
        .header(header::IF_NONE_MATCH, "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK);

    // Scripts come with their own content type.
    app.upload_ok("setup.sh", b"echo setup\n".to_vec()).await;
    let response = app.get(Who::Viewer, &sys_package("setup.sh")).await;
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/x-sh");
    assert_eq!(response.bytes().await.unwrap(), &b"echo setup\n"[..]);
}

async fn unknown_files_are_404(backend: Backend) {
    let app = TestApp::start(backend).await;
    let response = app
        .get(Who::Viewer, &sys_package("nothing-1.0-1.el7.x86_64.rpm"))
        .await;
    expect_error(response, StatusCode::NOT_FOUND, 10002).await;
}

async fn redirect_mode_presigns(backend: Backend) {
    let app = TestApp::start(backend).await;
    let spec = RpmSpec::new(
        "oceanbase-ce",
        "4.2.1.0",
        "100000102023092807.el7",
        "x86_64",
    )
    .file("/opt/x", vec![3u8; 200_000]);
    let bytes = spec.build();
    app.upload_ok("ob.rpm", bytes.clone()).await;
    let path = redirected(&spec.file_name());

    let response = app.get(Who::Viewer, &path).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(location.contains("X-Amz-Signature"), "{location}");

    // The presigned URL needs no depot credentials, and carries the download's headers.
    let object = reqwest::get(&location).await.unwrap();
    assert_eq!(object.status(), StatusCode::OK);
    let disposition = object.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        disposition,
        format!("attachment; filename=\"{}\"", spec.file_name())
    );
    assert_eq!(object.headers()[header::CONTENT_TYPE], "application/x-rpm");
    let body = object.bytes().await.unwrap();
    assert_eq!(sha1_hex(&body), sha1_hex(&bytes));

    // HEAD is redirected to a URL signed for HEAD; a GET signature does not serve HEAD.
    let head = app
        .request(Who::Viewer, Method::HEAD, &path)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::FOUND);
    let head_location = head.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    let object_head = app.http.head(&head_location).send().await.unwrap();
    assert_eq!(object_head.status(), StatusCode::OK);
    assert_eq!(
        object_head.headers()[header::CONTENT_LENGTH],
        bytes.len().to_string().as_str()
    );
    let wrong_method = app.http.head(&location).send().await.unwrap();
    assert!(
        !wrong_method.status().is_success(),
        "a GET signature must not serve HEAD"
    );

    // A tampered signature is rejected by the store.
    let tampered = location.replace("X-Amz-Signature=", "X-Amz-Signature=0");
    assert!(!reqwest::get(&tampered).await.unwrap().status().is_success());
}

async fn public_endpoint(backend: Backend) {
    let app = TestApp::start_with(
        backend,
        Box::new(|c| {
            if let StorageConfig::S3(s3) = &mut c.storage {
                let endpoint = s3.endpoint.clone().unwrap();
                s3.public_endpoint = Some(endpoint.replace("127.0.0.1", "localhost"));
            }
        }),
    )
    .await;
    app.upload_ok("x.sh", b"echo public\n".to_vec()).await;
    let response = app.get(Who::Viewer, &redirected("x.sh")).await;
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(location.starts_with("http://localhost:"), "{location}");
    let object = reqwest::get(&location).await.unwrap();
    assert_eq!(object.bytes().await.unwrap(), &b"echo public\n"[..]);
}

async fn multipart_copy(backend: Backend) {
    let app = TestApp::start_with(
        backend,
        Box::new(|c| {
            if let StorageConfig::S3(s3) = &mut c.storage {
                s3.max_single_copy = 5 << 20;
                s3.copy_part_size = 5 << 20;
            }
        }),
    )
    .await;
    let payload: Vec<u8> = (0..12u32 << 20).map(|i| (i % 251) as u8).collect();
    let spec = RpmSpec::new("big", "1.0", "1.el7", "x86_64")
        .file("/opt/big", payload)
        .compression(rpm::CompressionType::None);
    let bytes = spec.build();
    assert!(bytes.len() > 10 << 20);
    app.upload_ok("big.rpm", bytes.clone()).await;
    let response = app.get(Who::Viewer, &redirected(&spec.file_name())).await;
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    let body = reqwest::get(&location)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.len(), bytes.len());
    assert_eq!(sha1_hex(&body), sha1_hex(&bytes));
}
