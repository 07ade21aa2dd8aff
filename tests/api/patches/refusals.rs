//! Every upload refusal, with StarlingX's message and depot's code, and
//! nothing left behind by a refused patch.

use reqwest::{Method, StatusCode};

use super::{PatchSpec, Signer, base_rpm, call, start, upload, upload_named};
use crate::backend_tests;
use crate::common::{Backend, Who};
use crate::repos::Rpm;

backend_tests!(
    refused_patches_name_their_cause,
    roles_and_releases_are_enforced
);

fn foo(version: &'static str) -> Rpm {
    Rpm::new("foo", version, "1.el7", "x86_64")
}

fn refused(answer: &serde_json::Value, code: u64, text: &str) {
    let error = answer["error"].as_str().unwrap_or_default();
    assert!(error.contains(text), "expected {text:?} in {answer}");
    assert_eq!(answer["code"], code, "{answer}");
    assert_eq!(answer["info"], "", "{answer}");
}

async fn refused_patches_name_their_cause(backend: Backend) {
    let signer = Signer::new();
    let app = start(backend, &signer).await;
    base_rpm(&app, &foo("1.0")).await;
    let mut with_epoch = Rpm::new("bar", "1.0", "1.el7", "x86_64");
    with_epoch.epoch = Some(2);
    base_rpm(&app, &with_epoch).await;
    let packages_before = app.stored_objects().await.len();

    let good = PatchSpec::new("TC_19.12_PATCH_0001", vec![foo("1.1")]);
    // Unsigned, tampered with after signing, signed by a key nobody trusts.
    let r = upload(&app, &good, good.build(None, false)).await;
    refused(&r, 90040, "Patch has not been signed");
    let r = upload(&app, &good, good.build(Some(&signer), true)).await;
    refused(&r, 90040, "Patch failed verification");
    let r = upload(&app, &good, good.build(Some(&Signer::new()), false)).await;
    refused(&r, 90040, "Signature check failed");
    // Not newer than the base repository's: the same version, and an epoch that outranks.
    let old = PatchSpec::new("TC_19.12_PATCH_0009", vec![foo("1.0")]);
    let r = upload(&app, &old, old.build(Some(&signer), false)).await;
    refused(
        &r,
        90041,
        "RPM foo-1.0-1.el7.x86_64.rpm in patch TC_19.12_PATCH_0009 must be higher version than original (1.0-1.el7)",
    );
    let epoch = PatchSpec::new(
        "TC_19.12_PATCH_0008",
        vec![Rpm::new("bar", "9.0", "1.el7", "x86_64")],
    );
    let r = upload(&app, &epoch, epoch.build(Some(&signer), false)).await;
    refused(
        &r,
        90041,
        "must be higher version than original (2:1.0-1.el7)",
    );
    // A release depot does not know.
    let mut elsewhere = PatchSpec::new("TC_20.06_PATCH_0001", vec![foo("1.2")]);
    elsewhere.release = "20.06".into();
    let r = upload(&app, &elsewhere, elsewhere.build(Some(&signer), false)).await;
    refused(&r, 90041, "unknown release 20.06");
    // Not a .patch, and not named after its id.
    let response = upload_named(
        &app,
        Who::Manager,
        "x.tar.gz",
        good.build(Some(&signer), false),
    )
    .await;
    let text = response.text().await.unwrap();
    assert!(text.contains("File must end in .patch extension"), "{text}");
    let response = upload_named(
        &app,
        Who::Manager,
        "OTHER.patch",
        good.build(Some(&signer), false),
    )
    .await;
    let text = response.text().await.unwrap();
    assert!(
        text.contains("its metadata.xml says it is TC_19.12_PATCH_0001"),
        "{text}"
    );
    // Not a patch at all.
    let response = upload_named(&app, Who::Manager, "X.patch", b"garbage".to_vec()).await;
    let text = response.text().await.unwrap();
    assert!(text.contains("Invalid patch file"), "{text}");

    // Refused patches left no package, no staging object.
    assert_eq!(app.stored_objects().await.len(), packages_before);
    assert!(app.staging_objects().await.is_empty());
    let pd = call(&app, Who::Viewer, Method::GET, "/v1/query").await;
    assert_eq!(pd["pd"], serde_json::json!({}), "{pd}");

    // The good one, then the same RPM in another patch.
    let r = upload(&app, &good, good.build(Some(&signer), false)).await;
    assert_eq!(r["info"], "TC_19.12_PATCH_0001 is now available\n", "{r}");
    assert_eq!(r["error"], "");
    let twin = PatchSpec::new("TC_19.12_PATCH_0002", vec![foo("1.1")]);
    let r = upload(&app, &twin, twin.build(Some(&signer), false)).await;
    refused(
        &r,
        90041,
        "Patch TC_19.12_PATCH_0002 contains rpm foo-1.1-1.el7.x86_64.rpm, which is already provided by patch TC_19.12_PATCH_0001",
    );
    // Again: metadata only; with other contents: refused.
    let r = upload(&app, &good, good.build(Some(&signer), false)).await;
    assert_eq!(
        r["info"], "TC_19.12_PATCH_0001 is already imported. Updated metadata only\n",
        "{r}"
    );
    let other = PatchSpec::new("TC_19.12_PATCH_0001", vec![foo("1.3")]);
    let r = upload(&app, &other, other.build(Some(&signer), false)).await;
    refused(
        &r,
        90041,
        "Contents of TC_19.12_PATCH_0001 do not match re-imported patch",
    );
    // Committed: refused.
    let r = call(
        &app,
        Who::Manager,
        Method::POST,
        "/v1/apply/TC_19.12_PATCH_0001",
    )
    .await;
    assert_eq!(r["error"], "", "{r}");
    let r = call(
        &app,
        Who::Manager,
        Method::POST,
        "/v1/commit/TC_19.12_PATCH_0001",
    )
    .await;
    assert_eq!(r["error"], "", "{r}");
    let r = upload(&app, &good, good.build(Some(&signer), false)).await;
    refused(
        &r,
        90042,
        "TC_19.12_PATCH_0001 is committed. Metadata not updated",
    );
}

