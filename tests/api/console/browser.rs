//! The console in headless Chromium: `tests/console/console_e2e.js` goes
//! through it as each role (driven by playwright-core under node, with
//! Debian's Chromium), and this test checks on the server what it did.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use serde_json::Value;

use super::proxy::SlowProxy;
use crate::common::rpms::RpmSpec;
use crate::common::{Backend, PASSWORD, TestApp, Who, envelope, sha1_hex};
use crate::patches::hosts::{package, report, report_body};
use crate::patches::{PatchSpec, Signer, call, upload};
use crate::repos::Rpm;

const MIB: usize = 1 << 20;
const P1: &str = "TC_19.12_PATCH_0001";
const P2: &str = "TC_19.12_PATCH_0002";
/// Requires P1: applying it first is refused.
const P3: &str = "TC_19.12_PATCH_0003";

/// Bytes that differ from file to file.
fn bytes(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b'a' + (x % 26) as u8
        })
        .collect()
}

async fn listed(app: &TestApp, file_name: &str) -> Value {
    let (_, list) = envelope(
        app.get(
            Who::Viewer,
            &format!("/api/v2/software-packages?fileName={file_name}"),
        )
        .await,
    )
    .await;
    list["data"]["contents"][0].clone()
}

pub async fn console_in_chromium(backend: Backend) {
    let modules = std::env::var("DEPOT_TEST_NODE_PATH").unwrap_or_else(|_| {
        panic!("DEPOT_TEST_NODE_PATH is not set: run the tests with scripts/test.sh, which installs playwright-core")
    });
    let chromium =
        std::env::var("DEPOT_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    // Release 19.12 on el7, with a certificate the patches are signed by.
    let signer = Signer::new();
    let app = crate::patches::start(backend, &signer).await;
    // 10 scripts (sizes falling with the number), one RPM and the three
    // patches' RPMs: two pages of 10.
    for i in 1..=10u32 {
        app.upload_ok(&format!("tool-{i}.sh"), bytes(i, 1000 - 10 * i as usize))
            .await;
    }
    let rpm = RpmSpec::new("toolbox", "1.0.0", "1.el7", "x86_64");
    let rpm_bytes = rpm.build();
    app.upload_ok(&rpm.file_name(), rpm_bytes.clone()).await;
    // Three patches (one to apply and commit, one to delete, one that
    // requires the first), two hosts that report, and a second region on a
    // directory.
    for (id, rpm) in [
        (P1, Rpm::new("foo", "1.1", "1.el7", "x86_64")),
        (P2, Rpm::new("baz", "2.0", "1.el7", "noarch")),
        (P3, Rpm::new("qux", "3.0", "1.el7", "noarch")),
    ] {
        let mut spec = PatchSpec::new(id, vec![rpm]);
        if id == P3 {
            spec.requires = vec![P1.to_string()];
        }
        let r = upload(&app, &spec, spec.build(Some(&signer), false)).await;
        assert_eq!(r["error"], "", "{r}");
    }
    for name in ["controller-0", "controller-1"] {
        let host = report_body(
            name,
            "controller",
            "idle",
            vec![package("foo", "1.0", "x86_64")],
        );
        assert_eq!(report(&app, Who::Manager, &host).await.status(), 200);
    }
    let regions = tempfile::tempdir().unwrap();
    let region = app
        .request(Who::Admin, reqwest::Method::POST, "/api/v2/regions")
        .json(&serde_json::json!({
            "name": "backup",
            "storageUrl": format!("file://{}", regions.path().display()),
            "cidrs": ["10.20.0.0/16"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(region.status(), 200);

    let files = tempfile::tempdir().unwrap();
    let uploads = [
        // Long enough (3 s through the proxy) for the test to watch it part-way
        // on a loaded machine.
        ("big-a.sh", bytes(101, 12 * MIB)),
        ("big-b.sh", bytes(102, 5 * MIB)),
        ("small.sh", bytes(103, 1024)),
        ("resume-me.sh", bytes(104, 8 * MIB)),
    ];
    for (name, content) in &uploads {
        std::fs::write(files.path().join(name), content).unwrap();
    }
    // Refused: an RPM cut short, and a type depot does not take.
    std::fs::write(
        files.path().join("broken-1.0-1.el7.x86_64.rpm"),
        &rpm_bytes[..rpm_bytes.len() / 2],
    )
    .unwrap();
    std::fs::write(files.path().join("notes.txt"), b"not a package\n").unwrap();
    let target: SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    // 4 MiB/s; the first connection past 2 MiB (an upload's) is cut.
    let proxy = SlowProxy::start(target, 4 * MIB as u64, 2 * MIB as u64).await;
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("console-screenshots")
        .join(format!("{backend:?}").to_lowercase());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/console/console_e2e.js");
    let out = tokio::process::Command::new("node")
        .env("NODE_PATH", &modules)
        .env("DEPOT_BASE", &app.base)
        .env("DEPOT_PROXY", proxy.base())
        .env("DEPOT_PASSWORD", PASSWORD)
        .env("DEPOT_FILES", files.path())
        .env("DEPOT_SHOTS", &shots)
        .env("DEPOT_CHROMIUM", &chromium)
        .arg(script)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser run failed (screenshots in {}):\n{stdout}\n{stderr}",
        shots.display()
    );
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));

    // What the pages showed is what the API says.
    assert_eq!(seen["page2Rows"], 4);
    assert_eq!(
        seen["filteredSortedBySize"],
        serde_json::json!(["tool-10.sh", "tool-1.sh"])
    );
    assert_eq!(seen["rpmRows"], serde_json::json!([rpm.file_name()]));
    assert_eq!(seen["detailsSha1"], sha1_hex(&rpm_bytes));
    // Every digest, as the API gives it.
    let details = seen["details"].clone();
    let rpm_id = listed(&app, &rpm.file_name()).await["id"].clone();
    let (_, api) = envelope(
        app.get(Who::Viewer, &format!("/api/v2/software-packages/{rpm_id}"))
            .await,
    )
    .await;
    for (term, field) in [
        ("MD5", "md5"),
        ("SHA-1", "sha1"),
        ("SHA-256", "sha256"),
        ("Content key", "contentKey"),
    ] {
        assert_eq!(details[term], api["data"][field], "{term}: {details}");
    }
    assert!(
        seen["checksum"]
            .as_str()
            .unwrap()
            .contains(api["data"]["sha256"].as_str().unwrap()),
        "{seen}"
    );
    let download_url = listed(&app, &rpm.file_name()).await["downloadUrl"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        seen["curl"].as_str().unwrap().contains(&download_url),
        "{seen}"
    );
    assert!(
        seen["downloadHref"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{}", rpm.file_name()))
    );

    // The uploads: stored whole, one of them through a cut connection, one
    // resumed after a reload; the deleted one gone.
    assert_eq!(
        proxy.cuts.load(Ordering::Relaxed),
        1,
        "one connection was cut"
    );
    for (name, content) in &uploads[..2] {
        assert_eq!(
            listed(&app, name).await["sha1"],
            sha1_hex(content),
            "{name}"
        );
    }
    assert_eq!(
        listed(&app, "resume-me.sh").await["sha1"],
        sha1_hex(&uploads[3].1)
    );
    let resumed = seen["resumed"].as_str().unwrap();
    assert!(
        resumed.starts_with("Resumed at ") && !resumed.starts_with("Resumed at 0 B"),
        "{resumed}"
    );
    assert!(
        listed(&app, "small.sh").await.is_null(),
        "small.sh was deleted"
    );
    // The refused files, said in depot's words and not stored.
    let broken = seen["brokenSaid"].as_str().unwrap();
    assert!(
        broken.starts_with("Failed: ") && broken.len() > 20,
        "{broken}"
    );
    let txt = seen["refusedTypeSaid"].as_str().unwrap();
    assert!(txt.contains("neither an RPM package nor a script"), "{txt}");
    for name in ["broken-1.0-1.el7.x86_64.rpm", "notes.txt"] {
        assert!(listed(&app, name).await.is_null(), "{name} is not stored");
    }

    // The token the page created was real, and its revocation too.
    let secret = seen["tokenSecret"].as_str().unwrap();
    let refused = app
        .http
        .get(app.url("/api/v2/software-packages"))
        .bearer_auth(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
    let (_, tokens) = envelope(app.get(Who::Admin, "/api/v2/tokens").await).await;
    let token = &tokens["data"][0];
    assert_eq!(token["name"], "from the console");
    assert_eq!(token["user"], "manager");
    assert_eq!(token["role"], "viewer");
    assert_eq!(token["state"], "revoked");
    assert!(
        seen["auditDeleteRows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a == "package.delete")
    );
    assert!(seen["doctorChecks"].as_u64().unwrap() >= 5, "{seen}");
    assert!(
        seen["repoSnippet"].as_str().unwrap().contains("baseurl"),
        "{seen}"
    );
    assert!(!seen["routeAnswer"].as_str().unwrap().is_empty());

    // Patches: the viewer saw them read-only; the manager's actions happened.
    let viewer_p1 = seen["viewerP1"].as_str().unwrap();
    assert!(viewer_p1.contains("Available"), "{viewer_p1}");
    assert_eq!(
        seen["patchPackages"],
        serde_json::json!(["foo-1.1-1.el7.x86_64.rpm"])
    );
    assert!(
        seen["patchDetails"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d == "Available"),
        "{seen}"
    );
    assert!(seen["applied"].as_str().unwrap().contains(P1), "{seen}");
    assert!(
        seen["hostAfterApply"].as_str().unwrap().contains("foo"),
        "{seen}"
    );
    assert!(
        seen["commitDryRun"].as_str().unwrap().contains(P1),
        "{seen}"
    );
    let install = seen["installAnswer"].as_str().unwrap();
    assert!(
        install.contains("Done") && !install.contains("Refused"),
        "{install}"
    );
    let refused = seen["refused"].as_str().unwrap();
    assert!(
        refused.contains(&format!("Delete {P2}Refused: ")),
        "{refused}"
    );
    let removed = seen["removed"].as_str().unwrap();
    assert!(
        removed.contains("Done: ") && removed.contains(P2),
        "{removed}"
    );
    let apply_refused = seen["applyRefused"].as_str().unwrap();
    assert!(
        apply_refused.contains(&format!("{P3} requires {P1}, which is not applied")),
        "{apply_refused}"
    );
    // One row a page: each page showed the next.
    assert_eq!(
        seen["pagedPatches"],
        serde_json::json!([[P1], [P2]]),
        "{seen}"
    );
    assert_eq!(
        seen["pagedHosts"],
        serde_json::json!([["controller-0"], ["controller-1"]]),
        "{seen}"
    );
    assert_eq!(
        seen["pagedTokens"],
        serde_json::json!([["from the console"], ["second"]]),
        "{seen}"
    );
    assert!(seen["regionsScrolled"].as_f64().unwrap() > 0.0, "{seen}");
    let q = call(&app, Who::Viewer, reqwest::Method::GET, "/v1/query").await;
    assert_eq!(q["pd"][P1]["repostate"], "Committed", "{q}");
    assert_eq!(q["pd"][P3]["repostate"], "Available", "{q}");
    assert!(q["pd"][P2].is_null(), "{P2} was deleted: {q}");
    let hosts = call(&app, Who::Viewer, reqwest::Method::GET, "/v1/query_hosts").await;
    let names: Vec<_> = hosts["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hostname"].clone())
        .collect();
    assert_eq!(names, ["controller-1"], "controller-0 dropped");
    let region = seen["regionRow"].as_str().unwrap();
    assert!(
        region.contains("backup") && region.contains("10.20.0.0/16"),
        "{region}"
    );
    // axe-core and the narrow window went over every page, for each role
    // where the pages differ.
    let pages = [
        "sign-in",
        "packages-viewer",
        "package-details",
        "patches-viewer",
        "patch-details",
        "regions",
        "routes-viewer",
        "repos-viewer",
        "upload",
        "upload-refused",
        "packages-manager",
        "patches-manager-before",
        "patch-apply-refused",
        "tokens",
        "token-created",
        "audit",
        "doctor",
        "repos",
        "routes",
    ];
    for page in pages {
        for list in ["a11yPages", "narrowPages"] {
            assert!(
                seen[list].as_array().unwrap().iter().any(|p| p == page),
                "{list} misses {page}: {seen}"
            );
        }
        assert!(
            shots.join(format!("{page}-narrow.png")).exists(),
            "narrow screenshot {page}"
        );
    }
    for page in [
        "sign-in",
        "patches-viewer",
        "patch-details",
        "patches-manager",
        "patch-refused",
        "regions",
        "packages-viewer",
        "package-details",
        "upload-progress",
        "tokens",
        "audit",
        "doctor",
    ] {
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "screenshot {page}"
        );
    }
}
