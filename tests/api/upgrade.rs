//! obshell's upgrade-package API: `/api/v1/upgrade/package`.

use reqwest::multipart::{Form, Part};
use reqwest::{Method, Response, StatusCode};
use rpm::CompressionType;
use serde_json::Value;

use crate::backend_tests;
use crate::common::rpms::{RpmSpec, signature_end, signed_md5, with_md5_signature};
use crate::common::upgrade_dep::{DEP_YAML, DEP_YAML_PATH};
use crate::common::{Backend, TestApp, Who, envelope, expect_error};

backend_tests!(
    upload_answers_every_field,
    the_yaml_is_read_from_every_compression,
    obshell_rules_refuse_before_storing,
    one_package_record_for_both_apis,
);

/// Bytes that do not compress away, so payloads span several chunks.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e3779b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn oceanbase(release: &str, compression: CompressionType) -> RpmSpec<'_> {
    RpmSpec::new("oceanbase-ce", "4.2.1.1", release, "x86_64")
        .file("/home/admin/oceanbase/bin/observer", noise(300_000))
        .file(DEP_YAML_PATH, DEP_YAML)
        .compression(compression)
}

async fn upload(app: &TestApp, who: Who, name: &str, bytes: Vec<u8>) -> Response {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_string()));
    app.request(who, Method::POST, "/api/v1/upgrade/package")
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// The upload answer's keys (`PkgId`) as the list spells them (`pkg_id`).
fn snake_case(pascal: &Value) -> Value {
    let fields = pascal.as_object().unwrap().iter().map(|(k, v)| {
        let mut key = String::new();
        for (i, c) in k.chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                key.push('_');
            }
            key.push(c.to_ascii_lowercase());
        }
        (key, v.clone())
    });
    Value::Object(fields.collect())
}

