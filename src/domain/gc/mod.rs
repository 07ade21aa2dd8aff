//! Garbage collection: objects no package references, expired resumable
//! uploads, and what interrupted requests left behind. One replica at a time
//! (a lease in the database); nothing younger than the grace period is
//! touched, which protects uploads in flight.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::Utc;
use futures::{Stream, TryStreamExt};
use sea_orm::{DatabaseConnection, TransactionTrait};
use uuid::Uuid;

mod report;

pub use report::Report;

use super::regions::Regions;
use super::uploads::Uploads;
use crate::db;
use crate::error::{Error, Result};
use crate::metrics::METRICS;
use crate::store::{Area, BlobStore, ObjectInfo, upload_of_part};

const LOCK: &str = "gc";
/// How long one collection may hold the lock before another replica may take over.
const LOCK_TTL: Duration = Duration::from_secs(3600);

#[derive(Clone)]
pub struct Collector {
    db: DatabaseConnection,
    store: BlobStore,
    uploads: Uploads,
    grace: Duration,
    staging_grace: Duration,
    regions: Option<Regions>,
    batch: usize,
}

/// Objects listed and judged together: one query tells which of them are in
/// use, and a collection holds no more of a listing than this, however many
/// objects the store has (it held every referenced key before).
const BATCH: usize = 1000;

/// Staging objects are spared at least this long (see `collect`).
const STAGING_GRACE_FLOOR: Duration = Duration::from_secs(24 * 3600);

/// This replica's turn to collect; given back when dropped, also when the
/// run is cancelled (otherwise every replica would wait for the lease to lapse).
struct Turn {
    db: DatabaseConnection,
    holder: String,
}

impl Turn {
    async fn release(mut self) {
        let holder = std::mem::take(&mut self.holder);
        if let Err(e) = db::locks::release(&self.db, LOCK, &holder).await {
            tracing::warn!(error = %e, "releasing the collector's lock; it lapses by itself");
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if self.holder.is_empty() {
            return;
        }
        let (db, holder) = (self.db.clone(), std::mem::take(&mut self.holder));
        let release = async move {
            if let Err(e) = db::locks::release(&db, LOCK, &holder).await {
                tracing::warn!(error = %e, "releasing the collector's lock; it lapses by itself");
            }
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(release);
        }
    }
}

/// What a collection does with what it finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// Removes it.
    Collect,
    /// Only reports it.
    DryRun,
}

impl Collector {
    pub fn new(
        db: DatabaseConnection,
        store: BlobStore,
        uploads: Uploads,
        grace: Duration,
    ) -> Self {
        Self {
            db,
            store,
            uploads,
            grace,
            staging_grace: grace.max(STAGING_GRACE_FLOOR),
            regions: None,
            batch: BATCH,
        }
    }

    /// Overrides how many listed objects are judged at once (tests make
    /// batches small to cross their boundaries with few objects).
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// `area`'s objects, a batch at a time.
    fn batches(&self, area: Area) -> impl Stream<Item = Result<Vec<ObjectInfo>>> + use<> {
        self.store
            .list_stream(area)
            .try_chunks(self.batch)
            .map_err(|e| e.1)
    }

    /// Removes unreferenced blobs from every region too.
    pub fn with_regions(mut self, regions: Regions) -> Self {
        self.regions = Some(regions);
        self
    }

    /// Overrides how old a staging object must be to go (default: the grace,
    /// but at least a day).
    pub fn with_staging_grace(mut self, grace: Duration) -> Self {
        self.staging_grace = grace;
        self
    }

