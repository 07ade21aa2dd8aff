//! The real dnf (Debian's) against depot: `repo_gpgcheck=1`, Basic auth
//! from the .repo file depot hands out, an install through a dependency,
//! and the metadata compared with createrepo_c's for the same RPMs.

use std::path::Path;
use std::process::{Command, Output};

use reqwest::StatusCode;
use rpm::Dependency;

use super::{Rpm, get_bytes, wait_for};
use crate::backend_tests;
use crate::common::{Backend, PASSWORD, TestApp, Who, envelope};

backend_tests!(
    dnf_installs_through_a_dependency_from_a_signed_repository,
    dnf_installs_anonymously_from_a_public_repository,
    metadata_matches_createrepo_c
);

pub(crate) fn packages() -> Vec<Rpm> {
    let mut lib = Rpm::new("depot-lib", "1.0", "1.el7", "noarch");
    lib.provides.push(Dependency::eq("libdepot", "1.0"));
    let mut app = Rpm::new("depot-app", "2.0", "3.el7", "x86_64");
    app.epoch = Some(1);
    app.requires.push(Dependency::greater_eq("libdepot", "1.0"));
    app.requires.push(Dependency::script_pre("depot-lib"));
    app.files.push("/usr/bin/depot-app");
    vec![lib, app]
}

