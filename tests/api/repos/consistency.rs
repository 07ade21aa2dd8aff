//! Publications are atomic and race-free: the metadata a client read stays
//! downloadable after a newer publication, an empty repository is valid,
//! and uploads and deletes on two replicas at once end in one repomd.xml
//! listing every package, while a client fetching in a loop never misses.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::{Method, StatusCode};

use super::{Rpm, get_bytes, gunzip, parse_repomd, sha256_hex, wait_for};
use crate::backend_tests;
use crate::common::{Backend, TestApp, Who, envelope};

backend_tests!(
    a_repository_without_packages_is_valid_and_signed,
    superseded_metadata_stays_downloadable,
    uploads_on_two_replicas_end_in_one_consistent_publication
);

async fn a_repository_without_packages_is_valid_and_signed(backend: Backend) {
    let app = TestApp::start_with(backend, Box::new(|c| c.repos.public = true)).await;
    let (status, repomd) = get_bytes(
        &app,
        Who::Anonymous,
        "/repos/el9/aarch64/repodata/repomd.xml",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let repomd = String::from_utf8(repomd).unwrap();
    let (revision, data) = parse_repomd(&repomd);
    assert_eq!(revision, 0);
    assert_eq!(data.len(), 3);
    for d in &data {
        let (status, bytes) = get_bytes(
            &app,
            Who::Anonymous,
            &format!("/repos/el9/aarch64/{}", d.href),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{}", d.href);
        assert_eq!(sha256_hex(&bytes), d.sha256);
        assert!(gunzip(&bytes).contains("packages=\"0\""));
    }
    let (status, signature) = get_bytes(
        &app,
        Who::Anonymous,
        "/repos/el9/aarch64/repodata/repomd.xml.asc",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        String::from_utf8(signature)
            .unwrap()
            .contains("BEGIN PGP SIGNATURE")
    );
    let (status, key) = get_bytes(&app, Who::Anonymous, "/repos/RPM-GPG-KEY-depot").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        String::from_utf8(key)
            .unwrap()
            .contains("BEGIN PGP PUBLIC KEY BLOCK")
    );
    // Names that cannot be a repository's are not found.
    let (status, _) = get_bytes(
        &app,
        Who::Anonymous,
        "/repos/..%2Fx/aarch64/repodata/repomd.xml",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn superseded_metadata_stays_downloadable(backend: Backend) {
    let app = TestApp::start(backend).await;
    let first = Rpm::new("grace-a", "1.0", "1.el8", "x86_64");
    app.upload_ok(&first.file_name(), first.build()).await;
    let old = wait_for(&app, "el8", "x86_64", 1).await;
    let (old_revision, old_data) = parse_repomd(&old);

    let second = Rpm::new("grace-b", "1.0", "1.el8", "x86_64");
    app.upload_ok(&second.file_name(), second.build()).await;
    let new = wait_for(&app, "el8", "x86_64", 2).await;
    let (new_revision, new_data) = parse_repomd(&new);
    assert!(new_revision > old_revision);
    assert_ne!(old_data[0].href, new_data[0].href);
    // Counted just after the switch: give the publisher a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let metrics = crate::common::metrics(&app).await;
        let new = crate::common::sample(&metrics, "depot_repo_publications_total{outcome=\"new\"}");
        let lag = crate::common::sample(
            &metrics,
            "depot_repo_publication_seconds_count{phase=\"lag\"}",
        );
        if new >= Some(2.0) && lag >= Some(1.0) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // A client that read the old repomd.xml still gets every file it names.
    for d in old_data {
        let (status, bytes) =
            get_bytes(&app, Who::Viewer, &format!("/repos/el8/x86_64/{}", d.href)).await;
        assert_eq!(status, StatusCode::OK, "{}", d.href);
        assert_eq!(sha256_hex(&bytes), d.sha256);
    }
}

/// Fetches repomd.xml and every file it names, as dnf does, until `stop`;
/// answers how many rounds it made. Any 404 or checksum mismatch panics.
async fn fetch_loop(app: Arc<TestApp>, stop: Arc<AtomicBool>) -> usize {
    let mut rounds = 0;
    while !stop.load(Ordering::Relaxed) {
        let (status, repomd) =
            get_bytes(&app, Who::Viewer, "/repos/el8/x86_64/repodata/repomd.xml").await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&repomd)
        );
        for d in parse_repomd(&String::from_utf8(repomd).unwrap()).1 {
            let (status, bytes) =
                get_bytes(&app, Who::Viewer, &format!("/repos/el8/x86_64/{}", d.href)).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{} vanished mid-fetch: {}",
                d.href,
                String::from_utf8_lossy(&bytes)
            );
            assert_eq!(
                sha256_hex(&bytes),
                d.sha256,
                "{} does not match repomd.xml",
                d.href
            );
        }
        rounds += 1;
    }
    rounds
}

