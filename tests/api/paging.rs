//! `page` and `size` on the lists that can grow without bound — the
//! patches (`/v1/query`), the hosts (`/v1/query_hosts`), the API tokens —
//! with `X-Total-Count`; without them the whole list, as before. And a
//! package's details with its digests.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestApp, Who, envelope, sha1_hex};
use crate::patches::hosts::{report, report_body};
use crate::patches::{PatchSpec, Signer, upload};
use crate::repos::Rpm;
use crate::tokens::create_token;

backend_tests!(
    patches_hosts_and_tokens_page,
    paging_is_bounded,
    details_carry_every_digest,
);

/// A GET's status, `X-Total-Count` and JSON body.
async fn get(app: &TestApp, who: Who, path: &str) -> (StatusCode, Option<u64>, Value) {
    let response = app.request(who, Method::GET, path).send().await.unwrap();
    let status = response.status();
    let total = response
        .headers()
        .get("x-total-count")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, total, response.json().await.unwrap())
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

async fn patches_hosts_and_tokens_page(backend: Backend) {
    let signer = Signer::new();
    let app = crate::patches::start(backend, &signer).await;
    for (i, name) in ["alpha", "beta", "gamma"].into_iter().enumerate() {
        let spec = PatchSpec::new(
            &format!("TC_19.12_PATCH_000{}", i + 1),
            vec![Rpm::new(name, "1.1", "1.el7", "x86_64")],
        );
        let r = upload(&app, &spec, spec.build(Some(&signer), false)).await;
        assert_eq!(r["error"], "", "{r}");
        let host = report_body(&format!("host-{i}"), "controller", "idle", vec![]);
        assert_eq!(report(&app, Who::Manager, &host).await.status(), 200);
        create_token(&app, json!({"name": format!("t{i}"), "user": "viewer"})).await;
    }

    // Patches: StarlingX's whole answer without paging, a page with it.
    let (status, total, all) = get(&app, Who::Viewer, "/v1/query").await;
    assert_eq!((status, total), (StatusCode::OK, Some(3)));
    assert_eq!(keys(&all["pd"]).len(), 3);
    let (_, total, first) = get(&app, Who::Viewer, "/v1/query?page=1&size=2").await;
    assert_eq!(total, Some(3));
    assert_eq!(
        keys(&first["pd"]),
        ["TC_19.12_PATCH_0001", "TC_19.12_PATCH_0002"]
    );
    assert_eq!(
        first["pd"]["TC_19.12_PATCH_0001"],
        all["pd"]["TC_19.12_PATCH_0001"]
    );
    let (_, _, second) = get(&app, Who::Viewer, "/patch/query?page=2&size=2").await;
    assert_eq!(keys(&second["pd"]), ["TC_19.12_PATCH_0003"]);
    // The state filter counts only what it lists.
    let (_, total, applied) = get(&app, Who::Viewer, "/v1/query?show=applied&page=1").await;
    assert_eq!((total, keys(&applied["pd"]).len()), (Some(0), 0));

    // Hosts by name.
    let (_, total, all) = get(&app, Who::Viewer, "/v1/query_hosts").await;
    assert_eq!((total, all["data"].as_array().unwrap().len()), (Some(3), 3));
    let (_, total, page) = get(&app, Who::Viewer, "/v1/query_hosts?page=2&size=2").await;
    assert_eq!(total, Some(3));
    let names: Vec<_> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hostname"].clone())
        .collect();
    assert_eq!(names, [json!("host-2")]);
    assert_eq!(page["data"][0], all["data"][2]);

    // Tokens by id, in the envelope.
    let (_, total, page) = get(&app, Who::Admin, "/api/v2/tokens?page=1&size=2").await;
    assert_eq!(total, Some(3));
    let names: Vec<_> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].clone())
        .collect();
    assert_eq!(names, [json!("t0"), json!("t1")]);
    let (_, total, page) = get(&app, Who::Admin, "/api/v2/tokens?page=2&size=2&user=viewer").await;
    assert_eq!(
        (total, page["data"].as_array().unwrap().len()),
        (Some(3), 1)
    );
    let (_, total, all) = get(&app, Who::Admin, "/api/v2/tokens").await;
    assert_eq!((total, all["data"].as_array().unwrap().len()), (Some(3), 3));
}

async fn paging_is_bounded(backend: Backend) {
    let app = TestApp::start(backend).await;
    for path in ["/v1/query", "/v1/query_hosts", "/api/v2/tokens"] {
        for bad in [
            "size=0",
            "size=501",
            "page=0",
            "page=-1",
            "size=x",
            "page=9223372036854775807&size=500",
        ] {
            let (status, _, body) = get(&app, Who::Admin, &format!("{path}?{bad}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?{bad}: {body}");
        }
        let (status, _, _) = get(&app, Who::Admin, &format!("{path}?size=500")).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
}

async fn details_carry_every_digest(backend: Backend) {
    use md5::{Digest, Md5};
    let app = TestApp::start(backend).await;
    let content = b"#!/bin/sh\necho digests\n".to_vec();
    let id = app.upload_ok("digests.sh", content.clone()).await["id"].clone();
    let (status, body) = envelope(
        app.get(Who::Viewer, &format!("/api/v2/software-packages/{id}"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let d = &body["data"];
    assert_eq!(d["sha1"], sha1_hex(&content));
    assert_eq!(d["md5"], hex::encode(Md5::digest(&content)));
    assert_eq!(d["sha256"], hex::encode(sha2::Sha256::digest(&content)));
    assert!(!d["contentKey"].as_str().unwrap().is_empty(), "{d}");
    assert_eq!(d["fileName"], "digests.sh");
    // The list keeps OCP's fields only.
    let (_, list) = envelope(
        app.get(Who::Viewer, "/api/v2/software-packages?fileName=digests.sh")
            .await,
    )
    .await;
    assert!(list["data"]["contents"][0].get("md5").is_none(), "{list}");
}
