//! A publication's second pass: the packages a page at a time, cut into
//! chunks (`chunks`); each chunk's compressed members taken from the cache,
//! or compressed from the packages' fragments (and cached); appended to the
//! three files and sent on to the objects being written. What a publication
//! compresses and reads of the fragments grows with the change; what it
//! reads of the package list and of the cache, and hashes, with the
//! repository.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use entity::repo_chunk;
use sea_orm::DatabaseTransaction;
use tokio::sync::mpsc;

use super::Repos;
use super::chunks::{self, Chunk, Chunker, Compressed, Entry, Texts};
use super::encoder::Encoder;
use super::members::{Content, Pages};
use super::repomd::{DataFile, Kind, package_href};
use super::rpmmd::with_location;
use crate::db;
use crate::error::{Error, Result};
use crate::metrics::METRICS;

/// A chunk's `used_at` is refreshed when older than this...
const MARK_USED: Duration = Duration::from_secs(10 * 60);
/// ...and a chunk no publication used for this long is pruned. Short, so
/// that the superseded chunks a stream of uploads leaves (one or two per
/// publication, at most five publications a second per repository) cannot
/// pile up: a repository left alone longer than this is compressed whole
/// once at its next publication.
pub(super) const UNUSED: Duration = Duration::from_secs(3600);

impl Repos {
    /// Every page's packages into the encoders. Answers the files and what
    /// was read (as `Content::finish`).
    pub(super) async fn produce(
        &self,
        snapshot: &DatabaseTransaction,
        os: &str,
        arch: &str,
        count: usize,
        senders: &[mpsc::Sender<Result<Bytes>>],
    ) -> Result<(Vec<DataFile>, (String, usize))> {
        let mut encoders: Vec<Encoder> = Kind::ALL
            .iter()
            .map(|kind| Encoder::new(*kind, count))
            .collect();
        let public = self.config.public;
        let mut read = Content::new(public);
        let mut chunker = Chunker::new(public);
        let mut pages = Pages::new(snapshot, os, arch);
        while let Some(page) = pages.next().await? {
            // A package whose header could not be read has no fragments and
            // is left out, as the survey left it out.
            let mut ready = Vec::new();
            for m in page.iter().filter(|m| m.has_fragments) {
                read.add(m);
                ready.extend(chunker.push(Entry {
                    package_id: m.package_id,
                    pkgid: m.sha256.clone(),
                    file_name: m.file_name.clone(),
                }));
            }
            encoders = self.append(snapshot, encoders, ready, senders).await?;
        }
        encoders = self
            .append(
                snapshot,
                encoders,
                chunker.finish().into_iter().collect(),
                senders,
            )
            .await?;
        let (files, tails): (Vec<DataFile>, Vec<Bytes>) =
            encoders.into_iter().map(Encoder::finish).unzip();
        send(senders, tails).await?;
        Ok((files, read.finish()))
    }

    /// Appends `ready` to the files: cached members where there are, the
    /// others compressed from their fragments (off the runtime's threads)
    /// and cached.
    async fn append(
        &self,
        snapshot: &DatabaseTransaction,
        encoders: Vec<Encoder>,
        ready: Vec<Chunk>,
        senders: &[mpsc::Sender<Result<Bytes>>],
    ) -> Result<Vec<Encoder>> {
        if ready.is_empty() {
            return Ok(encoders);
        }
        let keys: Vec<String> = ready.iter().map(|c| c.key.clone()).collect();
        let mut compressed: HashMap<String, Compressed> = db::repos::chunks(&self.db, &keys)
            .await?
            .into_iter()
            .map(|r| {
                let c = Compressed {
                    primary: r.primary,
                    filelists: r.filelists,
                    other: r.other,
                };
                (r.id, c)
            })
            .collect();
        let reused: Vec<String> = compressed.keys().cloned().collect();
        let missing: Vec<&Chunk> = ready
            .iter()
            .filter(|c| !compressed.contains_key(&c.key))
            .collect();
        let made = self.compress(snapshot, &missing).await?;
        compressed.extend(made.iter().map(|r| {
            let c = Compressed {
                primary: r.primary.clone(),
                filelists: r.filelists.clone(),
                other: r.other.clone(),
            };
            (r.id.clone(), c)
        }));
        let appended = tokio::task::spawn_blocking(move || {
            let mut encoders = encoders;
            for chunk in &ready {
                let c = &compressed[&chunk.key];
                for encoder in &mut encoders {
                    let gzip = match encoder.kind {
                        Kind::Primary => &c.primary,
                        Kind::Filelists => &c.filelists,
                        Kind::Other | Kind::Group => &c.other,
                    };
                    if encoder.append(gzip).is_err() {
                        return Err(chunk.key.clone());
                    }
                }
            }
            let out: Vec<Bytes> = encoders.iter_mut().map(Encoder::take).collect();
            Ok((encoders, out))
        })
        .await
        .map_err(Error::internal)?;
        let (encoders, out) = match appended {
            Ok(appended) => appended,
            Err(key) => {
                // Dropped, so that the next publication compresses it anew.
                db::repos::delete_chunk(&self.db, &key).await?;
                return Err(Error::internal(format!(
                    "the cached metadata chunk {key} is not gzip; removed, the next publication rebuilds it"
                )));
            }
        };
        let now = Utc::now();
        let stale = now - chrono::Duration::from_std(MARK_USED).expect("a small duration");
        db::repos::mark_chunks_used(&self.db, &reused, now, stale).await?;
        METRICS
            .repo_chunks
            .with_label_values(&["reused"])
            .inc_by(reused.len() as u64);
        METRICS
            .repo_chunks
            .with_label_values(&["compressed"])
            .inc_by(made.len() as u64);
        db::repos::insert_chunks(&self.db, made).await?;
        send(senders, out).await?;
        Ok(encoders)
    }

    /// Compresses `chunks` from their packages' fragments.
    async fn compress(
        &self,
        snapshot: &DatabaseTransaction,
        chunks: &[&Chunk],
    ) -> Result<Vec<repo_chunk::Model>> {
        if chunks.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = chunks
            .iter()
            .flat_map(|c| c.entries.iter().map(|e| e.package_id))
            .collect();
        let mut rows: HashMap<i64, entity::repo_package::Model> =
            db::repos::fragments(snapshot, &ids)
                .await?
                .into_iter()
                .map(|r| (r.package_id, r))
                .collect();
        let public = self.config.public;
        let mut all = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            let mut texts = Texts::default();
            for e in &chunk.entries {
                let row = rows.remove(&e.package_id).ok_or_else(|| {
                    // Fragments are never removed while their package exists.
                    Error::internal(format!("package {} lost its fragments", e.package_id))
                })?;
                texts.primary.push_str(&with_location(
                    &row.primary,
                    &package_href(&e.file_name, public),
                ));
                texts.filelists.push_str(&row.filelists);
                texts.other.push_str(&row.other);
            }
            all.push((chunk.key.clone(), texts));
        }
        let now = Utc::now();
        tokio::task::spawn_blocking(move || {
            all.into_iter()
                .map(|(id, texts)| {
                    let c = chunks::compress(&texts);
                    repo_chunk::Model {
                        id,
                        primary: c.primary,
                        filelists: c.filelists,
                        other: c.other,
                        used_at: now,
                    }
                })
                .collect()
        })
        .await
        .map_err(Error::internal)
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
