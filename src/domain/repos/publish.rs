//! A publication: the repository's packages' stored fragments streamed into
//! gzip into new objects, page by page (memory does not grow with the
//! repository), then repomd.xml switched to them in one transaction, under a
//! lease so that one replica at a time publishes a repository.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use entity::repo_package;
use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::Repos;
use super::encoder::Encoder;
use super::repomd::{self, DataFile, Kind, package_href};
use super::rpmmd::{FileFacts, fragments, with_location};
use crate::db::{self, locks, repos::Member};
use crate::domain::rpm_header::read_rpm_metadata;
use crate::error::{Error, Result};
use crate::metrics::METRICS;
use crate::store::{OnCut, Path, repo_object};

/// Fragments read from the database at a time.
const PAGE: usize = 256;
/// How long a publication may hold its lease; a crashed replica's lapses.
const LEASE: Duration = Duration::from_secs(600);
/// How long a request for a never-published repository waits for another
/// replica's publication of it.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// A new publication is current, at this revision.
    New(i64),
    /// The packages are those of the current publication.
    Unchanged,
    /// No packages and never published: the empty repository, not stored.
    Empty,
    /// Another replica publishes this repository now.
    Busy,
}

impl Repos {
    /// Publishes `os`/`arch` if its packages changed since its publication.
    pub async fn publish(&self, os: &str, arch: &str) -> Result<Published> {
        let lease = lease_name(os, arch);
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(LEASE).expect("a small duration");
        if !locks::try_acquire(&self.db, &lease, &self.holder, now, until).await? {
            METRICS.repo_publications.with_label_values(&["busy"]).inc();
            return Ok(Published::Busy);
        }
        let started = std::time::Instant::now();
        let published = self.publish_leased(os, arch).await;
        let outcome = match &published {
            Ok(Published::New(_)) => "new",
            Ok(_) => "unchanged",
            Err(_) => "error",
        };
        METRICS
            .repo_publications
            .with_label_values(&[outcome])
            .inc();
        if outcome == "new" {
            METRICS
                .repo_publication_seconds
                .with_label_values(&["publish"])
                .observe(started.elapsed().as_secs_f64());
        }
        if let Err(e) = locks::release(&self.db, &lease, &self.holder).await {
            tracing::warn!(error = %e, os, arch, "releasing a publication lease; it lapses by itself");
        }
        published
    }

    /// `publish`, waiting for another replica's publication when there is one.
    pub(super) async fn publish_waiting(&self, os: &str, arch: &str) -> Result<Published> {
        let start = tokio::time::Instant::now();
        loop {
            match self.publish(os, arch).await? {
                Published::Busy if start.elapsed() < WAIT_FOR_OTHERS => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Published::Busy => {
                    return Err(Error::ServerBusy(format!(
                        "repository {os}/{arch} is being published; retry shortly"
                    )));
                }
                done => return Ok(done),
            }
        }
    }