async fn uploads_on_two_replicas_end_in_one_consistent_publication(backend: Backend) {
    // All N at once, from one user.
    let one =
        Arc::new(TestApp::start_with(backend, Box::new(|c| c.max_uploads_per_user = 32)).await);
    // Replicas share PostgreSQL; SQLite is the single-replica mode (two
    // servers writing one file answer 503 on a busy database), where the
    // uploads and the fetch loop race on one server.
    let two = match backend {
        Backend::PostgresS3 => Arc::new(
            TestApp::start_config(backend, one.config.clone(), tempfile::tempdir().unwrap()).await,
        ),
        Backend::SqliteLocal => one.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let fetcher = tokio::spawn(fetch_loop(two.clone(), stop.clone()));

    const N: usize = 12;
    let names: Vec<String> = (0..N).map(|i| format!("burst-{i}")).collect();
    let mut uploads = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let app = if i % 2 == 0 { one.clone() } else { two.clone() };
        let name: &'static str = Box::leak(name.clone().into_boxed_str());
        uploads.push(tokio::spawn(async move {
            let rpm = Rpm::new(
                name,
                "1.0",
                "1.el8",
                if i % 3 == 0 { "noarch" } else { "x86_64" },
            );
            app.upload_ok(&rpm.file_name(), rpm.build()).await["id"]
                .as_i64()
                .unwrap()
        }));
    }
    let mut ids = Vec::new();
    for upload in uploads {
        ids.push(upload.await.unwrap());
    }
    // And a delete, through the other replica.
    let response = one
        .request(
            Who::Manager,
            Method::DELETE,
            &format!("/api/v2/software-packages/{}", ids[1]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(response).await.0, StatusCode::OK);

    // Intermediate publications may list as many packages (one read before the
    // last upload's commit, with the deleted one): wait for exactly the final set.
    let expected: Vec<bool> = (0..N).map(|i| i != 1).collect();
    let listed = |primary: &str| -> Vec<bool> {
        names
            .iter()
            .map(|name| primary.contains(&format!("<name>{name}</name>")))
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let repomd = loop {
        let repomd = wait_for(&two, "el8", "x86_64", N - 1).await;
        let (_, data) = parse_repomd(&repomd);
        let primary = data.iter().find(|d| d.kind == "primary").unwrap();
        let path = format!("/repos/el8/x86_64/{}", primary.href);
        let (_, bytes) = get_bytes(&two, Who::Viewer, &path).await;
        if listed(&gunzip(&bytes)) == expected {
            break repomd;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never published the final set"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    stop.store(true, Ordering::Relaxed);
    assert!(fetcher.await.unwrap() > 0);
    // Once the final set is published, nothing publishes again: both
    // replicas serve that very repomd.xml, and it lists every package but the deleted one.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    for app in [&one, &two] {
        let (_, same) = get_bytes(app, Who::Viewer, "/repos/el8/x86_64/repodata/repomd.xml").await;
        assert_eq!(String::from_utf8(same).unwrap(), repomd);
    }
}
