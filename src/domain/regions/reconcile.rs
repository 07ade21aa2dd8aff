//! The reconciler: every `reconcile_every`, on the replica that takes its
//! lease, it gives every region a status row for every stored blob that
//! lacks one (a region added later) and checks a page of present rows
//! against their stores (drift: an object gone from a region that claims
//! it is queued again). Failed rows need nothing from it: they are due
//! again after their backoff, forever. Every replica counts the backlog
//! for its metrics. `sync` does all of it at once, for every row.

use chrono::Utc;

use super::{RegionSet, Regions};
use crate::db;
use crate::error::{Error, Result};
use crate::metrics::METRICS;
use crate::store::BlobKey;

const LOCK: &str = "regions:reconcile";
/// Present rows checked per round.
const DRIFT_PAGE: u64 = 64;
/// Rows read at once by `sync`.
const SYNC_PAGE: u64 = 500;

/// What `sync` did.
#[derive(Clone, Debug, Default)]
pub struct SyncReport {
    /// Status rows created for blobs a region had none for.
    pub backfilled: u64,
    /// Failed rows made due at once.
    pub retried: u64,
    /// Present rows checked against their stores.
    pub checked: u64,
    /// Of those, missing or wrong, and queued again.
    pub drifted: u64,
    /// Regions whose store could not be checked.
    pub unreachable: Vec<String>,
}

impl Regions {
    pub(super) async fn reconcile_forever(self) {
        let mut tick = tokio::time::interval(self.0.config.reconcile_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut poll = tokio::time::interval(self.0.config.poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = poll.tick() => {
                    if let Err(e) = self.refresh().await {
                        tracing::warn!(error = %e, "reading the region configuration");
                    }
                }
                _ = tick.tick() => {
                    if let Err(e) = self.reconcile().await {
                        tracing::warn!(error = %e, "reconciling regions failed; retrying later");
                    }
                }
            }
        }
    }

    /// One round: backfill and a drift check (on one replica at a time),
    /// then the metrics.
    pub async fn reconcile(&self) -> Result<()> {
        let set = self.refresh().await?;
        if set.regions.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(self.0.config.reconcile_every * 2)
            .map_err(Error::internal)?;
        let holder = &self.0.holder;
        if db::locks::try_acquire(&self.0.db, LOCK, holder, now, now + ttl).await? {
            let mut report = SyncReport::default();
            let work = async {
                self.backfill(&set, &mut report).await?;
                let rows = db::regions::least_verified(&self.0.db, None, DRIFT_PAGE).await?;
                self.check(&set, rows, false, &mut report).await
            }
            .await;
            db::locks::release(&self.0.db, LOCK, holder).await?;
            work?;
            if report.drifted > 0 || report.backfilled > 0 {
                tracing::info!(?report, "regions reconciled");
                self.wake();
            }
        }
        self.count().await
    }

    /// Backfills, retries every failed row now, and checks every present
    /// row: its object's size, or with `verify` its bytes' digest.
    pub async fn sync(&self, verify: bool) -> Result<SyncReport> {
        let Ok(_one) = self.0.syncing.try_lock() else {
            return Err(Error::RegionSyncRunning);
        };
        let set = self.refresh().await?;
        let mut report = SyncReport::default();
        self.backfill(&set, &mut report).await?;
        report.retried = db::regions::retry_failed_now(&self.0.db, Utc::now()).await?;
        for region in &set.regions {
            let mut after = String::new();
            loop {
                let rows =
                    db::regions::present_after(&self.0.db, &region.row.name, &after, SYNC_PAGE)
                        .await?;
                let Some(last) = rows.last() else { break };
                after = last.blob_key.clone();
                let unreachable = report.unreachable.len();
                self.check(&set, rows, verify, &mut report).await?;
                if report.unreachable.len() > unreachable {
                    break;
                }
            }
        }
        self.wake();
        self.count().await?;
        Ok(report)
    }

    async fn backfill(&self, set: &RegionSet, report: &mut SyncReport) -> Result<()> {
        for region in &set.regions {
            // What an ingest wrote is in this replica's own store already.
            let state = match set.local.as_deref() == Some(region.row.name.as_str()) {
                true => db::regions::PRESENT,
                false => db::regions::PENDING,
            };
            report.backfilled +=
                db::regions::backfill(&self.0.db, &region.row.name, state, Utc::now()).await?;
        }
        Ok(())
    }

    /// Checks present rows against their regions' stores; a missing or
    /// wrong object is queued again.
    async fn check(
        &self,
        set: &RegionSet,
        rows: Vec<entity::region_blob::Model>,
        verify: bool,
        report: &mut SyncReport,
    ) -> Result<()> {
        for row in rows {
            if report.unreachable.contains(&row.region) {
                continue;
            }
            let Some(region) = set.get(&row.region) else {
                continue;
            };
            let key = BlobKey::from_stored(row.blob_key.clone());
            let found = match verify {
                true => region.store.holds_verified(&key).await,
                false => region
                    .store
                    .size_of(&key.path())
                    .await
                    .map(|size| size == Some(row.size as u64)),
            };
            let now = Utc::now();
            match found {
                Ok(true) => {
                    db::regions::verified(&self.0.db, &row.blob_key, &row.region, now).await?
                }
                Ok(false) => {
                    report.drifted += 1;
                    tracing::warn!(
                        region = row.region,
                        key = row.blob_key,
                        "drift: a present blob is missing or wrong; copying it again"
                    );
                    let error = "drift: missing or wrong in the region's store";
                    db::regions::requeue(&self.0.db, &row.blob_key, &row.region, error, now)
                        .await?;
                }
                Err(e) => {
                    tracing::warn!(region = row.region, error = %e, "a region's store did not answer a drift check");
                    self.mark_down(&row.region);
                    report.unreachable.push(row.region.clone());
                }
            }
            report.checked += 1;
        }
        Ok(())
    }

    /// The backlog and lag per region, for `/metrics`.
    pub(super) async fn count(&self) -> Result<()> {
        let status = self.status().await?;
        for region in status {
            let backlog = region.pending + region.copying + region.failed;
            METRICS
                .region_backlog
                .with_label_values(&[&region.name])
                .set(backlog as i64);
            METRICS
                .region_lag_seconds
                .with_label_values(&[&region.name])
                .set(region.oldest_pending_seconds.unwrap_or(0) as i64);
        }
        Ok(())
    }
}
