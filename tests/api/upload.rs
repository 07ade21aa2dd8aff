//! `POST /api/v2/software-packages`: ingest of RPMs and scripts.

use std::collections::HashSet;

use reqwest::multipart::{Form, Part};
use reqwest::{Body, Method, StatusCode};
use rpm::CompressionType;

use crate::backend_tests;
use crate::common::rpms::{RpmSpec, ocp_agent};
use crate::common::{Backend, TestApp, Who, envelope, expect_error, sha1_hex};

backend_tests!(
    rpm_upload_answers_every_field,
    types_are_inferred,
    scripts_are_packages,
    reupload_is_idempotent_and_conflicts_are_refused,
    identical_content_is_stored_once,
    concurrent_uploads_of_one_file,
    bad_input_is_refused,
    oversized_uploads_are_refused,
    built_in_packages_are_preloaded,
);

async fn rpm_upload_answers_every_field(backend: Backend) {
    let app = TestApp::start(backend).await;
    let spec = ocp_agent();
    let bytes = spec.build();
    // The name a browser gives a second download: depot stores the canonical one.
    let data = app
        .upload_ok("t-oceanbase-ocp-agent.rpm (1)", bytes.clone())
        .await;
    assert!(data["id"].as_i64().unwrap() > 0);
    assert_eq!(data["name"], "t-oceanbase-ocp-agent");
    assert_eq!(
        data["fileName"],
        "t-oceanbase-ocp-agent-3.1.2-20210812221645.alios7.x86_64.rpm"
    );
    assert_eq!(data["extension"], "rpm");
    assert_eq!(data["size"], bytes.len() as u64);
    assert_eq!(data["sha1"], sha1_hex(&bytes));
    assert_eq!(data["type"], "OCP_AGENT_INSTALL_PACKAGE");
    assert_eq!(data["version"], "3.1.2");
    assert_eq!(data["buildNumber"], "20210812221645");
    assert_eq!(data["operatingSystem"], "alios7");
    assert_eq!(data["architecture"], "x86_64");
    assert_eq!(data["deletable"], true);
    assert_eq!(
        data["downloadUrl"],
        app.url(
            "/api/v2/files/sys-package/t-oceanbase-ocp-agent-3.1.2-20210812221645.alios7.x86_64.rpm"
        )
    );
    // Nothing is left in staging.
    assert!(app.staging_objects().await.is_empty());

    // GET by id answers the same, and the digests and content key besides.
    let (_, body) = envelope(
        app.get(
            Who::Viewer,
            &format!("/api/v2/software-packages/{}", data["id"]),
        )
        .await,
    )
    .await;
    let mut details = body["data"].clone();
    let details = details.as_object_mut().unwrap();
    assert_eq!(details.remove("md5").unwrap().as_str().unwrap().len(), 32);
    assert_eq!(
        details.remove("sha256").unwrap().as_str().unwrap().len(),
        64
    );
    let key = details.remove("contentKey").unwrap();
    assert!(key.as_str().unwrap().starts_with("blobs/blake3/"), "{key}");
    assert_eq!(serde_json::Value::Object(details.clone()), data);
}

async fn types_are_inferred(backend: Backend) {
    let app = TestApp::start(backend).await;
    let cases = [
        (
            RpmSpec::new(
                "oceanbase-ce",
                "4.2.1.0",
                "100000102023092807.el7",
                "x86_64",
            ),
            "OB_SERVER_INSTALL_PACKAGE",
        ),
        (
            RpmSpec::new("oceanbase-ce-libs", "4.2.1.0", "1.el8", "aarch64"),
            "OB_SERVER_INSTALL_PACKAGE",
        ),
        (
            RpmSpec::new("t-oceanbase-standalone-utils", "4.3.0", "2.al8", "x86_64"),
            "OB_SERVER_INSTALL_PACKAGE",
        ),
        (
            RpmSpec::new("obproxy-ce", "4.2.0", "1.el7", "x86_64").compression(CompressionType::Xz),
            "OBPROXY_INSTALL_PACKAGE",
        ),
        (
            RpmSpec::new("ocp-agent-ce", "4.2.1", "20231010.el7", "aarch64")
                .compression(CompressionType::Zstd),
            "OCP_AGENT_INSTALL_PACKAGE",
        ),
        (
            RpmSpec::new("obagent", "4.2.0", "1.el7", "x86_64").compression(CompressionType::None),
            "OB_AGENT_INSTALL_PACKAGE",
        ),
        (
            RpmSpec::new("ob-backup-agent", "1.0", "1.el7", "x86_64"),
            "OB_BACKUP_AGENT_INSTALL_PACKAGE",
        ),
        (
            RpmSpec::new("custom-db", "1.0", "1.el7", "x86_64")
                .file("/home/admin/oceanbase/bin/observer", "ELF"),
            "OB_SERVER_INSTALL_PACKAGE",
        ),
        (
            RpmSpec::new("custom-proxy", "1.0", "1", "x86_64")
                .file("/opt/obproxy/bin/obproxy", "ELF"),
            "OBPROXY_INSTALL_PACKAGE",
        ),
        (
            RpmSpec::new("nginx", "1.24", "1.el9", "noarch"),
            "OTHERS_RPM",
        ),
    ];
    for (spec, expected) in cases {
        let data = app.upload_ok("upload.rpm", spec.build()).await;
        assert_eq!(data["type"], expected, "{}", spec.file_name());
        assert_eq!(data["fileName"], spec.file_name());
        assert_eq!(data["architecture"], spec.arch);
    }
    // A release without a dot has no operating system.
    let data = app
        .upload_ok("x.rpm", RpmSpec::new("plain", "1", "7", "x86_64").build())
        .await;
    assert_eq!(data["operatingSystem"], "");
    assert_eq!(data["buildNumber"], "7");
}

