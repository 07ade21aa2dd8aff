//! A lifecycle from upload to commit, with requirements, over both mounts
//! (`/v1/…` and `/patch/…`), and StarlingX's answers at each step.

use reqwest::Method;
use serde_json::json;

use super::{PatchSpec, Signer, base_rpm, call, start, upload};
use crate::backend_tests;
use crate::common::{Backend, Who};
use crate::repos::Rpm;

backend_tests!(a_patch_goes_from_upload_to_commit);

const P1: &str = "TC_19.12_PATCH_0001";
const P2: &str = "TC_19.12_PATCH_0002";

async fn a_patch_goes_from_upload_to_commit(backend: Backend) {
    let signer = Signer::new();
    let app = start(backend, &signer).await;
    base_rpm(&app, &Rpm::new("foo", "1.0", "1.el7", "x86_64")).await;
    let p1 = PatchSpec::new(P1, vec![Rpm::new("foo", "1.1", "1.el7", "x86_64")]);
    let mut p2 = PatchSpec::new(
        P2,
        vec![
            Rpm::new("foo", "1.2", "1.el7", "x86_64"),
            Rpm::new("bar", "1.0", "1.el7", "noarch"),
        ],
    );
    p2.requires = vec![P1.into()];
    p2.personalities = vec![("controller", vec!["foo", "bar"]), ("worker", vec!["foo"])];
    for spec in [&p1, &p2] {
        let r = upload(&app, spec, spec.build(Some(&signer), false)).await;
        assert_eq!(r["error"], "", "{r}");
    }
    let q = call(&app, Who::Viewer, Method::GET, "/v1/query").await;
    let pd = &q["pd"][P2];
    assert_eq!(pd["repostate"], "Available", "{q}");
    assert_eq!(pd["patchstate"], "n/a", "{q}");
    assert_eq!(pd["requires"], json!([P1]));
    assert_eq!(pd["reboot_required"], "N");
    assert_eq!(pd["sw_version"], "19.12");
    assert_eq!(pd["personality-worker"], json!(["foo"]));
    let shown = call(
        &app,
        Who::Viewer,
        Method::POST,
        &format!("/patch/show/{P2}/NOPE"),
    )
    .await;
    assert_eq!(
        shown["contents"][P2],
        json!(["bar-1.0-1.el7.noarch.rpm", "foo-1.2-1.el7.x86_64.rpm"]),
        "{shown}"
    );
    assert_eq!(shown["error"], "NOPE is unrecognized\n");

    // Requirements: P2 alone is refused; both in one call are applied.
    let r = call(&app, Who::Manager, Method::POST, &format!("/v1/apply/{P2}")).await;
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains(&format!("{P2} requires {P1}")),
        "{r}"
    );
    let r = call(
        &app,
        Who::Manager,
        Method::POST,
        &format!("/patch/apply/{P1}/{P2}"),
    )
    .await;
    assert_eq!(
        r["info"],
        format!("{P1} is now in the repo\n{P2} is now in the repo\n"),
        "{r}"
    );
    let r = call(&app, Who::Manager, Method::POST, &format!("/v1/apply/{P1}")).await;
    assert_eq!(r["info"], format!("{P1} is already in the repo\n"), "{r}");
    assert_eq!(
        call(
            &app,
            Who::Viewer,
            Method::POST,
            &format!("/v1/is_applied/{P1}/{P2}")
        )
        .await,
        json!(true)
    );
    assert_eq!(
        call(
            &app,
            Who::Viewer,
            Method::POST,
            &format!("/v1/is_available/{P1}")
        )
        .await,
        json!(false)
    );
    let r = call(
        &app,
        Who::Viewer,
        Method::GET,
        &format!("/v1/what_requires/{P1}/{P2}"),
    )
    .await;
    assert_eq!(
        r["info"],
        format!("{P1} is required by: {P2}\n{P2} is not required by any patches.\n"),
        "{r}"
    );
    let r = call(
        &app,
        Who::Viewer,
        Method::GET,
        &format!("/v1/query_dependencies/{P2}?recursive=yes"),
    )
    .await;
    assert_eq!(r["patches"], json!([P1, P2]), "{r}");

    // Removing what an applied patch requires, deleting what is applied: refused.
    let r = call(
        &app,
        Who::Manager,
        Method::POST,
        &format!("/v1/remove/{P1}"),
    )
    .await;
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains(&format!("{P1} is required by: {P2}")),
        "{r}"
    );
    let r = call(
        &app,
        Who::Manager,
        Method::POST,
        &format!("/v1/delete/{P1}"),
    )
    .await;
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains(&format!("Patch {P1} not in Available state")),
        "{r}"
    );
    // Remove and apply again.
    let r = call(
        &app,
        Who::Manager,
        Method::POST,
        &format!("/v1/remove/{P2}"),
    )
    .await;
    assert_eq!(
        r["info"],
        format!("{P2} has been removed from the repo\n"),
        "{r}"
    );
    let r = call(&app, Who::Manager, Method::POST, &format!("/v1/apply/{P2}")).await;
    assert_eq!(r["error"], "", "{r}");

    // Commit: the dry run names the closure and what it would free (foo 1.1, superseded by 1.2).
    let foo_11 = app
        .get(
            Who::Viewer,
            "/api/v2/software-packages?fileName=foo-1.1-1.el7.x86_64.rpm",
        )
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let size = foo_11["data"]["contents"][0]["size"].as_u64().unwrap();
    let dry = call(
        &app,
        Who::Manager,
        Method::POST,
        &format!("/v1/commit_dry_run/{P2}"),
    )
    .await;
    assert_eq!(dry["patches"], json!([P1, P2]), "{dry}");
    assert_eq!(dry["sz"], size, "{dry}");
    assert!(
        dry["info"].as_str().unwrap().contains("would free"),
        "{dry}"
    );
    let q = call(&app, Who::Viewer, Method::GET, "/v1/query?show=committed").await;
    assert_eq!(q["pd"], json!({}), "a dry run commits nothing: {q}");
    let done = call(
        &app,
        Who::Manager,
        Method::POST,
        &format!("/patch/commit/{P2}"),
    )
    .await;
    assert_eq!(done["error"], "", "{done}");
    assert_eq!(done["sz"], size);
    let q = call(&app, Who::Viewer, Method::GET, "/v1/query?show=committed").await;
    assert_eq!(q["pd"][P1]["repostate"], "Committed", "{q}");
    assert_eq!(q["pd"][P2]["patchstate"], "Committed", "{q}");
    // The superseded RPM is gone from the store's packages and the patch's contents.
    let gone = app
        .get(
            Who::Viewer,
            "/api/v2/software-packages?fileName=foo-1.1-1.el7.x86_64.rpm",
        )
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(gone["data"]["contents"], json!([]), "{gone}");
    let shown = call(&app, Who::Viewer, Method::POST, &format!("/v1/show/{P1}")).await;
    assert_eq!(shown["contents"][P1], json!([]), "{shown}");
    // Committed patches stay.
    let r = call(
        &app,
        Who::Manager,
        Method::POST,
        &format!("/v1/remove/{P2}"),
    )
    .await;
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("is committed and cannot be removed"),
        "{r}"
    );
}
