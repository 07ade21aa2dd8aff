//! Incremental publication: a new package recompresses only the chunk it
//! lands in; the replica remembers the others (members and XML) and reads
//! nothing of them from the database; the files still verify and list
//! every package. A replica that remembers nothing reads the database's
//! cache, and a cached chunk that no longer inflates is compressed anew. A
//! stream of uploads does not starve publications.

use depot::app::{Migrations, Services};
use depot::domain::repos::Published;
use sea_orm::ConnectionTrait;

use super::{Rpm, get_bytes, gunzip, parse_repomd, wait_for};
use crate::backend_tests;
use crate::common::{Backend, TestApp, Who};

backend_tests!(
    a_new_package_recompresses_one_chunk,
    a_damaged_cached_chunk_is_rebuilt,
    publications_keep_up_with_a_stream_of_uploads
);

/// `depot_repo_chunks_total{outcome}` as /metrics says now.
async fn chunks(app: &TestApp, outcome: &str) -> u64 {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("depot_repo_chunks_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().unwrap())
}

fn rpm(i: usize) -> Rpm {
    let name: &'static str = Box::leak(format!("inc-{i:04}").into_boxed_str());
    Rpm::new(name, "1.0", "1.el7", "x86_64")
}

async fn upload(app: &TestApp, range: std::ops::Range<usize>) {
    for i in range {
        let rpm = rpm(i);
        app.upload_ok(&rpm.file_name(), rpm.build()).await;
    }
}

async fn primary(app: &TestApp) -> String {
    let (_, repomd) = get_bytes(app, Who::Viewer, "/repos/el7/x86_64/repodata/repomd.xml").await;
    let (_, data) = parse_repomd(&String::from_utf8(repomd).unwrap());
    let href = &data.iter().find(|d| d.kind == "primary").unwrap().href;
    let (_, bytes) = get_bytes(app, Who::Viewer, &format!("/repos/el7/x86_64/{href}")).await;
    gunzip(&bytes)
}

async fn a_new_package_recompresses_one_chunk(backend: Backend) {
    let app = TestApp::start(backend).await;
    // About five chunks (64 packages each on average).
    upload(&app, 0..320).await;
    wait_for(&app, "el7", "x86_64", 320).await;
    let before = (
        chunks(&app, "remembered").await,
        chunks(&app, "reused").await,
        chunks(&app, "compressed").await,
    );

    upload(&app, 320..321).await;
    wait_for(&app, "el7", "x86_64", 321).await;
    let remembered = chunks(&app, "remembered").await - before.0;
    let reused = chunks(&app, "reused").await - before.1;
    let compressed = chunks(&app, "compressed").await - before.2;
    // The chunk the package landed in, and the one it split off if it ends one.
    assert!(
        (1..=2).contains(&compressed),
        "{compressed} chunks compressed for one new package"
    );
    // The others come from the replica's memory, not from the database.
    assert!(remembered >= 2, "only {remembered} chunks remembered");
    assert_eq!(reused, 0, "chunks read from the database's cache");

    // The files are whole: every package listed once, and they verify.
    let xml = primary(&app).await;
    for i in 0..321 {
        assert_eq!(
            xml.matches(&format!("<name>inc-{i:04}</name>")).count(),
            1,
            "inc-{i:04} in primary.xml"
        );
    }
    let services = Services::build(&app.config, Migrations::Require)
        .await
        .unwrap();
    let v = services
        .repos
        .verify(Some(("el7", "x86_64")))
        .await
        .unwrap()
        .remove(0);
    assert!(v.is_sound(), "{:?}", v.problems);
}

async fn a_damaged_cached_chunk_is_rebuilt(backend: Backend) {
    let app = TestApp::start(backend).await;
    let mut ids = Vec::new();
    for i in 0..100 {
        let rpm = rpm(i);
        ids.push(
            app.upload_ok(&rpm.file_name(), rpm.build()).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    wait_for(&app, "el7", "x86_64", 100).await;
    // Every cached chunk's primary member cut short: no longer gzip.
    let db = depot::db::connect(&app.config.database_url).await.unwrap();
    let truncate = match backend {
        Backend::SqliteLocal => "UPDATE repo_chunks SET \"primary\" = substr(\"primary\", 1, 20)",
        Backend::PostgresS3 => {
            "UPDATE repo_chunks SET \"primary\" = substring(\"primary\" from 1 for 20)"
        }
    };
    db.execute_unprepared(truncate).await.unwrap();

    // Another replica, which remembers nothing, deletes a package and
    // publishes: it reads the damaged chunks from the database, and
    // compresses them anew from the packages' fragments instead.
    let other = Services::build(&app.config, Migrations::Require)
        .await
        .unwrap();
    let (reused, compressed) = (
        chunks(&app, "reused").await,
        chunks(&app, "compressed").await,
    );
    other.packages.delete(ids[50]).await.unwrap();
    let published = other.repos.publish("el7", "x86_64").await.unwrap();
    assert!(matches!(published, Published::New(_)), "{published:?}");
    assert_eq!(
        chunks(&app, "reused").await,
        reused,
        "a damaged chunk was used"
    );
    assert!(chunks(&app, "compressed").await > compressed + 1);
    let xml = primary(&app).await;
    for i in 0..100 {
        assert_eq!(
            xml.contains(&format!("<name>inc-{i:04}</name>")),
            i != 50,
            "inc-{i:04}"
        );
    }
    let v = other
        .repos
        .verify(Some(("el7", "x86_64")))
        .await
        .unwrap()
        .remove(0);
    assert!(v.is_sound(), "{:?}", v.problems);
}

/// Uploads never stop while this runs, yet repomd.xml moves on: both passes
/// of a publication read one snapshot, so a commit between them does not
/// make it start over.
async fn publications_keep_up_with_a_stream_of_uploads(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::start(backend).await);
    upload(&app, 0..1).await;
    wait_for(&app, "el7", "x86_64", 1).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(1));
    let mut uploaders = Vec::new();
    for _ in 0..4 {
        let (app, stop, next) = (app.clone(), stop.clone(), next.clone());
        uploaders.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                upload(&app, i..i + 1).await;
            }
        }));
    }
    let mut revisions = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while revisions.len() < 4 && std::time::Instant::now() < deadline {
        let (_, repomd) =
            get_bytes(&app, Who::Viewer, "/repos/el7/x86_64/repodata/repomd.xml").await;
        revisions.insert(parse_repomd(&String::from_utf8(repomd).unwrap()).0);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for u in uploaders {
        u.await.unwrap();
    }
    let uploaded = next.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        revisions.len() >= 4,
        "only {} publications while {uploaded} packages were uploaded without a pause",
        revisions.len()
    );
    // And once the uploads stop, the last publication has them all.
    let xml = wait_for(&app, "el7", "x86_64", uploaded).await;
    assert!(!xml.is_empty());
}