async fn scripts_are_packages(backend: Backend) {
    let app = TestApp::start(backend).await;
    let sh = b"#!/bin/bash\necho install\n".to_vec();
    let data = app.upload_ok("install_agent.sh", sh.clone()).await;
    assert_eq!(data["type"], "SCRIPT");
    assert_eq!(data["name"], "install_agent.sh");
    assert_eq!(data["fileName"], "install_agent.sh");
    assert_eq!(data["extension"], "sh");
    assert_eq!(data["sha1"], sha1_hex(&sh));
    let data = app
        .upload_ok("check-env.py", b"print('ok')\n".to_vec())
        .await;
    assert_eq!(
        (data["type"].as_str(), data["extension"].as_str()),
        (Some("SCRIPT"), Some("py"))
    );

    let message = expect_error(
        app.upload("notes.txt", b"hello".to_vec()).await,
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    assert!(message.contains("neither an RPM"), "{message}");
}

async fn reupload_is_idempotent_and_conflicts_are_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    let bytes = ocp_agent().build();
    let first = app.upload_ok("a.rpm", bytes.clone()).await;
    let again = app.upload_ok("b.rpm", bytes).await;
    assert_eq!(first, again);

    // Same canonical name, other bytes (another file inside).
    let other = ocp_agent().file("/etc/extra.conf", "x=1").build();
    let message = expect_error(
        app.upload("c.rpm", other).await,
        StatusCode::CONFLICT,
        90001,
    )
    .await;
    assert!(
        message.contains(first["fileName"].as_str().unwrap()),
        "{message}"
    );

    let first = app.upload_ok("run.sh", b"echo 1\n".to_vec()).await;
    assert_eq!(app.upload_ok("run.sh", b"echo 1\n".to_vec()).await, first);
    expect_error(
        app.upload("run.sh", b"echo 2\n".to_vec()).await,
        StatusCode::CONFLICT,
        90001,
    )
    .await;
}

async fn identical_content_is_stored_once(backend: Backend) {
    let app = TestApp::start(backend).await;
    let bytes = b"#!/bin/sh\necho same\n".to_vec();
    let a = app.upload_ok("one.sh", bytes.clone()).await;
    let b = app.upload_ok("two.sh", bytes.clone()).await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(a["sha1"], b["sha1"]);
    assert_eq!(app.stored_objects().await.len(), 1);
}

