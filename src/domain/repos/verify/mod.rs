//! `depot repo verify`: re-reads what each publication stored and checks it
//! against repomd.xml and the package store — every metadata file's size
//! and digests (stored and open), primary.xml's package count, and each
//! package it lists (stored under that name, same SHA-256 and size, its
//! bytes present in the store). Streams every file; holds one batch of
//! packages at a time.

pub mod parse;

use std::collections::HashMap;
use std::io::{BufReader, Read};

use entity::repo;
use flate2::read::MultiGzDecoder;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::Repos;
use super::repomd::Kind;
use crate::db;
use crate::error::{Error, Result};
use crate::store::{BlobKey, Path};
use parse::{PackageRef, file_name_of, parse_repomd, read_primary};

/// Problems listed per repository; the rest are counted.
const MAX_PROBLEMS: usize = 100;
/// Packages checked against the database at a time.
const BATCH: usize = 256;
/// Existence checks in flight against the store.
const CHECKS: usize = 16;

/// What `verify` found in one repository.
#[derive(Clone, Debug, Default)]
pub struct Verification {
    pub repo: String,
    pub revision: i64,
    pub files: usize,
    pub packages: usize,
    pub problems: Vec<String>,
    /// Problems past `MAX_PROBLEMS`.
    pub more_problems: usize,
}

impl Verification {
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, problem: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        } else {
            self.more_problems += 1;
        }
    }
}

/// Length and SHA-256 of what passes through.
struct Hashing<R> {
    inner: R,
    sha256: Sha256,
    len: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha256.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

fn hashing<R: Read>(inner: R) -> Hashing<R> {
    Hashing {
        inner,
        sha256: Sha256::new(),
        len: 0,
    }
}

/// (SHA-256, length) of the stored bytes, of the XML, and primary's declared count.
type Read_ = ((String, u64), (String, u64), Option<u64>);

impl Repos {
    /// Verifies every published repository, or only `os`/`arch`.
    pub async fn verify(&self, only: Option<(&str, &str)>) -> Result<Vec<Verification>> {
        let rows: Vec<repo::Model> = db::repos::list(&self.db)
            .await?
            .into_iter()
            .filter(|r| only.is_none_or(|(os, arch)| r.os == os && r.arch == arch))
            .collect();
        if let (Some((os, arch)), true) = (only, rows.is_empty()) {
            return Err(Error::NotFound(format!(
                "repository {os}/{arch} has never been published"
            )));
        }
        let mut found = Vec::new();
        for row in rows {
            found.push(self.verify_one(row).await?);
        }
        Ok(found)
    }

    async fn verify_one(&self, row: repo::Model) -> Result<Verification> {
        let mut v = Verification {
            repo: format!("{}/{}", row.os, row.arch),
            revision: row.revision,
            ..Verification::default()
        };
        let repomd = match parse_repomd(&row.repomd) {
            Ok(repomd) => repomd,
            Err(e) => {
                v.problem(format!("repomd.xml does not parse: {e}"));
                return Ok(v);
            }
        };
        if repomd.revision != Some(row.revision) {
            v.problem(format!(
                "repomd.xml says revision {:?}, the repository {}",
                repomd.revision, row.revision
            ));
        }
        for kind in Kind::ALL {
            let n = repomd
                .data
                .iter()
                .filter(|d| d.kind == kind.as_str())
                .count();
            if n != 1 {
                v.problem(format!("repomd.xml lists {n} {} files", kind.as_str()));
            }
        }
        for entry in &repomd.data {
            v.files += 1;
            let Some(name) = entry.href.strip_prefix("repodata/") else {
                v.problem(format!("{}: not under repodata/", entry.href));
                continue;
            };
            let Some(file) = db::repos::file(&self.db, row.id, name).await? else {
                v.problem(format!("{name}: listed in repomd.xml, not stored"));
                continue;
            };
            if file.superseded_at.is_some() {
                v.problem(format!("{name}: current, yet marked superseded"));
            }
            let object = match self
                .store
                .get(&Path::from(file.object_key.as_str()), None)
                .await
            {
                Ok(object) => object,
                Err(e) => {
                    v.problem(format!("{name}: its object cannot be read: {e}"));
                    continue;
                }
            };
            let primary = entry.kind == Kind::Primary.as_str();
            let gzip = name.ends_with(".gz");
            let (tx, mut rx) = mpsc::channel::<PackageRef>(BATCH);
            let reader = SyncIoBridge::new(StreamReader::new(
                object.into_stream().map_err(std::io::Error::other),
            ));
            let reading = tokio::task::spawn_blocking(move || read_file(reader, gzip, primary, tx));
            let mut batch = Vec::with_capacity(BATCH);
            let mut listed = 0usize;
            while let Some(package) = rx.recv().await {
                listed += 1;
                batch.push(package);
                if batch.len() == BATCH {
                    self.check_packages(&mut v, &batch).await?;
                    batch.clear();
                }
            }
            self.check_packages(&mut v, &batch).await?;
            let ((sha256, size), (open_sha256, open_size), declared) =
                match reading.await.map_err(Error::internal)? {
                    Ok(read) => read,
                    Err(e) => {
                        v.problem(format!("{name}: unreadable: {e}"));
                        continue;
                    }
                };
            if sha256 != entry.checksum || size != entry.size || size != file.size as u64 {
                v.problem(format!(
                    "{name}: stored bytes are {size} with SHA-256 {sha256}; repomd.xml says {} with {}",
                    entry.size, entry.checksum
                ));
            }
            if open_sha256 != entry.open_checksum || open_size != entry.open_size {
                v.problem(format!(
                    "{name}: its XML is {open_size} bytes with SHA-256 {open_sha256}; repomd.xml says {} with {}",
                    entry.open_size, entry.open_checksum
                ));
            }
            if primary {
                v.packages = listed;
                if declared != Some(listed as u64) || listed as i64 != row.package_count {
                    v.problem(format!(
                        "{name}: lists {listed} packages, declares {declared:?}, the repository counts {}",
                        row.package_count
                    ));
                }
            }
        }
        Ok(v)
    }