    async fn publish_leased(&self, os: &str, arch: &str) -> Result<Published> {
        let members = db::repos::members(&self.db, os, arch).await?;
        let previous = db::repos::find(&self.db, os, arch).await?;
        if members.is_empty() && previous.is_none() {
            return Ok(Published::Empty);
        }
        // A release's updates repository carries its comps groups too.
        let comps = if os == db::patches::UPDATES_OS {
            Some(self.updates_comps(arch).await?)
        } else {
            None
        };
        let mut content = content_digest(&members, self.config.public);
        if let Some(comps) = &comps {
            content = hex::encode(Sha256::digest(format!("{content}{comps}")));
        }
        if let Some(previous) = previous.as_ref().filter(|p| p.content == content) {
            self.remove_expired(previous.id).await;
            return Ok(Published::Unchanged);
        }
        self.backfill(&members).await?;
        let started = std::time::Instant::now();
        let mut written = self.write_files(os, arch, &members).await?;
        if let Some(comps) = comps {
            written.push(self.write_comps(os, arch, comps).await?);
        }
        let now = Utc::now();
        let revision = previous
            .as_ref()
            .map_or(0, |p| p.revision + 1)
            .max(now.timestamp());
        let data: Vec<DataFile> = written.iter().map(|(f, _)| f.clone()).collect();
        let switch = db::repos::Switch {
            os: os.to_string(),
            arch: arch.to_string(),
            revision,
            content,
            package_count: members.len() as i64,
            repomd: repomd::repomd(revision, &data),
            files: written
                .iter()
                .map(|(f, key)| (f.name(), key.to_string(), f.size as i64))
                .collect(),
        };
        let duplicates = {
            use sea_orm::TransactionTrait;
            let txn = self.db.begin().await?;
            let duplicates = db::repos::switch(&txn, switch, now).await?;
            txn.commit().await?;
            duplicates
        };
        for key in duplicates {
            let _ = self.store.delete_path(&Path::from(key)).await;
        }
        tracing::info!(os, arch, revision, packages = members.len(), took = ?started.elapsed(), "published a repository");
        if let Some(previous) = previous {
            self.remove_expired(previous.id).await;
        }
        Ok(Published::New(revision))
    }

    /// Computes the fragments of packages stored before repositories existed
    /// (reading their headers; their SHA-256 is known): once per package.
    async fn backfill(&self, members: &[Member]) -> Result<()> {
        for page in members.chunks(PAGE) {
            let ids: Vec<i64> = page.iter().map(|m| m.package_id).collect();
            let have = db::repos::with_fragments(&self.db, &ids).await?;
            for member in page.iter().filter(|m| !have.contains(&m.package_id)) {
                let stream = self
                    .store
                    .get(&Path::from(member.blob_key.as_str()), None)
                    .await?
                    .into_stream();
                let reader =
                    SyncIoBridge::new(StreamReader::new(stream.map_err(std::io::Error::other)));
                let facts = FileFacts {
                    sha256: member.sha256.clone(),
                    size: member.size as u64,
                    time: member.created_at.timestamp(),
                };
                let made = tokio::task::spawn_blocking(move || {
                    let (_, _, meta) = read_rpm_metadata(reader)?;
                    fragments(&meta, &facts)
                })
                .await
                .map_err(Error::internal)?;
                match made {
                    Ok(f) => {
                        db::repos::insert_fragments(
                            &self.db,
                            repo_package::Model {
                                package_id: member.package_id,
                                pkgid: member.sha256.clone(),
                                primary: f.primary,
                                filelists: f.filelists,
                                other: f.other,
                            },
                        )
                        .await?
                    }
                    Err(e) => {
                        tracing::warn!(file = %member.file_name, error = %e, "an RPM's header is unreadable; it is left out of its repository")
                    }
                }
            }
        }
        Ok(())
    }