async fn concurrent_uploads_of_one_file(backend: Backend) {
    let app = TestApp::start(backend).await;
    let bytes = RpmSpec::new("obproxy", "4.3.0", "5.el7", "x86_64")
        .file("/opt/blob", vec![7u8; 3 << 20])
        .build();
    let uploads = (0..6).map(|_| app.upload("obproxy.rpm", bytes.clone()));
    let results = futures::future::join_all(uploads).await;
    let mut ids = HashSet::new();
    for response in results {
        let (status, body) = envelope(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.insert(body["data"]["id"].as_i64().unwrap());
    }
    assert_eq!(ids.len(), 1, "one package for one file");
    assert_eq!(app.stored_objects().await.len(), 1, "one object");
    assert!(app.staging_objects().await.is_empty());
}

async fn bad_input_is_refused(backend: Backend) {
    let app = TestApp::start(backend).await;
    let path = "/api/v2/software-packages";

    // Not multipart at all.
    let response = app
        .request(Who::Manager, Method::POST, path)
        .json(&serde_json::json!({"file": "x"}))
        .send()
        .await
        .unwrap();
    let message = expect_error(response, StatusCode::BAD_REQUEST, 10001).await;
    assert!(message.contains("multipart"), "{message}");

    // Multipart without a `file` field.
    let form = Form::new().text("name", "x");
    let response = app
        .request(Who::Manager, Method::POST, path)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let message = expect_error(response, StatusCode::BAD_REQUEST, 10001).await;
    assert!(message.contains("file"), "{message}");

    // Garbage named .rpm, and a truncated RPM.
    let message = expect_error(
        app.upload("x.rpm", b"definitely not an rpm".to_vec()).await,
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    assert!(message.contains("neither an RPM"), "{message}");
    let mut bytes = ocp_agent().file("/opt/payload", vec![1u8; 1 << 20]).build();
    bytes.truncate(bytes.len() - 1000);
    let message = expect_error(
        app.upload("t.rpm", bytes).await,
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    assert!(message.contains("truncated"), "{message}");
    // A forged header size is refused before anything is allocated for it.
    let mut bytes = ocp_agent().build();
    bytes[108..112].copy_from_slice(&u32::MAX.to_be_bytes());
    let message = expect_error(
        app.upload("f.rpm", bytes).await,
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    assert!(message.contains("declares"), "{message}");
    let mut bytes = ocp_agent().build();
    bytes.truncate(300);
    let message = expect_error(
        app.upload("t.rpm", bytes).await,
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    assert!(message.contains("RPM"), "{message}");

    // Unsafe names.
    for name in [
        ".hidden.sh",
        "a\u{1}b.sh",
        "with space.sh",
        "semi;colon.sh",
        &format!("{}.sh", "n".repeat(260)),
    ] {
        expect_error(
            app.upload(name, b"echo\n".to_vec()).await,
            StatusCode::BAD_REQUEST,
            10001,
        )
        .await;
    }
    // A path in the name: multipart parsers may strip it; either way it must not be stored with a separator.
    let response = app.upload("../../etc/evil.sh", b"echo\n".to_vec()).await;
    if response.status() == StatusCode::OK {
        let (_, body) = envelope(response).await;
        assert!(
            !body["data"]["fileName"].as_str().unwrap().contains('/'),
            "{body}"
        );
    } else {
        expect_error(response, StatusCode::BAD_REQUEST, 10001).await;
    }

    // Nothing of that was kept.
    let (_, body) = envelope(app.get(Who::Viewer, path).await).await;
    let stored: Vec<_> = body["data"]["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["fileName"].clone())
        .collect();
    assert!(stored.iter().all(|n| n == "evil.sh"), "{stored:?}");
    assert!(app.staging_objects().await.is_empty());
}

async fn oversized_uploads_are_refused(backend: Backend) {
    let app = TestApp::start_with(backend, Box::new(|c| c.max_upload_size = 1 << 20)).await;
    let big = vec![b'#'; 2 << 20];

    // Announced by Content-Length: refused before the body is read. A client
    // that sends without waiting (no `Expect: 100-continue`, unlike curl) may
    // see the connection close before it reads the answer.
    let form = Form::new().part("file", Part::bytes(big.clone()).file_name("big.sh"));
    let sent = app.send_form(form).await;
    match sent {
        Ok(response) => {
            let message = expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, 90003).await;
            assert!(message.contains("1048576"), "{message}");
        }
        Err(e) => assert!(e.is_request(), "{e}"),
    }

    // Streamed without a length: refused once the limit is crossed.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(64 << 10).map(|c| Ok(c.to_vec())).collect();
    let part = Part::stream(Body::wrap_stream(futures::stream::iter(chunks))).file_name("big.sh");
    let response = app.send_form(Form::new().part("file", part)).await.unwrap();
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, 90003).await;
    let (_, body) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(
        body["data"]["page"]["totalElements"], 0,
        "nothing was stored"
    );

    // Just under the limit is fine.
    app.upload_ok("fits.sh", vec![b'#'; (1 << 20) - 10]).await;
    assert!(app.staging_objects().await.is_empty());
    assert_eq!(app.stored_objects().await.len(), 1);
}

async fn built_in_packages_are_preloaded(backend: Backend) {
    let preload = tempfile::tempdir().unwrap();
    let spec = RpmSpec::new("oceanbase-ce", "4.2.1.0", "1.el7", "x86_64");
    let rpm_bytes = spec.build();
    std::fs::write(preload.path().join("ob.rpm"), &rpm_bytes).unwrap();
    // Kubernetes mounts volumes as symlinks: those count.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("init.sh"), b"echo init\n").unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path().join("init.sh"),
        preload.path().join("init.sh"),
    )
    .unwrap();
    std::fs::write(preload.path().join("README.txt"), b"skipped: not a package").unwrap();
    let dir = preload.path().to_path_buf();
    let app = TestApp::start_with(backend, Box::new(move |c| c.preload_dir = Some(dir))).await;

    let (_, body) = envelope(
        app.get(Who::Viewer, "/api/v2/software-packages?sort=fileName,asc")
            .await,
    )
    .await;
    let contents = body["data"]["contents"].as_array().unwrap().clone();
    let names: Vec<_> = contents
        .iter()
        .map(|p| p["fileName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["init.sh", spec.file_name().as_str()]);
    assert!(contents.iter().all(|p| p["deletable"] == false));
    let path = format!("/api/v2/software-packages/{}", contents[0]["id"]);
    let response = app
        .request(Who::Admin, Method::DELETE, &path)
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::CONFLICT, 90002).await;

    // A restart imports nothing twice; an upload of the same file finds the built-in one.
    let (mut config, dir) = app.stop().await;
    config.listen = "127.0.0.1:0".parse().unwrap();
    let app = TestApp::start_config(backend, config, dir).await;
    let (_, body) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(body["data"]["page"]["totalElements"], 2);
    let again = app.upload_ok("x.rpm", rpm_bytes).await;
    assert_eq!(again["deletable"], false);
}
