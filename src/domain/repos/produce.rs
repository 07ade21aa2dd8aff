//! A publication's second pass: the packages a page at a time, cut into
//! chunks (`chunks`); each chunk's members and XML taken from this
//! replica's memory (`memo`), or from the database's cache, or compressed
//! from the packages' fragments (and cached); appended to the three files
//! and sent on to the objects being written. What a publication compresses
//! and reads of the fragments grows with the change; what it reads of the
//! package list, and hashes, with the repository.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use entity::repo_chunk;
use sea_orm::DatabaseTransaction;
use tokio::sync::mpsc;

use super::Repos;
use super::chunks::{self, Chunk, Chunker, Compressed, Entry, Texts};
use super::encoder::Lane;
use super::members::{Content, Pages};
use super::memo::Remembered;
use super::repomd::{DataFile, Kind, package_href};
use super::rpmmd::with_location;
use crate::db;
use crate::db::repos::Member;
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
    /// Every page's packages into the files: their bytes sent on through
    /// `senders` (one a file, in `Kind::ALL`'s order) as soon as known, then
    /// the senders dropped (so that storing ends while hashing may still
    /// run), on failure after an error. Answers the files, what was read (as
    /// `Content::finish`) and the chunks' keys.
    pub(super) async fn produce(
        &self,
        snapshot: &DatabaseTransaction,
        members: (Vec<i64>, Option<Vec<Arc<Member>>>),
        count: usize,
        senders: Vec<mpsc::Sender<Result<Bytes>>>,
    ) -> Result<(Vec<DataFile>, (String, usize), HashSet<String>)> {
        let lanes: Vec<Lane> = Kind::ALL.iter().map(|kind| Lane::start(*kind)).collect();
        let produced = self
            .produce_into(snapshot, members, count, &lanes, &senders)
            .await;
        if let Err(e) = &produced {
            for tx in &senders {
                let _ = tx
                    .send(Err(Error::internal(format!("publication failed: {e}"))))
                    .await;
            }
        }
        drop(senders);
        let mut files = Vec::with_capacity(lanes.len());
        for lane in lanes {
            files.push(lane.finish().await?);
        }
        let (read, used) = produced?;
        Ok((files, read, used))
    }

    async fn produce_into(
        &self,
        snapshot: &DatabaseTransaction,
        (ids, kept): (Vec<i64>, Option<Vec<Arc<Member>>>),
        count: usize,
        lanes: &[Lane],
        senders: &[mpsc::Sender<Result<Bytes>>],
    ) -> Result<((String, usize), HashSet<String>)> {
        let mut heads = Vec::with_capacity(lanes.len());
        for lane in lanes {
            heads.push(lane.head(count).await?);
        }
        send(senders, heads).await?;
        let public = self.config.public;
        let mut read = Content::new(public);
        let mut chunker = Chunker::new(public);
        let mut pages = Pages::kept(snapshot, &self.members, ids, kept);
        let mut used = HashSet::new();
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
            used.extend(ready.iter().map(|c| c.key.clone()));
            self.append(snapshot, ready, lanes, senders).await?;
        }
        let last: Vec<Chunk> = chunker.finish().into_iter().collect();
        used.extend(last.iter().map(|c| c.key.clone()));
        self.append(snapshot, last, lanes, senders).await?;
        let mut tails = Vec::with_capacity(lanes.len());
        for lane in lanes {
            tails.push(lane.tail().await?);
        }
        send(senders, tails).await?;
        Ok((read.finish(), used))
    }

    /// Appends `ready` to the files: each chunk remembered by this replica
    /// (`memo`), else cached in the database (inflated once, then
    /// remembered), else compressed from its packages' fragments (and
    /// cached).
    async fn append(
        &self,
        snapshot: &DatabaseTransaction,
        ready: Vec<Chunk>,
        lanes: &[Lane],
        senders: &[mpsc::Sender<Result<Bytes>>],
    ) -> Result<()> {
        if ready.is_empty() {
            return Ok(());
        }
        let mut found = HashMap::new();
        // Remembered chunks are marked used in the database now and then only.
        let mut reused = Vec::new();
        for c in &ready {
            if let Some((chunk, mark)) = self.memo.get(&c.key) {
                found.insert(c.key.clone(), chunk);
                if mark {
                    reused.push(c.key.clone());
                }
            }
        }
        let remembered = found.len();
        let unknown: Vec<String> = ready
            .iter()
            .filter(|c| !found.contains_key(&c.key))
            .map(|c| c.key.clone())
            .collect();
        let cached = self.cached(&unknown).await?;
        let from_cache = cached.len();
        reused.extend(cached.iter().map(|(key, _)| key.clone()));
        found.extend(cached);
        let missing: Vec<&Chunk> = ready
            .iter()
            .filter(|c| !found.contains_key(&c.key))
            .collect();
        let made = self.compress(snapshot, &missing).await?;
        let rows: Vec<repo_chunk::Model> = made
            .iter()
            .map(|(key, chunk)| repo_chunk::Model {
                id: key.clone(),
                primary: chunk.compressed.primary.clone(),
                filelists: chunk.compressed.filelists.clone(),
                other: chunk.compressed.other.clone(),
                used_at: Utc::now(),
            })
            .collect();
        found.extend(made);
        for key in &unknown {
            if let Some(chunk) = found.get(key) {
                self.memo.put(key, chunk.clone());
            }
        }
        let parts: Arc<Vec<Arc<Remembered>>> =
            Arc::new(ready.iter().map(|c| found[&c.key].clone()).collect());
        let mut out = Vec::with_capacity(lanes.len());
        for lane in lanes {
            out.push(lane.chunks(parts.clone()).await?);
        }
        send(senders, out).await?;
        let now = Utc::now();
        let stale = now - chrono::Duration::from_std(MARK_USED).expect("a small duration");
        db::repos::mark_chunks_used(&self.db, &reused, now, stale).await?;
        for (outcome, n) in [
            ("remembered", remembered),
            ("reused", from_cache),
            ("compressed", rows.len()),
        ] {
            METRICS
                .repo_chunks
                .with_label_values(&[outcome])
                .inc_by(n as u64);
        }
        db::repos::insert_chunks(&self.db, rows).await?;
        Ok(())
    }

    /// The chunks among `keys` cached in the database, inflated (off the
    /// runtime's threads). One that does not inflate is dropped from the
    /// cache and left out, so that it is compressed anew.
    async fn cached(&self, keys: &[String]) -> Result<Vec<(String, Arc<Remembered>)>> {
        let rows = db::repos::chunks(&self.db, keys).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let inflated = tokio::task::spawn_blocking(move || {
            rows.into_iter()
                .map(|r| {
                    let compressed = Compressed {
                        primary: r.primary,
                        filelists: r.filelists,
                        other: r.other,
                    };
                    let texts = chunks::texts_of(&compressed);
                    (r.id, texts.map(|texts| Remembered::new(compressed, texts)))
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(Error::internal)?;
        let mut good = Vec::with_capacity(inflated.len());
        for (key, chunk) in inflated {
            match chunk {
                Ok(chunk) => good.push((key, Arc::new(chunk))),
                Err(e) => {
                    tracing::warn!(chunk = %key, error = %e, "a cached metadata chunk is not gzip of XML; compressing it anew");
                    db::repos::delete_chunk(&self.db, &key).await?;
                }
            }
        }
        Ok(good)
    }

    /// Compresses `chunks` from their packages' fragments.
    async fn compress(
        &self,
        snapshot: &DatabaseTransaction,
        chunks: &[&Chunk],
    ) -> Result<Vec<(String, Arc<Remembered>)>> {
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
        // Fragments computed for an old package after this snapshot began
        // (the replica remembers them from a later one): they never change,
        // so they are read as they are now.
        let unseen: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !rows.contains_key(id))
            .collect();
        if !unseen.is_empty() {
            rows.extend(
                db::repos::fragments(&self.db, &unseen)
                    .await?
                    .into_iter()
                    .map(|r| (r.package_id, r)),
            );
        }
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
        tokio::task::spawn_blocking(move || {
            all.into_iter()
                .map(|(key, texts)| {
                    let compressed = chunks::compress(&texts);
                    (key, Arc::new(Remembered::new(compressed, texts)))
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