async fn roles_and_releases_are_enforced(backend: Backend) {
    let signer = Signer::new();
    let app = start(backend, &signer).await;
    let spec = PatchSpec::new("TC_19.12_PATCH_0001", vec![foo("1.1")]);
    let response = upload_named(
        &app,
        Who::Viewer,
        &spec.file_name(),
        spec.build(Some(&signer), false),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = upload_named(
        &app,
        Who::Anonymous,
        &spec.file_name(),
        spec.build(Some(&signer), false),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Releases are the admin's.
    let response = app
        .request(
            Who::Manager,
            Method::POST,
            "/v1/init_release/20.06?base=el8",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let r = call(
        &app,
        Who::Admin,
        Method::POST,
        "/patch/init_release/19.12?base=el7",
    )
    .await;
    refused(&r, 90043, "release 19.12 already exists");
    let r = call(&app, Who::Viewer, Method::GET, "/v1/releases").await;
    assert_eq!(
        r["releases"],
        serde_json::json!([{"release": "19.12", "base": "el7"}])
    );
    // Viewers read; the manager changes.
    let r = upload(&app, &spec, spec.build(Some(&signer), false)).await;
    assert_eq!(r["error"], "", "{r}");
    let response = app
        .request(Who::Viewer, Method::POST, "/v1/apply/TC_19.12_PATCH_0001")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let r = call(
        &app,
        Who::Viewer,
        Method::GET,
        "/patch/query?show=available",
    )
    .await;
    assert_eq!(
        r["pd"]["TC_19.12_PATCH_0001"]["repostate"], "Available",
        "{r}"
    );
    // A release with patches stays.
    let r = call(&app, Who::Admin, Method::POST, "/v1/del_release/19.12").await;
    refused(&r, 90043, "still has patches");
}