async fn upload_ok(app: &TestApp, bytes: Vec<u8>) -> Value {
    let (status, body) = envelope(upload(app, Who::Manager, "ob.rpm", bytes).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

async fn upload_answers_every_field(backend: Backend) {
    let app = TestApp::start_with(backend, Box::new(|c| c.upgrade_chunk_size = 64 << 10)).await;
    let spec = oceanbase("101000062023110109.el7", CompressionType::Xz);
    let bytes = with_md5_signature(&spec.build(), None);
    let data = upload_ok(&app, bytes.clone()).await;

    let payload_size = (bytes.len() - signature_end(&bytes)) as u64;
    let installed: usize = spec.files.iter().map(|(_, c)| c.len()).sum();
    assert!(data["PkgId"].as_i64().unwrap() > 0);
    assert_eq!(data["Name"], "oceanbase-ce");
    assert_eq!(data["Version"], "4.2.1.1");
    assert_eq!(data["ReleaseDistribution"], "101000062023110109.el7");
    assert_eq!(data["Distribution"], "el7");
    assert_eq!(data["Release"], "101000062023110109");
    assert_eq!(data["Architecture"], "x86_64");
    assert_eq!(data["Size"], installed as u64);
    assert_eq!(data["PayloadSize"], payload_size);
    assert_eq!(data["ChunkCount"], payload_size.div_ceil(64 << 10));
    assert!(data["ChunkCount"].as_u64().unwrap() > 1);
    assert_eq!(data["Md5"], signed_md5(&bytes));
    assert_eq!(data["UpgradeDepYaml"], DEP_YAML);
    assert!(data["GmtModify"].is_string());

    // Listed by obshell's API, and by OCP's with its OCP type.
    let (_, info) = envelope(app.get(Who::Viewer, "/api/v1/upgrade/package/info").await).await;
    assert_eq!(info["data"].as_array().unwrap().len(), 1);
    // In current obshell's snake_case keys, the same values.
    assert_eq!(info["data"][0], snake_case(&data));
    let (_, list) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(list["data"]["contents"][0]["id"], data["PkgId"]);
    assert_eq!(
        list["data"]["contents"][0]["type"],
        "OB_SERVER_INSTALL_PACKAGE"
    );

    // Identical content: the same record, unchanged.
    assert_eq!(upload_ok(&app, bytes).await, data);
    expect_error(
        upload(&app, Who::Viewer, "ob.rpm", spec.build()).await,
        StatusCode::FORBIDDEN,
        30014,
    )
    .await;
}

async fn the_yaml_is_read_from_every_compression(backend: Backend) {
    let app = TestApp::start(backend).await;
    let releases = ["1.el7", "2.el7", "3.el7", "4.el7", "5.el7"];
    let compressions = [
        CompressionType::None,
        CompressionType::Gzip,
        CompressionType::Zstd,
        CompressionType::Xz,
        CompressionType::Bzip2,
    ];
    for (release, compression) in releases.into_iter().zip(compressions) {
        // Unsigned by MD5 (as the rpm crate builds): depot reports the MD5 it computed.
        let bytes = oceanbase(release, compression).build();
        let data = upload_ok(&app, bytes.clone()).await;
        assert_eq!(data["UpgradeDepYaml"], DEP_YAML, "{compression:?}");
        assert_eq!(data["Md5"], signed_md5(&bytes), "{compression:?}");
    }
    // No YAML in the payload: an empty one.
    let spec = RpmSpec::new("oceanbase-ce", "4.2.1.1", "6.el7", "x86_64")
        .file("/home/admin/oceanbase/bin/observer", "ELF");
    assert_eq!(upload_ok(&app, spec.build()).await["UpgradeDepYaml"], "");
    // obshell itself has no observer, and needs none.
    let spec = RpmSpec::new("obshell", "4.2.1.1", "7.el7", "x86_64");
    assert_eq!(upload_ok(&app, spec.build()).await["Name"], "obshell");
}

async fn obshell_rules_refuse_before_storing(backend: Backend) {
    let app = TestApp::start(backend).await;
    let refuse = |bytes: Vec<u8>| upload(&app, Who::Manager, "x.rpm", bytes);

    let corrupt = with_md5_signature(
        &oceanbase("1.el7", CompressionType::Gzip).build(),
        Some([7; 16]),
    );
    let message = expect_error(refuse(corrupt).await, StatusCode::BAD_REQUEST, 10001).await;
    assert!(message.contains("corrupt"), "{message}");

    let bad_yaml = RpmSpec::new("oceanbase-ce", "4.2.1.1", "1.el7", "x86_64")
        .file("/home/admin/oceanbase/bin/observer", "ELF")
        .file(
            DEP_YAML_PATH,
            "- version: 4.2.1.0\n  can_be_upgraded_to: [4.2.1.1\n",
        );
    let message = expect_error(
        refuse(bad_yaml.build()).await,
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    assert!(message.contains("line"), "{message}");

    let other = RpmSpec::new("obproxy-ce", "4.2.0", "1.el7", "x86_64");
    let message = expect_error(refuse(other.build()).await, StatusCode::BAD_REQUEST, 10001).await;
    assert!(message.contains("oceanbase-ce"), "{message}");

    let no_dist = oceanbase("101000062023110109", CompressionType::Gzip);
    let message = expect_error(
        refuse(no_dist.build()).await,
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    assert!(message.contains("distribution"), "{message}");

    let no_observer = RpmSpec::new("oceanbase-ce", "4.2.1.1", "1.el7", "x86_64");
    let message = expect_error(
        refuse(no_observer.build()).await,
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    assert!(message.contains("bin/observer"), "{message}");

    let script = upload(&app, Who::Manager, "x.sh", b"echo\n".to_vec()).await;
    expect_error(script, StatusCode::BAD_REQUEST, 10001).await;

    let (_, list) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(list["data"]["page"]["totalElements"], 0, "nothing stored");
    assert!(app.stored_objects().await.is_empty());
}

async fn one_package_record_for_both_apis(backend: Backend) {
    let app = TestApp::start(backend).await;
    let bytes = oceanbase("101000062023110109.el7", CompressionType::Zstd).build();
    // Through OCP first: obshell's upload finds the same package.
    let ocp = app.upload_ok("ob.rpm", bytes.clone()).await;
    let obshell = upload_ok(&app, bytes).await;
    assert_eq!(obshell["PkgId"], ocp["id"]);
    assert_eq!(app.stored_objects().await.len(), 1);

    // A package that never came through obshell is not obshell's to delete.
    let other = app.upload_ok("run.sh", b"echo\n".to_vec()).await;
    let path = format!("/api/v1/upgrade/package/{}", other["id"]);
    // depot's `pkgId`: the one upgrade package, or none.
    let only = |id: &Value| format!("/api/v1/upgrade/package/info?pkgId={id}");
    let (_, info) = envelope(app.get(Who::Viewer, &only(&obshell["PkgId"])).await).await;
    let listed: Vec<_> = info["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["pkg_id"].clone())
        .collect();
    assert_eq!(listed, [obshell["PkgId"].clone()], "{info}");
    let (_, info) = envelope(app.get(Who::Viewer, &only(&other["id"])).await).await;
    assert_eq!(info["data"], serde_json::json!([]));
    let response = app
        .request(Who::Manager, Method::DELETE, &path)
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::NOT_FOUND, 10002).await;

    let path = format!("/api/v1/upgrade/package/{}", obshell["PkgId"]);
    let (status, _) = envelope(
        app.request(Who::Manager, Method::DELETE, &path)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, info) = envelope(app.get(Who::Viewer, "/api/v1/upgrade/package/info").await).await;
    assert_eq!(info["data"], serde_json::json!([]));
    let response = app
        .get(
            Who::Viewer,
            &format!("/api/v2/software-packages/{}", ocp["id"]),
        )
        .await;
    expect_error(response, StatusCode::NOT_FOUND, 10002).await;

    // Deleting through OCP removes it from obshell's list too.
    let bytes = oceanbase("2.el7", CompressionType::Gzip).build();
    let data = upload_ok(&app, bytes).await;
    let path = format!("/api/v2/software-packages/{}", data["PkgId"]);
    assert_eq!(
        app.request(Who::Admin, Method::DELETE, &path)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let (_, info) = envelope(app.get(Who::Viewer, "/api/v1/upgrade/package/info").await).await;
    assert_eq!(info["data"], serde_json::json!([]));
}
