//! `GET`/`POST /api/v1/upgrade/route`: routes planned against what depot holds.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::rpms::RpmSpec;
use crate::common::upgrade_dep::{DEP_YAML_PATH, SEED_YAML};
use crate::common::{Backend, TestApp, Who, envelope, expect_error};

backend_tests!(
    routes_over_the_stored_yaml,
    routes_over_a_posted_yaml,
    route_errors
);

async fn store(app: &TestApp, version: &str, release: &str) -> Value {
    let spec = RpmSpec::new("oceanbase-ce", version, release, "x86_64")
        .file("/home/admin/oceanbase/bin/observer", "ELF")
        .file(DEP_YAML_PATH, SEED_YAML);
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(spec.build()).file_name("ob.rpm"),
    );
    let response = app
        .request(Who::Manager, Method::POST, "/api/v1/upgrade/package")
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

async fn route(app: &TestApp, query: &str) -> Value {
    let (status, body) = envelope(
        app.get(Who::Viewer, &format!("/api/v1/upgrade/route?{query}"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].clone()
}

async fn routes_over_the_stored_yaml(backend: Backend) {
    let app = TestApp::start(backend).await;
    let target = store(&app, "4.2.1.0", "101000012023101010.el7").await;

    // The second reference route: nothing but the target is needed, and it is here.
    let data = route(&app, "from=4.1.0.1&to=4.2.1.0").await;
    assert_eq!(
        data["hops"],
        json!(["4.1.0.1", "4.1.0.2", "4.2.0.0", "4.2.1.0"])
    );
    assert_eq!(data["binaryRoute"], json!(["4.1.0.1", "4.2.1.0"]));
    assert_eq!(data["yamlSource"]["pkgId"], target["PkgId"]);
    // The start (installed already, but needed to roll back) is not stored; the target is.
    assert_eq!(
        data["missing"],
        json!(["oceanbase-ce-4.1.0.1-*.el7.x86_64.rpm"])
    );
    assert_eq!(data["packages"][1]["available"], true);
    assert_eq!(data["packages"][1]["pkgId"], target["PkgId"]);

    // The first reference route, planned on the YAML of the stored 4.2.1.2.
    store(&app, "4.2.1.2", "101000022024010101.el7").await;
    let barrier = store(&app, "4.1.0.2", "100000012023060101.el7").await;
    let data = route(&app, "from=4.0.0.0&to=4.2.1.2&architecture=x86_64,aarch64").await;
    assert_eq!(
        data["hops"],
        json!([
            "4.0.0.0", "4.1.0.0", "4.1.0.1", "4.1.0.2", "4.2.0.0", "4.2.1.0", "4.2.1.1", "4.2.1.2"
        ])
    );
    assert_eq!(
        data["binaryRoute"],
        json!(["4.0.0.0", "4.1.0.2", "4.2.1.1", "4.2.1.2"])
    );
    let available: Vec<_> = data["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["available"] == true)
        .map(|p| {
            (
                p["version"].as_str().unwrap().to_string(),
                p["architecture"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        available,
        [
            ("4.1.0.2".to_string(), "x86_64".to_string()),
            ("4.2.1.2".into(), "x86_64".into())
        ]
    );
    assert_eq!(
        data["missing"],
        json!([
            "oceanbase-ce-4.0.0.0-*.el7.x86_64.rpm",
            "oceanbase-ce-4.0.0.0-*.el7.aarch64.rpm",
            "oceanbase-ce-4.1.0.2-*.el7.aarch64.rpm",
            "oceanbase-ce-4.2.1.1-*.el7.x86_64.rpm",
            "oceanbase-ce-4.2.1.1-*.el7.aarch64.rpm",
            "oceanbase-ce-4.2.1.2-*.el7.aarch64.rpm"
        ])
    );
    assert_eq!(data["packages"][2]["pkgId"], barrier["PkgId"]);

    // A concrete target build is that build, not a newer one.
    let data = route(&app, "from=4.1.0.1&to=4.2.1.0-101000012023101011").await;
    assert_eq!(
        data["missing"],
        json!([
            "oceanbase-ce-4.1.0.1-*.el7.x86_64.rpm",
            "oceanbase-ce-4.2.1.0-101000012023101011.el7.x86_64.rpm"
        ])
    );
    let data = route(&app, "from=4.1.0.1&to=4.2.1.0-101000012023101010").await;
    assert_eq!(data["packages"][1]["pkgId"], target["PkgId"]);
}

async fn routes_over_a_posted_yaml(backend: Backend) {
    let app = TestApp::start(backend).await;
    let yaml = "- version: 1.0.0.0\n  can_be_upgraded_to: [1.1.0.0, 2.0.0.0]\n- version: 1.1.0.0\n  can_be_upgraded_to: [2.0.0.0]\n  require_from_binary: true\n";
    let post = |query: &str| {
        app.request(
            Who::Viewer,
            Method::POST,
            &format!("/api/v1/upgrade/route?{query}"),
        )
        .body(yaml)
        .send()
    };
    let (status, body) = envelope(
        post("from=1.0.0.0&to=2.0.0.0&distribution=el8&architecture=aarch64")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = &body["data"];
    assert_eq!(
        data["hops"],
        json!(["1.0.0.0", "2.0.0.0"]),
        "the shortest path skips 1.1.0.0"
    );
    assert_eq!(data["yamlSource"], Value::Null);
    assert_eq!(
        data["missing"],
        json!([
            "oceanbase-ce-1.0.0.0-*.el8.aarch64.rpm",
            "oceanbase-ce-2.0.0.0-*.el8.aarch64.rpm"
        ])
    );

    // Nothing stored and no dimensions given: depot says so rather than "nothing missing".
    let message = expect_error(
        post("from=1.0.0.0&to=2.0.0.0&distribution=el8")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        10001,
    )
    .await;
    assert!(message.contains("architecture"), "{message}");
}

async fn route_errors(backend: Backend) {
    let app = TestApp::start(backend).await;
    let message = expect_error(
        app.get(Who::Viewer, "/api/v1/upgrade/route?from=4.1.0.1&to=4.2.1.0")
            .await,
        StatusCode::NOT_FOUND,
        10002,
    )
    .await;
    assert!(message.contains("4.2.1.0"), "{message}");

    store(&app, "4.2.1.0", "1.el7").await;
    for (query, needle) in [
        ("to=4.2.1.0", "from="),
        ("from=3.9.0.0&to=4.2.1.0", "3.9.0.0"),
        ("from=4.2.1.1&to=4.2.1.0", "no upgrade route"),
        ("from=4.0.0.0&to=4.2.0.0-100000152023080109", "deprecated"),
        ("from=x.y&to=4.2.1.0", "version"),
    ] {
        // Planned over the seed's graph, whatever is stored.
        let response = app
            .request(
                Who::Viewer,
                Method::POST,
                &format!("/api/v1/upgrade/route?{query}"),
            )
            .body(SEED_YAML)
            .send()
            .await
            .unwrap();
        let (status, body) = envelope(response).await;
        assert!(status.is_client_error(), "{query}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(needle), "{query}: {message}");
    }
    expect_error(
        app.get(
            Who::Anonymous,
            "/api/v1/upgrade/route?from=4.1.0.1&to=4.2.1.0",
        )
        .await,
        StatusCode::UNAUTHORIZED,
        30000,
    )
    .await;
}