/// Runs dnf against `repos` with everything under `root`, never the machine's.
pub(crate) fn dnf(root: &Path, args: &[&str]) -> Output {
    let out = Command::new("dnf")
        .args([
            "-y",
            &format!("--installroot={}", root.join("root").display()),
            "--releasever=7",
            &format!("--setopt=reposdir={}", root.join("repos.d").display()),
            &format!("--setopt=cachedir={}", root.join("cache").display()),
            "--setopt=install_weak_deps=False",
            // Without it a bad signature still exits 0.
            "--setopt=skip_if_unavailable=False",
            "--setopt=*.skip_if_unavailable=False",
            "--disablerepo=*",
            "--enablerepo=depot-el7",
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

/// depot's .repo file for el7, with the viewer's credentials filled in.
pub(crate) async fn repo_file(app: &TestApp) -> String {
    let response = app.get(Who::Viewer, "/repos/el7/depot.repo").await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(&format!("baseurl={}/repos/el7/$basearch/", app.base)),
        "{text}"
    );
    assert!(text.contains("repo_gpgcheck=1"), "{text}");
    text.replace("username=USER", "username=viewer")
        .replace("password=PASSWORD", &format!("password={PASSWORD}"))
}

async fn dnf_installs_through_a_dependency_from_a_signed_repository(backend: Backend) {
    let app = TestApp::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("repos.d")).unwrap();
    std::fs::write(dir.path().join("repos.d/depot.repo"), repo_file(&app).await).unwrap();
    // Before any upload: an empty repository, valid and signed.
    assert!(dnf(dir.path(), &["makecache"]).status.success());

    for rpm in packages() {
        app.upload_ok(&rpm.file_name(), rpm.build()).await;
    }
    wait_for(&app, "el7", "x86_64", 2).await;
    let out = dnf(dir.path(), &["--refresh", "install", "depot-app"]);
    assert!(out.status.success());
    let query = Command::new("rpm")
        .args([
            "--root",
            &dir.path().join("root").display().to_string(),
            "-q",
            "depot-app",
            "depot-lib",
        ])
        .output()
        .unwrap();
    let installed = String::from_utf8_lossy(&query.stdout);
    assert!(query.status.success(), "{installed}");
    assert!(
        installed.contains("depot-app-2.0-3.el7.x86_64")
            && installed.contains("depot-lib-1.0-1.el7.noarch")
    );

    // The signature is checked: a key that did not sign repomd.xml fails.
    let other = depot::domain::repos::signing::RepoKey::generate().unwrap();
    std::fs::write(dir.path().join("other.asc"), other.public_armored).unwrap();
    let repo = std::fs::read_to_string(dir.path().join("repos.d/depot.repo")).unwrap();
    let gpgkey = format!("gpgkey={}/repos/RPM-GPG-KEY-depot", app.base);
    let wrong = repo.replace(
        &gpgkey,
        &format!("gpgkey=file://{}", dir.path().join("other.asc").display()),
    );
    std::fs::write(dir.path().join("repos.d/depot.repo"), wrong).unwrap();
    std::fs::remove_dir_all(dir.path().join("cache")).unwrap();
    assert!(
        !dnf(dir.path(), &["makecache"]).status.success(),
        "a wrong key must fail"
    );

    // Without credentials depot answers 401, and dnf fails.
    let anonymous: String = repo
        .lines()
        .filter(|l| !l.starts_with("username=") && !l.starts_with("password="))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.path().join("repos.d/depot.repo"), anonymous).unwrap();
    std::fs::remove_dir_all(dir.path().join("cache")).unwrap();
    assert!(!dnf(dir.path(), &["makecache"]).status.success());
    let (status, _) = get_bytes(
        &app,
        Who::Anonymous,
        "/repos/el7/x86_64/repodata/repomd.xml",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // GET /api/v2/repos lists it.
    let (status, body) = envelope(app.get(Who::Viewer, "/api/v2/repos").await).await;
    assert_eq!(status, StatusCode::OK);
    let repos = body["data"].as_array().unwrap();
    let el7 = repos
        .iter()
        .find(|r| r["os"] == "el7" && r["arch"] == "x86_64")
        .unwrap();
    assert_eq!(el7["packages"], 2, "{body}");
    assert!(el7["revision"].as_i64().unwrap() > 0);
}

/// `--repos-public`: a stock .repo file without credentials installs,
/// packages included (from the repository's `Packages/`).
async fn dnf_installs_anonymously_from_a_public_repository(backend: Backend) {
    let app = TestApp::start_with(backend, Box::new(|c| c.repos.public = true)).await;
    for rpm in packages() {
        app.upload_ok(&rpm.file_name(), rpm.build()).await;
    }
    wait_for(&app, "el7", "x86_64", 2).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("repos.d")).unwrap();
    let response = app.get(Who::Anonymous, "/repos/el7/depot.repo").await;
    assert_eq!(response.status(), StatusCode::OK);
    let repo = response.text().await.unwrap();
    assert!(!repo.contains("username="), "{repo}");
    std::fs::write(dir.path().join("repos.d/depot.repo"), repo).unwrap();
    assert!(dnf(dir.path(), &["install", "depot-app"]).status.success());
    // Only the repository's own packages are served there.
    let (status, _) = get_bytes(
        &app,
        Who::Anonymous,
        "/repos/el8/x86_64/Packages/depot-lib-1.0-1.el7.noarch.rpm",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// depot's metadata against createrepo_c's for the same RPMs: pkgid, sizes,
/// header range, dependencies with flags and `pre`, file lists, changelogs.
async fn metadata_matches_createrepo_c(backend: Backend) {
    let app = TestApp::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("createrepo");
    let ours = dir.path().join("depot");
    std::fs::create_dir_all(&theirs).unwrap();
    std::fs::create_dir_all(ours.join("repodata")).unwrap();
    for rpm in packages() {
        let bytes = rpm.build();
        std::fs::write(theirs.join(rpm.file_name()), &bytes).unwrap();
        app.upload_ok(&rpm.file_name(), bytes).await;
    }
    let out = Command::new("createrepo_c")
        .args(["--no-database", "--general-compress-type=gz"])
        .arg(&theirs)
        .output()
        .expect("createrepo_c is installed (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let repomd = wait_for(&app, "el7", "x86_64", 2).await;
    std::fs::write(ours.join("repodata/repomd.xml"), &repomd).unwrap();
    for data in super::parse_repomd(&repomd).1 {
        let (status, bytes) = get_bytes(
            &app,
            Who::Viewer,
            &format!("/repos/el7/x86_64/{}", data.href),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(super::sha256_hex(&bytes), data.sha256, "{}", data.href);
        std::fs::write(ours.join(&data.href), bytes).unwrap();
    }
    let canon = |root: &Path| {
        let out = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/api/repos/rpmmd_canon.py"
            ))
            .arg(root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let (ours, theirs) = (canon(&ours), canon(&theirs));
    // What is compared: both packages, their dependencies with flags and `pre`, their files.
    for expected in [
        "depot-lib",
        "libdepot",
        r#"\"flags\": \"GE\""#,
        r#"\"pre\": \"1\""#,
        "/usr/bin/depot-app",
        "- second",
    ] {
        assert!(ours.contains(expected), "{expected} not in {ours}");
    }
    if ours != theirs {
        let diff: Vec<String> = ours
            .lines()
            .zip(theirs.lines())
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("depot: {a}\ncreaterepo_c: {b}"))
            .collect();
        panic!("metadata differs from createrepo_c's:\n{}", diff.join("\n"));
    }
}