    /// Collects once, unless another replica is at it.
    pub async fn run(&self, pass: Pass) -> Result<Report> {
        let dry_run = pass == Pass::DryRun;
        let holder = format!(
            "{}/{}",
            gethostname::gethostname().to_string_lossy(),
            Uuid::new_v4()
        );
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(LOCK_TTL).map_err(Error::internal)?;
        // A dry run removes nothing: it needs no turn, and must not take one
        // from a real collection (the doctor runs one).
        let turn = if dry_run {
            None
        } else if db::locks::try_acquire(&self.db, LOCK, &holder, now, now + ttl).await? {
            Some(Turn {
                db: self.db.clone(),
                holder,
            })
        } else {
            METRICS.gc_runs.with_label_values(&["skipped"]).inc();
            return Ok(Report {
                dry_run,
                skipped: true,
                ..Report::default()
            });
        };
        let result = self.collect(dry_run).await;
        if let Some(turn) = turn {
            turn.release().await;
        }
        let report = match result {
            Ok(report) => report,
            Err(e) => {
                METRICS.gc_runs.with_label_values(&["error"]).inc();
                return Err(e);
            }
        };
        if !dry_run {
            METRICS.gc_runs.with_label_values(&["ok"]).inc();
            METRICS
                .gc_removed_objects
                .inc_by(report.objects() + report.expired_uploads);
            METRICS.gc_removed_bytes.inc_by(report.bytes());
        }
        tracing::info!(
            dry_run,
            objects = report.objects(),
            expired_uploads = report.expired_uploads,
            bytes = report.bytes(),
            "garbage collection done"
        );
        Ok(report)
    }