    /// Each package of `batch`: stored under its name, with the digest and
    /// size primary.xml gives, its bytes in the store.
    async fn check_packages(&self, v: &mut Verification, batch: &[PackageRef]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = batch.iter().filter_map(|p| file_name_of(&p.href)).collect();
        let stored: HashMap<String, db::repos::Stored> =
            db::repos::stored_by_file_names(&self.db, &names)
                .await?
                .into_iter()
                .map(|s| (s.file_name.clone(), s))
                .collect();
        let mut present = Vec::new();
        for package in batch {
            let Some(name) = file_name_of(&package.href) else {
                v.problem(format!("{}: names no file", package.href));
                continue;
            };
            match stored.get(&name) {
                None => v.problem(format!("{name}: listed, but no such package is stored")),
                Some(s) if s.sha256 != package.pkgid || s.size as u64 != package.size => {
                    v.problem(format!(
                        "{name}: listed with SHA-256 {} and {} bytes; stored with {} and {}",
                        package.pkgid, package.size, s.sha256, s.size
                    ))
                }
                Some(s) => present.push((name, s.blob_key.clone())),
            }
        }
        let missing: Vec<String> = futures::stream::iter(present)
            .map(|(name, key)| async move {
                match self.store.exists(&BlobKey::from_stored(key)).await {
                    Ok(true) => None,
                    Ok(false) => Some(format!("{name}: its bytes are missing from the store")),
                    Err(e) => Some(format!("{name}: the store could not say: {e}")),
                }
            })
            .buffer_unordered(CHECKS)
            .filter_map(|p| async move { p })
            .collect()
            .await;
        for problem in missing {
            v.problem(problem);
        }
        Ok(())
    }
}

/// Reads a stored metadata file to its end: its digests, and primary's packages into `tx`.
fn read_file(
    reader: impl Read,
    gzip: bool,
    primary: bool,
    tx: mpsc::Sender<PackageRef>,
) -> std::result::Result<Read_, String> {
    let mut stored = hashing(reader);
    let sink = &mut std::io::sink();
    let (open, declared) = {
        let inner: Box<dyn Read + '_> = if gzip {
            Box::new(MultiGzDecoder::new(&mut stored))
        } else {
            Box::new(&mut stored)
        };
        let mut xml = hashing(inner);
        let declared = if primary {
            read_primary(BufReader::new(&mut xml), |p| {
                tx.blocking_send(p)
                    .map_err(|_| "verification stopped".to_string())
            })?
        } else {
            None
        };
        drop(tx);
        std::io::copy(&mut xml, sink).map_err(|e| e.to_string())?;
        ((hex::encode(xml.sha256.finalize()), xml.len), declared)
    };
    std::io::copy(&mut stored, sink).map_err(|e| e.to_string())?;
    Ok((
        (hex::encode(stored.sha256.finalize()), stored.len),
        open,
        declared,
    ))
}
