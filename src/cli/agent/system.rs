//! What the agent runs on its host: `rpm -qa` for what is installed, and
//! dnf against depot's updates repository only (a repository file of its
//! own in a temporary directory, the token as the repository's password),
//! each run bounded by a timeout.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Command;

use crate::http::auth::BASIC_TOKEN_USER;

/// The rpm database's packages: name, epoch, version, release, arch.
pub async fn installed(root: Option<&Path>) -> anyhow::Result<Vec<Value>> {
    let mut rpm = Command::new("rpm");
    if let Some(root) = root {
        rpm.arg("--root").arg(root);
    }
    rpm.args([
        "-qa",
        "--qf",
        "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n",
    ]);
    let out = tokio::time::timeout(Duration::from_secs(120), rpm.kill_on_drop(true).output())
        .await
        .map_err(|_| anyhow::anyhow!("rpm -qa took over two minutes"))?
        .map_err(|e| anyhow::anyhow!("running rpm: {e}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "rpm -qa failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut packages = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        // gpg-pubkey entries have no arch: they are keys, not packages.
        if f.len() != 5 || f[4] == "(none)" {
            continue;
        }
        let epoch = if f[1] == "(none)" { "" } else { f[1] };
        packages.push(json!({
            "name": f[0], "epoch": epoch, "version": f[2], "release": f[3], "arch": f[4],
        }));
    }
    Ok(packages)
}

/// How the agent runs dnf.
pub struct Dnf {
    pub server: String,
    pub token: String,
    pub release: String,
    pub root: Option<PathBuf>,
    pub timeout: Duration,
}

impl Dnf {
    /// Removes `to_remove`, then installs (or upgrades to) `missing`.
    pub async fn converge(&self, to_remove: &[String], missing: &[String]) -> anyhow::Result<()> {
        let dir = WorkDir::new()?;
        self.write_repo(&dir.0)?;
        if !to_remove.is_empty() {
            self.run(&dir.0, "remove", to_remove).await?;
        }
        if !missing.is_empty() {
            self.run(&dir.0, "install", missing).await?;
        }
        Ok(())
    }

    /// The updates repository's file, readable by this user only (it holds the token).
    fn write_repo(&self, dir: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let base = self.server.trim_end_matches('/');
        let repo = format!(
            "[depot-updates]\nname=depot updates {release}\nbaseurl={base}/repos/patches/{release}/\n\
             username={BASIC_TOKEN_USER}\npassword={token}\ngpgcheck=0\nrepo_gpgcheck=1\n\
             gpgkey={base}/repos/RPM-GPG-KEY-depot\nenabled=1\nmetadata_expire=0\n",
            release = self.release,
            token = self.token,
        );
        std::fs::create_dir_all(dir.join("repos.d"))?;
        let mut file = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(dir.join("repos.d/depot-updates.repo"))?;
        file.write_all(repo.as_bytes())?;
        Ok(())
    }

    async fn run(&self, dir: &Path, verb: &str, packages: &[String]) -> anyhow::Result<()> {
        let mut dnf = Command::new("dnf");
        dnf.arg("-y");
        if let Some(root) = &self.root {
            dnf.arg(format!("--installroot={}", root.display()));
        }
        dnf.arg(format!("--releasever={}", self.release))
            .arg(format!(
                "--setopt=reposdir={}",
                dir.join("repos.d").display()
            ))
            .arg(format!("--setopt=cachedir={}", dir.join("cache").display()))
            .args([
                "--setopt=skip_if_unavailable=False",
                "--setopt=*.skip_if_unavailable=False",
                "--setopt=install_weak_deps=False",
                "--setopt=clean_requirements_on_remove=False",
                "--disablerepo=*",
                "--enablerepo=depot-updates",
                verb,
            ])
            .args(packages)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(self.timeout, dnf.output())
            .await
            .map_err(|_| {
                anyhow::anyhow!("dnf {verb} ran over {}s: killed", self.timeout.as_secs())
            })?
            .map_err(|e| anyhow::anyhow!("running dnf: {e}"))?;
        if !out.status.success() {
            anyhow::bail!(
                "dnf {verb} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }
}

/// A private directory for one install (the repository file, dnf's cache),
/// removed when the install ends.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> anyhow::Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let path = std::env::temp_dir().join(format!("depot-agent-{}", uuid::Uuid::new_v4()));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(Self(path))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