    async fn collect(&self, dry_run: bool) -> Result<Report> {
        let mut report = Report {
            dry_run,
            ..Report::default()
        };
        let old_enough = |o: &ObjectInfo| {
            let age = Utc::now().signed_duration_since(o.last_modified);
            age.to_std().is_ok_and(|age| age >= self.grace)
        };

        // Expired uploads first: their parts are then no longer "in use".
        if dry_run {
            for row in db::uploads::expired(&self.db, Utc::now(), 100_000).await? {
                report.expired_uploads += 1;
                let parts = db::uploads::parts(&self.db, &row.id).await?;
                report.expired_upload_bytes += parts.iter().map(|p| p.length as u64).sum::<u64>();
            }
        } else {
            let (count, bytes) = self.uploads.sweep_expired().await?;
            report.expired_uploads = count;
            report.expired_upload_bytes = bytes;
        }

        // Content objects no package references.
        let mut blobs = self.batches(Area::Blobs);
        while let Some(batch) = blobs.try_next().await? {
            let old: Vec<ObjectInfo> = batch.into_iter().filter(|o| old_enough(o)).collect();
            let keys: Vec<String> = old.iter().map(|o| o.path.to_string()).collect();
            let referenced: HashSet<String> = db::packages::referenced_among(&self.db, &keys)
                .await?
                .into_iter()
                .collect();
            for (object, key) in old.into_iter().zip(keys) {
                if referenced.contains(&key) {
                    continue;
                }
                if dry_run || self.remove_unreferenced(&key, object.size).await? {
                    report.unreferenced_objects += 1;
                    report.unreferenced_bytes += object.size;
                }
            }
        }

        // Copies in the other regions of blobs no package references.
        if let Some(regions) = &self.regions {
            let removed = regions.collect(self.grace, dry_run).await?;
            report.region_objects = removed.objects;
            report.region_bytes = removed.bytes;
            report.region_deferred = removed.deferred;
        }

        // Parts of uploads that no longer exist (a termination or sweep whose
        // removal failed). A live upload's stray parts are left to its own
        // cleanup: judging them here would race its commits.
        let mut parts = self.batches(Area::Uploads);
        while let Some(batch) = parts.try_next().await? {
            // Per batch: an upload's parts are listed together.
            let mut live: HashMap<String, bool> = HashMap::new();
            for object in batch {
                if !old_enough(&object) {
                    continue;
                }
                let Some(id) = upload_of_part(&object.path).map(str::to_string) else {
                    continue;
                };
                if !live.contains_key(&id) {
                    let exists = db::uploads::find(&self.db, &id).await?.is_some();
                    live.insert(id.clone(), exists);
                }
                if live[&id] {
                    continue;
                }
                if !dry_run {
                    self.store.delete_path(&object.path).await?;
                }
                report.stray_upload_parts += 1;
                report.stray_upload_bytes += object.size;
            }
        }

        // Staging objects of uploads that died between staging and storing,
        // and probes the doctor could not remove. On S3 an object written in
        // parts carries the time its upload began, so a staging object that
        // is still in use may look as old as its upload was long: hence the
        // longer grace.
        for area in [Area::Staging, Area::Probes] {
            let mut leftovers = self.store.list_stream(area);
            while let Some(object) = leftovers.try_next().await? {
                let age = Utc::now().signed_duration_since(object.last_modified);
                if !age.to_std().is_ok_and(|age| age >= self.staging_grace) {
                    continue;
                }
                if !dry_run {
                    self.store.delete_path(&object.path).await?;
                }
                report.staging_leftovers += 1;
                report.staging_bytes += object.size;
            }
        }

        // Metadata files of repository publications that never became
        // current: a publication writes its files before it switches, so a
        // failed switch or a dead replica leaves them to no row. One being
        // written now is younger than the staging grace.
        let mut files = self.batches(Area::Repos);
        while let Some(batch) = files.try_next().await? {
            let old: Vec<ObjectInfo> = batch
                .into_iter()
                .filter(|o| {
                    let age = Utc::now().signed_duration_since(o.last_modified);
                    age.to_std().is_ok_and(|age| age >= self.staging_grace)
                })
                .collect();
            let keys: Vec<String> = old.iter().map(|o| o.path.to_string()).collect();
            let kept: HashSet<String> = db::repos::object_keys_among(&self.db, &keys)
                .await?
                .into_iter()
                .collect();
            for (object, key) in old.into_iter().zip(keys) {
                if kept.contains(&key) {
                    continue;
                }
                if !dry_run {
                    self.store.delete_path(&object.path).await?;
                }
                report.orphan_repo_files += 1;
                report.orphan_repo_bytes += object.size;
            }
        }

        // Writes that never finished. A live one is being written to (a
        // temporary file's time moves with each write) or was begun within
        // an upload's life: the staging grace covers both.
        let search = self.store.leftovers().await?;
        report.blind_spot = search.blind_spot;
        for leftover in search.found {
            let age = Utc::now().signed_duration_since(leftover.since);
            if !age.to_std().is_ok_and(|age| age >= self.staging_grace) {
                continue;
            }
            if !dry_run {
                self.store.remove_leftover(&leftover).await?;
            }
            report.unfinished_writes += 1;
            report.unfinished_bytes += leftover.size;
            report.oldest_unfinished = Some(match report.oldest_unfinished {
                Some(t) => t.min(leftover.since),
                None => leftover.since,
            });
        }
        // …and in the other regions: copies cut off by a replica's death.
        if let Some(regions) = &self.regions {
            let swept = regions
                .sweep_unfinished(self.staging_grace, dry_run)
                .await?;
            report.unfinished_writes += swept.objects;
            report.unfinished_bytes += swept.bytes;
        }
        Ok(report)
    }

    /// Removes an object no package references, under its blob row's lock (a
    /// placeholder row when it has none): an upload of the same bytes waits,
    /// then copies them anew. `false` when a package took it meanwhile.
    async fn remove_unreferenced(&self, key: &str, size: u64) -> Result<bool> {
        let txn = self.db.begin().await?;
        db::packages::lock_or_hold_blob(&txn, key, size as i64).await?;
        if db::packages::references(&txn, key).await? > 0 {
            txn.rollback().await?;
            return Ok(false);
        }
        if let Some(regions) = &self.regions {
            regions.forget_local(&txn, key).await?;
        }
        self.store
            .delete(&crate::store::BlobKey::from_stored(key.to_string()))
            .await?;
        db::packages::delete_blob(&txn, key).await?;
        txn.commit().await?;
        Ok(true)
    }
}
