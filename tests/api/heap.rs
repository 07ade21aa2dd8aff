//! The allocator's arenas are capped (src/allocator.rs): a `depot serve`
//! process whose blocking threads outnumber the cores by far still has no
//! more arenas than cores, as `/metrics` reports them.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};

use crate::common::rpms::RpmSpec;
use crate::common::{PASSWORD, envelope};
use crate::replicas::{migrate, start};

/// Concurrent downloads: each reads the local store on the blocking pool,
/// which grows a thread for every read that finds all of its threads busy.
const DOWNLOADS: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_threads_share_arenas_capped_at_the_cores() {
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = [
        ("DEPOT_DATA_DIR", dir.path().display().to_string()),
        ("DEPOT_ADMIN_PASSWORD", PASSWORD.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    migrate(&env);
    let replica = start(&env);
    let base = &replica.base;
    let http = reqwest::Client::new();

    let rpm = RpmSpec::new("obagent", "4.2.2", "1.el7", "x86_64")
        .file("/home/admin/obagent/bin/agent", vec![9u8; 2 << 20])
        .build();
    let form = Form::new().part("file", Part::bytes(rpm.clone()).file_name("obagent.rpm"));
    let response = http
        .post(format!("{base}/api/v2/software-packages"))
        .basic_auth("admin", Some(PASSWORD))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let name = body["data"]["fileName"].as_str().unwrap().to_string();

    let url = format!("{base}/api/v2/files/sys-package/{name}");
    for _ in 0..3 {
        let downloads = (0..DOWNLOADS).map(|_| {
            let request = http.get(&url).basic_auth("admin", Some(PASSWORD)).send();
            async {
                let bytes = request.await.unwrap().bytes().await.unwrap();
                assert_eq!(bytes.len(), rpm.len());
            }
        });
        futures::future::join_all(downloads).await;
    }

    let cap = depot::allocator::arena_cap();
    let threads = std::fs::read_dir(format!("/proc/{}/task", replica.child.id()))
        .unwrap()
        .count();
    // Otherwise the test proves nothing: without the cap, glibc gives each
    // thread that allocates an arena, up to eight per core.
    assert!(
        threads > 2 * cap,
        "the downloads left only {threads} threads; they must outnumber the {cap} arenas allowed"
    );
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let arenas: usize = metrics
        .lines()
        .find_map(|l| l.strip_prefix("depot_heap_arenas "))
        .expect("depot_heap_arenas is reported")
        .parse()
        .unwrap();
    assert!(
        (1..=cap).contains(&arenas),
        "{arenas} arenas for {threads} threads; at most {cap} allowed"
    );
    let kept = metrics
        .lines()
        .find(|l| l.starts_with(r#"depot_heap_bytes{state="kept"}"#));
    assert!(kept.is_some(), "{metrics}");
}
