//! A publication: the repository's packages' stored fragments streamed into
//! new objects (`produce`), then repomd.xml switched to them in one
//! transaction, under a lease so that one replica at a time publishes a
//! repository.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use sea_orm::{DatabaseTransaction, TransactionTrait};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::Repos;
use super::members::Survey;
use super::repomd::{self, DataFile, Kind};
use super::updates::with_comps;
use crate::db::repos::Member;
use crate::db::{self, locks};
use crate::error::{Error, Result};
use crate::metrics::METRICS;
use crate::store::{Path, repo_object};

/// How long a publication's lease lasts unless renewed: a crashed
/// replica's lapses this long after its last renewal.
const LEASE: Duration = Duration::from_secs(30);
/// How often a running publication renews its lease.
const RENEW: Duration = Duration::from_secs(5);
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
        // The lease is renewed while the publication runs; one that was lost
        // (this replica stalled past it and another took over) stops it.
        let published = tokio::select! {
            published = self.publish_leased(os, arch) => published,
            lost = self.keep_lease(&lease) => Err(lost),
        };
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

    /// Renews `lease` every `RENEW` until it is lost; answers why.
    async fn keep_lease(&self, lease: &str) -> Error {
        let mut tick = tokio::time::interval(RENEW);
        tick.tick().await;
        loop {
            tick.tick().await;
            let until = Utc::now() + chrono::Duration::from_std(LEASE).expect("a small duration");
            match locks::renew(&self.db, lease, &self.holder, until).await {
                Ok(true) => {}
                Ok(false) => {
                    return Error::ServerBusy(format!(
                        "the publication lease {lease} lapsed and another replica took it"
                    ));
                }
                // Retried at the next tick; the lease outlives a few misses.
                Err(e) => tracing::warn!(error = %e, lease, "renewing a publication lease"),
            }
        }
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
        let began = std::time::Instant::now();
        // The current publication is read beside the survey, not before
        // it: a round trip fewer ahead of the files.
        let (previous, surveyed) = tokio::join!(
            db::repos::find(&self.db, os, arch),
            self.snapshot_survey(os, arch)
        );
        let previous = previous?;
        let (snapshot, survey) = surveyed?;
        let (packages, count) = survey.content;
        let listed = survey.listed;
        if count == 0 && previous.is_none() {
            snapshot.rollback().await?;
            return Ok(Published::Empty);
        }
        // A release's updates repository carries its comps groups too.
        let comps = self.comps_of(os, arch).await?;
        let content = with_comps(&packages, comps.as_deref());
        if let Some(previous) = previous.as_ref().filter(|p| p.content == content) {
            snapshot.rollback().await?;
            self.remove_expired(previous.id).await;
            return Ok(Published::Unchanged);
        }
        let surveyed = began.elapsed();
        let started = std::time::Instant::now();
        let written = self
            .write_files(
                &snapshot,
                os,
                arch,
                (survey.ids, survey.members),
                (&packages, count),
            )
            .await?;
        snapshot.rollback().await?;
        let Some(mut written) = written else {
            // Only when old packages' fragments were still being computed
            // on the third snapshot: the next publication sees them.
            return Ok(Published::Busy);
        };
        if let Some(comps) = comps {
            written.push(self.write_comps(os, arch, comps).await?);
        }
        let wrote = started.elapsed();
        let started = std::time::Instant::now();
        let data: Vec<DataFile> = written.iter().map(|(f, _)| f.clone()).collect();
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let current = db::repos::current_for_switch(&txn, os, arch).await?;
        // From the row read in the switch's transaction: strictly increasing
        // even if another replica switched since this publication began.
        let revision = current
            .as_ref()
            .map_or(0, |p| p.revision + 1)
            .max(now.timestamp());
        let switch = db::repos::Switch {
            os: os.to_string(),
            arch: arch.to_string(),
            revision,
            content,
            package_count: count as i64,
            repomd: repomd::repomd(revision, &data),
            files: written
                .iter()
                .map(|(f, key)| (f.name(), key.to_string(), f.size as i64))
                .collect(),
        };
        let duplicates = db::repos::switch(&txn, current, switch, now).await?;
        txn.commit().await?;
        let switched = started.elapsed();
        for key in duplicates {
            let _ = self.store.delete_path(&Path::from(key)).await;
        }
        // Where a publication's time goes, for whoever tunes one.
        tracing::info!(os, arch, revision, packages = count, took = ?began.elapsed(),
            ?listed, ?surveyed, ?wrote, ?switched, "published a repository");
        let unused =
            now - chrono::Duration::from_std(super::produce::UNUSED).expect("a small duration");
        if let Err(e) = db::repos::prune_chunks(&self.db, unused).await {
            tracing::warn!(error = %e, "pruning unused metadata chunks; the next publication retries");
        }
        if let Some(previous) = previous {
            self.remove_expired(previous.id).await;
        }
        Ok(Published::New(revision))
    }

    /// A snapshot and the survey of `os`/`arch` read in it. Both passes
    /// read one snapshot, so the count written first and the entries after
    /// it agree however many uploads and deletes commit meanwhile (a stream
    /// of uploads never starves a publication). A snapshot taken before
    /// fragments were computed for old packages does not see them: then
    /// another is taken (at most twice more; each package is computed once).
    async fn snapshot_survey(&self, os: &str, arch: &str) -> Result<(DatabaseTransaction, Survey)> {
        let mut attempts = 0;
        loop {
            let snapshot = db::snapshot(&self.db).await?;
            let survey = self.survey(&snapshot, os, arch).await?;
            attempts += 1;
            if !survey.backfilled || attempts == 3 {
                return Ok((snapshot, survey));
            }
            snapshot.rollback().await?;
        }
    }

    /// Streams the three files into new objects; answers each with its key,
    /// or `None` (and removes them) when the packages read are not those
    /// the survey found (`content`, `count`) among members `ids`.
    async fn write_files(
        &self,
        snapshot: &DatabaseTransaction,
        os: &str,
        arch: &str,
        members: (Vec<i64>, Option<Vec<Arc<Member>>>),
        (content, count): (&str, usize),
    ) -> Result<Option<Vec<(DataFile, Path)>>> {
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
                store.write_whole(&path, Box::pin(body)).await
            }));
            senders.push(tx);
            keys.push(key);
        }
        // The files are stored while their digests are still being computed.
        let produced = self.produce(snapshot, members, count, senders).await;
        for writer in writers {
            writer.await.map_err(Error::internal)??;
        }
        let (files, read, used) = produced?;
        if read != (content.to_string(), count) {
            for key in &keys {
                let _ = self.store.delete_path(key).await;
            }
            return Ok(None);
        }
        // What the last publication used and this one does not (a changed
        // chunk's former self) is forgotten now, not when memory runs short.
        self.memo.supersede(&lease_name(os, arch), used);
        Ok(Some(files.into_iter().zip(keys).collect()))
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

/// The lease's name: bounded to the `locks` table's 64 characters.
pub(super) fn lease_name(os: &str, arch: &str) -> String {
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
