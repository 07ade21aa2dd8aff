//! yum/dnf repositories: the real dnf installs from depot with
//! `repo_gpgcheck=1`, the metadata matches createrepo_c's, old publications
//! stay readable, and concurrent uploads on two replicas end in one
//! consistent publication.

mod consistency;
pub(crate) mod dnf;
mod dnf_refusals;
mod incremental;
mod obd;
mod operations;

use std::io::Read;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rpm::{Dependency, FileOptions, PackageBuilder};
use sha2::{Digest, Sha256};

use crate::common::{TestApp, Who};

/// A test RPM with dependencies, an epoch and a changelog.
pub struct Rpm {
    pub name: &'static str,
    pub version: &'static str,
    pub release: &'static str,
    pub arch: &'static str,
    pub epoch: Option<u32>,
    pub requires: Vec<Dependency>,
    pub provides: Vec<Dependency>,
    pub files: Vec<&'static str>,
}

impl Rpm {
    pub fn new(
        name: &'static str,
        version: &'static str,
        release: &'static str,
        arch: &'static str,
    ) -> Self {
        Self {
            name,
            version,
            release,
            arch,
            epoch: None,
            requires: Vec::new(),
            provides: Vec::new(),
            files: Vec::new(),
        }
    }

    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name, self.version, self.release, self.arch
        )
    }

    pub fn build(&self) -> Vec<u8> {
        let mut b = PackageBuilder::new(
            self.name,
            self.version,
            "MIT",
            self.arch,
            "a depot test package",
        );
        b.release(self.release)
            .description("Built by depot's tests.\nSecond line & <markup>.")
            .url("https://example.com/depot")
            .vendor("depot tests")
            .add_changelog_entry(
                "Tester <t@example.com> - 1.0-1",
                "- first",
                1_700_000_000u32,
            )
            .add_changelog_entry(
                "Tester <t@example.com> - 1.0-2",
                "- second",
                1_700_086_400u32,
            );
        if let Some(epoch) = self.epoch {
            b.epoch(epoch);
        }
        for dep in &self.requires {
            b.requires(dep.clone());
        }
        for dep in &self.provides {
            b.provides(dep.clone());
        }
        b.with_file_contents(
            format!("{} {}", self.name, self.version).into_bytes(),
            FileOptions::new(format!("/usr/share/doc/{}/README", self.name)),
        )
        .unwrap();
        for path in &self.files {
            b.with_file_contents(
                b"#!/bin/sh\necho depot\n".to_vec(),
                FileOptions::new(*path).mode(0o100755),
            )
            .unwrap();
        }
        let mut out = Vec::new();
        b.build().unwrap().write(&mut out).unwrap();
        out
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A `<data>` entry of repomd.xml: type, href, checksum.
#[derive(Clone, Debug)]
pub struct Data {
    pub kind: String,
    pub href: String,
    pub sha256: String,
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

/// The revision and data files repomd.xml names.
pub fn parse_repomd(repomd: &str) -> (i64, Vec<Data>) {
    let revision = between(repomd, "<revision>", "</revision>")
        .unwrap()
        .parse()
        .unwrap();
    let data = repomd
        .split("<data ")
        .skip(1)
        .map(|d| Data {
            kind: between(d, "type=\"", "\"").unwrap().to_string(),
            href: between(d, "<location href=\"", "\"").unwrap().to_string(),
            sha256: between(d, "<checksum type=\"sha256\">", "</checksum>")
                .unwrap()
                .to_string(),
        })
        .collect();
    (revision, data)
}

pub async fn get_bytes(app: &TestApp, who: Who, path: &str) -> (StatusCode, Vec<u8>) {
    let response = app.get(who, path).await;
    let status = response.status();
    (status, response.bytes().await.unwrap().to_vec())
}

pub fn gunzip(bytes: &[u8]) -> String {
    let mut out = String::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_string(&mut out)
        .unwrap();
    out
}

/// Waits until `os`/`arch` is published with `count` packages; its repomd.xml.
pub async fn wait_for(app: &TestApp, os: &str, arch: &str, count: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let path = format!("/repos/{os}/{arch}/repodata/repomd.xml");
        let (status, repomd) = get_bytes(app, Who::Viewer, &path).await;
        assert_eq!(status, StatusCode::OK);
        let repomd = String::from_utf8(repomd).unwrap();
        let (_, data) = parse_repomd(&repomd);
        let primary = data.iter().find(|d| d.kind == "primary").unwrap();
        let (status, bytes) = get_bytes(
            app,
            Who::Viewer,
            &format!("/repos/{os}/{arch}/{}", primary.href),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        if gunzip(&bytes).contains(&format!("packages=\"{count}\"")) {
            return repomd;
        }
        assert!(
            Instant::now() < deadline,
            "{os}/{arch} never listed {count} packages"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