    /// Streams the three files into new objects; answers each with its key.
    async fn write_files(
        &self,
        os: &str,
        arch: &str,
        members: &[Member],
    ) -> Result<Vec<(DataFile, Path)>> {
        let mut senders = Vec::new();
        let mut writers = Vec::new();
        let mut keys = Vec::new();
        for _ in Kind::ALL {
            let (tx, rx) = mpsc::channel::<Result<Bytes>>(2);
            let key = repo_object(os, arch);
            let store = self.store.clone();
            let path = key.clone();
            writers.push(tokio::spawn(async move {
                let body = futures::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|chunk| (chunk, rx))
                });
                store
                    .write_part(&path, Box::pin(body), u64::MAX, OnCut::Discard)
                    .await
            }));
            senders.push(tx);
            keys.push(key);
        }
        let produced = self.produce(members, &senders).await;
        if let Err(e) = &produced {
            for tx in &senders {
                let _ = tx
                    .send(Err(Error::internal(format!("publication failed: {e}"))))
                    .await;
            }
        }
        drop(senders);
        for writer in writers {
            writer.await.map_err(Error::internal)??;
        }
        let files = produced?;
        Ok(files.into_iter().zip(keys).collect())
    }

    async fn produce(
        &self,
        members: &[Member],
        senders: &[mpsc::Sender<Result<Bytes>>],
    ) -> Result<Vec<DataFile>> {
        let mut encoders: Vec<Encoder> = Kind::ALL
            .iter()
            .map(|kind| Encoder::new(*kind, members.len()))
            .collect();
        for page in members.chunks(PAGE) {
            let ids: Vec<i64> = page.iter().map(|m| m.package_id).collect();
            let mut rows: HashMap<i64, repo_package::Model> = db::repos::fragments(&self.db, &ids)
                .await?
                .into_iter()
                .map(|r| (r.package_id, r))
                .collect();
            let public = self.config.public;
            let ordered: Vec<repo_package::Model> = page
                .iter()
                .filter_map(|m| {
                    let mut row = rows.remove(&m.package_id)?;
                    row.primary = with_location(&row.primary, &package_href(&m.file_name, public));
                    Some(row)
                })
                .collect();
            let (back, chunks) = tokio::task::spawn_blocking(move || {
                let mut chunks = Vec::new();
                for encoder in &mut encoders {
                    for row in &ordered {
                        encoder.write(match encoder.kind {
                            Kind::Primary => &row.primary,
                            Kind::Filelists => &row.filelists,
                            Kind::Other => &row.other,
                            Kind::Group => "",
                        });
                    }
                    chunks.push(encoder.take());
                }
                (encoders, chunks)
            })
            .await
            .map_err(Error::internal)?;
            encoders = back;
            send(senders, chunks).await?;
        }
        let (files, chunks): (Vec<DataFile>, Vec<Bytes>) =
            encoders.into_iter().map(Encoder::finish).unzip();
        send(senders, chunks).await?;
        Ok(files)
    }

    /// Removes the objects of files superseded more than the grace period ago.
    async fn remove_expired(&self, repo_id: i64) {
        let before = Utc::now() - chrono::Duration::from_std(self.config.grace).unwrap_or_default();
        let expired = match db::repos::expired_files(&self.db, repo_id, before).await {
            Ok(expired) => expired,
            Err(e) => return tracing::warn!(error = %e, "listing superseded metadata files"),
        };
        for file in expired {
            // The row goes only once the object is gone: nothing is ever left unreferenced.
            if self
                .store
                .delete_path(&Path::from(file.object_key.as_str()))
                .await
                .is_ok()
            {
                let _ = db::repos::delete_file(&self.db, file.id).await;
            }
        }
    }
}

async fn send(senders: &[mpsc::Sender<Result<Bytes>>], chunks: Vec<Bytes>) -> Result<()> {
    for (tx, chunk) in senders.iter().zip(chunks) {
        if chunk.is_empty() {
            continue;
        }
        tx.send(Ok(chunk))
            .await
            .map_err(|_| Error::StoreUnavailable("writing repository metadata stopped".into()))?;
    }
    Ok(())
}

/// What the publication contains: a re-upload under the same name is a new id.
/// Where packages are downloaded from is part of it (`--repos-public`).
fn content_digest(members: &[Member], public: bool) -> String {
    let mut digest = Sha256::new();
    digest.update([u8::from(public)]);
    for m in members {
        digest.update(m.package_id.to_be_bytes());
        digest.update(m.sha256.as_bytes());
    }
    hex::encode(digest.finalize())
}

/// The lease's name: bounded to the `locks` table's 64 characters.
fn lease_name(os: &str, arch: &str) -> String {
    let name = format!("repo:{os}/{arch}");
    if name.len() <= 64 {
        name
    } else {
        format!(
            "repo:{}",
            &hex::encode(Sha256::digest(name.as_bytes()))[..58]
        )
    }
}
