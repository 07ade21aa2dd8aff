//! Operating repositories: `verify` finds tampered metadata and missing
//! packages, GC removes the files of a publication that never switched and
//! nothing a publication references, the doctor names a repository whose
//! publication lags, and `depot repo` does all three from the command line.

use std::time::Duration;

use bytes::Bytes;
use depot::app::{Migrations, Services};
use depot::domain::doctor::Status;
use depot::domain::gc::Pass;
use depot::domain::repos::Published;
use depot::store::{Area, BlobKey, OnCut, Path};
use futures::TryStreamExt;

use super::{Rpm, gunzip, wait_for};
use crate::backend_tests;
use crate::common::{Backend, TestApp};

backend_tests!(
    verify_finds_tampered_metadata_and_missing_packages,
    gc_removes_only_files_no_publication_references,
    doctor_names_a_repository_whose_publication_lags
);

fn two_packages() -> Vec<Rpm> {
    vec![
        Rpm::new("ops-a", "1.0", "1.el7", "x86_64"),
        Rpm::new("ops-b", "2.0", "1.el7", "noarch"),
    ]
}

async fn read(app: &TestApp, key: &str) -> Vec<u8> {
    let object = app.store.get(&Path::from(key), None).await.unwrap();
    let chunks: Vec<Bytes> = object.into_stream().try_collect().await.unwrap();
    chunks.concat()
}

async fn write(app: &TestApp, key: &str, bytes: Vec<u8>) {
    let body = futures::stream::iter([Ok(Bytes::from(bytes))]);
    app.store
        .write_part(&Path::from(key), body, u64::MAX, OnCut::Discard)
        .await
        .unwrap();
}

/// The keys of the stored primary.xml.gz files: the current publication's,
/// and any an earlier one left for its grace.
async fn primary_keys(app: &TestApp) -> Vec<String> {
    let mut keys = Vec::new();
    for key in app.store.list(Area::Repos).await.unwrap() {
        if gunzip(&read(app, &key).await).contains("<metadata ") {
            keys.push(key);
        }
    }
    assert!(!keys.is_empty(), "no primary.xml.gz stored");
    keys
}

async fn verify_finds_tampered_metadata_and_missing_packages(backend: Backend) {
    let app = TestApp::start(backend).await;
    for rpm in two_packages() {
        app.upload_ok(&rpm.file_name(), rpm.build()).await;
    }
    wait_for(&app, "el7", "x86_64", 2).await;
    let services = Services::build(&app.config, Migrations::Require)
        .await
        .unwrap();
    let found = services.repos.verify(None).await.unwrap();
    let el7 = found.iter().find(|v| v.repo == "el7/x86_64").unwrap();
    assert!(el7.is_sound(), "{:?}", el7.problems);
    assert_eq!((el7.files, el7.packages), (3, 2));
    assert!(
        services
            .repos
            .verify(Some(("el9", "x86_64")))
            .await
            .is_err(),
        "a repository never published is named, not passed"
    );

    // A package's bytes gone from the store.
    let blobs = app.stored_objects().await;
    assert_eq!(blobs.len(), 2);
    app.store
        .delete(&BlobKey::from_stored(blobs[0].clone()))
        .await
        .unwrap();
    let v = services
        .repos
        .verify(Some(("el7", "x86_64")))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
    assert!(
        v.problems[0].contains("bytes are missing"),
        "{:?}",
        v.problems
    );

    // primary.xml.gz rewritten behind depot's back: same XML, other bytes.
    for key in primary_keys(&app).await {
        let mut bytes = read(&app, &key).await;
        // The gzip header's OS byte: still a valid gzip of the same XML.
        bytes[9] ^= 1;
        write(&app, &key, bytes).await;
    }
    let v = services
        .repos
        .verify(Some(("el7", "x86_64")))
        .await
        .unwrap()
        .remove(0);
    assert!(
        v.problems
            .iter()
            .any(|p| p.contains("primary.xml.gz") && p.contains("SHA-256")),
        "{:?}",
        v.problems
    );
}

async fn gc_removes_only_files_no_publication_references(backend: Backend) {
    let app = TestApp::start(backend).await;
    for rpm in two_packages() {
        app.upload_ok(&rpm.file_name(), rpm.build()).await;
    }
    wait_for(&app, "el7", "x86_64", 2).await;
    let mut published = app.store.list(Area::Repos).await.unwrap();
    published.sort();
    // What a publication leaves when its switch fails or its replica dies
    // while writing: files no row names.
    let orphan = "repos/el7/x86_64/00000000-0000-4000-8000-000000000000.xml.gz";
    write(&app, orphan, vec![0x1f, 0x8b, 0, 1, 2, 3]).await;
    let services = Services::build(&app.config, Migrations::Require)
        .await
        .unwrap();
    let collector = services
        .collector
        .clone()
        .with_staging_grace(Duration::ZERO);
    let report = collector.run(Pass::DryRun).await.unwrap();
    assert_eq!(report.orphan_repo_files, 1, "{report}");
    assert!(
        app.store
            .list(Area::Repos)
            .await
            .unwrap()
            .contains(&orphan.to_string())
    );
    let report = collector.run(Pass::Collect).await.unwrap();
    assert_eq!(
        (report.orphan_repo_files, report.orphan_repo_bytes),
        (1, 6),
        "{report}"
    );
    let mut left = app.store.list(Area::Repos).await.unwrap();
    left.sort();
    assert_eq!(
        left, published,
        "the publications' files stay, the orphan goes"
    );
    let found = services
        .repos
        .verify(Some(("el7", "x86_64")))
        .await
        .unwrap();
    assert!(found[0].is_sound(), "{:?}", found[0].problems);
}

async fn doctor_names_a_repository_whose_publication_lags(backend: Backend) {
    // A publisher that gathers changes for an hour: changes stay unpublished.
    let app = TestApp::start_with(
        backend,
        Box::new(|c| c.repos.coalesce = Duration::from_secs(3600)),
    )
    .await;
    let [a, b]: [Rpm; 2] = two_packages().try_into().ok().unwrap();
    app.upload_ok(&a.file_name(), a.build()).await;
    // The first request publishes a repository never published.
    wait_for(&app, "el7", "x86_64", 1).await;
    let services = Services::build(&app.config, Migrations::Require)
        .await
        .unwrap();
    let check = |checks: Vec<depot::domain::doctor::Check>| {
        checks
            .into_iter()
            .find(|c| c.name == "repositories published")
            .expect("the doctor checks repositories")
    };
    let current = check(services.doctor.run().await);
    assert_eq!(current.status, Status::Ok, "{current:?}");

    app.upload_ok(&b.file_name(), b.build()).await;
    let lagging = check(services.doctor.run().await);
    assert_eq!(lagging.status, Status::Warn, "{lagging:?}");
    assert!(
        lagging
            .detail
            .contains("el7/x86_64: 2 packages, its publication lists 1"),
        "{lagging:?}"
    );
    assert!(lagging.remedy.unwrap().contains("depot repo publish"));

    let done = services
        .repos
        .publish_now(Some(("el7", "x86_64")))
        .await
        .unwrap();
    assert!(matches!(done[0].1, Published::New(_)), "{done:?}");
    wait_for(&app, "el7", "x86_64", 2).await;
    assert_eq!(check(services.doctor.run().await).status, Status::Ok);
}
