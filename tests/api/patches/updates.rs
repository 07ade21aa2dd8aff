//! A release's updates repository: applying a patch publishes its RPMs and
//! a comps group per personality at `/repos/patches/<release>/`, and the
//! real dnf installs `updates-<personality>` from it into an install root;
//! the base repository leaves patch RPMs out; removing republishes.

use std::path::Path;
use std::process::{Command, Output};

use reqwest::{Method, StatusCode};

use super::{PatchSpec, Signer, base_rpm, call, start, upload};
use crate::backend_tests;
use crate::common::{Backend, PASSWORD, TestApp, Who};
use crate::repos::{Rpm, get_bytes, parse_repomd, wait_for};

backend_tests!(
    dnf_installs_a_personality_group_of_the_applied_patches,
    a_patch_only_architecture_is_no_repository,
);

const P1: &str = "TC_19.12_PATCH_0001";

fn dnf(root: &Path, args: &[&str]) -> Output {
    let out = Command::new("dnf")
        .args([
            "-y",
            &format!("--installroot={}", root.join("root").display()),
            "--releasever=7",
            &format!("--setopt=reposdir={}", root.join("repos.d").display()),
            &format!("--setopt=cachedir={}", root.join("cache").display()),
            "--setopt=install_weak_deps=False",
            "--setopt=skip_if_unavailable=False",
            "--setopt=*.skip_if_unavailable=False",
            "--disablerepo=*",
            "--enablerepo=depot-updates",
        ])
        .args(args)
        .output()
        .expect("dnf is installed (scripts/test.sh installs it)");
    eprintln!(
        "dnf {args:?}: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn installed(root: &Path, names: &[&str]) -> String {
    let out = Command::new("rpm")
        .args(["--root", &root.join("root").display().to_string(), "-q"])
        .args(names)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn install_root(app: &TestApp) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("repos.d")).unwrap();
    let repo = format!(
        "[depot-updates]\nname=depot updates 19.12\nbaseurl={base}/repos/patches/19.12/\nusername=viewer\npassword={PASSWORD}\ngpgcheck=0\nrepo_gpgcheck=1\ngpgkey={base}/repos/RPM-GPG-KEY-depot\nenabled=1\n",
        base = app.base
    );
    std::fs::write(dir.path().join("repos.d/depot-updates.repo"), repo).unwrap();
    dir
}

async fn dnf_installs_a_personality_group_of_the_applied_patches(backend: Backend) {
    let signer = Signer::new();
    let app = start(backend, &signer).await;
    base_rpm(&app, &Rpm::new("foo", "1.0", "1.el7", "x86_64")).await;
    let mut p1 = PatchSpec::new(
        P1,
        vec![
            Rpm::new("foo", "1.1", "1.el7", "x86_64"),
            Rpm::new("bar", "1.0", "1.el7", "noarch"),
        ],
    );
    p1.personalities = vec![("controller", vec!["foo"]), ("worker", vec!["foo", "bar"])];
    let r = upload(&app, &p1, p1.build(Some(&signer), false)).await;
    assert_eq!(r["error"], "", "{r}");
    // Uploaded, not applied: the base repository does not serve the patch's RPMs.
    wait_for(&app, "el7", "x86_64", 1).await;
    let r = call(&app, Who::Manager, Method::POST, &format!("/v1/apply/{P1}")).await;
    assert_eq!(r["error"], "", "{r}");
    let repomd = wait_for(&app, "patches", "19.12", 2).await;
    let (revision, data) = parse_repomd(&repomd);
    let group = data
        .iter()
        .find(|d| d.kind == "group")
        .expect("a group data file");
    let (status, comps) = get_bytes(
        &app,
        Who::Viewer,
        &format!("/repos/patches/19.12/{}", group.href),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let comps = String::from_utf8(comps).unwrap();
    assert!(comps.contains("<id>updates-controller</id>"), "{comps}");
    assert!(comps.contains("<id>updates-worker</id>"), "{comps}");
    assert_eq!(
        super::super::repos::sha256_hex(comps.as_bytes()),
        group.sha256
    );

    let controller = install_root(&app);
    assert!(
        dnf(
            controller.path(),
            &["group", "install", "updates-controller"]
        )
        .status
        .success()
    );
    let got = installed(controller.path(), &["foo", "bar"]);
    assert!(got.contains("foo-1.1-1.el7.x86_64"), "{got}");
    assert!(got.contains("package bar is not installed"), "{got}");
    let worker = install_root(&app);
    assert!(
        dnf(worker.path(), &["group", "install", "updates-worker"])
            .status
            .success()
    );
    let got = installed(worker.path(), &["foo", "bar"]);
    assert!(
        got.contains("foo-1.1-1.el7.x86_64") && got.contains("bar-1.0-1.el7.noarch"),
        "{got}"
    );

    // Removed: republished without it, at a higher revision.
    let r = call(
        &app,
        Who::Manager,
        Method::POST,
        &format!("/v1/remove/{P1}"),
    )
    .await;
    assert_eq!(r["error"], "", "{r}");
    let repomd = wait_for(&app, "patches", "19.12", 0).await;
    let (after, _) = parse_repomd(&repomd);
    assert!(after > revision, "{after} after {revision}");
}

/// A patch's RPMs belong to its release's updates repository only: an
/// architecture that only a patch carries lists no repository of its tag.
async fn a_patch_only_architecture_is_no_repository(backend: Backend) {
    let signer = Signer::new();
    let app = start(backend, &signer).await;
    base_rpm(&app, &Rpm::new("foo", "1.0", "1.el7", "x86_64")).await;
    let p1 = PatchSpec::new(P1, vec![Rpm::new("qux", "1.0", "1.el7", "aarch64")]);
    let r = upload(&app, &p1, p1.build(Some(&signer), false)).await;
    assert_eq!(r["error"], "", "{r}");
    let resp = app.get(Who::Viewer, "/api/v2/repos").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: serde_json::Value = resp.json().await.unwrap();
    let names: Vec<String> = body["data"]
        .as_array()
        .expect("a list of repositories")
        .iter()
        .map(|r| {
            format!(
                "{}/{}",
                r["os"].as_str().unwrap(),
                r["arch"].as_str().unwrap()
            )
        })
        .collect();
    assert!(names.contains(&"el7/x86_64".to_string()), "{names:?}");
    assert!(!names.contains(&"el7/aarch64".to_string()), "{names:?}");
}
