//! Removing blobs no package needs from every region: S3 servers do not
//! replicate deletes, so depot does them. A row is removed with its object
//! in one transaction, and never while a live copy holds it: the deleting
//! statement skips such a row (on PostgreSQL it also waits for a claim in
//! progress and then sees it), and a worker that would claim the row after
//! it went finds nothing to claim.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{ConnectionTrait, TransactionTrait};

use super::Regions;
use crate::db;
use crate::error::{Error, Result};
use crate::store::BlobKey;

/// Rows looked at per collection.
const PAGE: u64 = 1_000;

/// What a collection removed from the regions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub objects: u64,
    pub bytes: u64,
    /// Copies left for a later pass: in flight, or their store failed.
    pub deferred: u64,
}

impl Regions {
    /// Removes, in every region, the blobs no package has referenced since
    /// longer than `grace` (the row's age stands for it), except in this
    /// replica's own store, whose objects the collector itself removes.
    pub async fn collect(&self, grace: Duration, dry_run: bool) -> Result<Removed> {
        let set = self.refresh().await?;
        let mut removed = Removed::default();
        if set.regions.is_empty() {
            return Ok(removed);
        }
        let before = Utc::now() - chrono::Duration::from_std(grace).map_err(Error::internal)?;
        let rows = db::regions::unreferenced(&self.0.db, before, PAGE).await?;
        for row in rows {
            if set.local.as_deref() == Some(row.region.as_str()) {
                continue;
            }
            if dry_run {
                removed.objects += 1;
                removed.bytes += row.size as u64;
                continue;
            }
            let txn = self.0.db.begin().await?;
            let now = Utc::now();
            if !db::regions::delete_unless_copying(&txn, &row.blob_key, &row.region, now).await? {
                txn.rollback().await?;
                removed.deferred += 1;
                continue;
            }
            // A package that took the blob meanwhile keeps it.
            if db::packages::references(&txn, &row.blob_key).await? > 0 {
                txn.rollback().await?;
                continue;
            }
            let key = BlobKey::from_stored(row.blob_key.clone());
            let deleted = match set.get(&row.region) {
                Some(region) => region.store.delete(&key).await,
                // A region removed meanwhile: its objects are not ours any more.
                None => Ok(()),
            };
            if let Err(e) = deleted {
                tracing::warn!(region = row.region, error = %e, "removing a blob from a region failed; retrying at the next collection");
                txn.rollback().await?;
                self.mark_down(&row.region);
                removed.deferred += 1;
                continue;
            }
            txn.commit().await?;
            removed.objects += 1;
            removed.bytes += row.size as u64;
        }
        Ok(removed)
    }

    /// Unfinished multipart uploads in the regions other than this
    /// replica's own store (whose leftovers the collector sweeps itself):
    /// what a replica killed mid-copy leaves. One older than `grace` goes
    /// unless a live copy of its blob into that region is under way.
    pub async fn sweep_unfinished(&self, grace: Duration, dry_run: bool) -> Result<Removed> {
        let set = self.snapshot();
        let mut removed = Removed::default();
        let before = Utc::now() - chrono::Duration::from_std(grace).map_err(Error::internal)?;
        for region in &set.regions {
            if set.local.as_deref() == Some(region.row.name.as_str()) {
                continue;
            }
            let search = match region.store.leftovers().await {
                Ok(search) => search,
                Err(e) => {
                    tracing::warn!(region = region.row.name, error = %e, "listing a region's unfinished writes failed; retrying at the next collection");
                    removed.deferred += 1;
                    continue;
                }
            };
            for leftover in search.found {
                let name = &region.row.name;
                if leftover.since > before
                    || db::regions::copying_live(&self.0.db, &leftover.name, name, Utc::now())
                        .await?
                {
                    removed.deferred += 1;
                    continue;
                }
                if !dry_run && let Err(e) = region.store.remove_leftover(&leftover).await {
                    tracing::warn!(region = name, error = %e, "aborting an unfinished write in a region failed");
                    removed.deferred += 1;
                    continue;
                }
                removed.objects += 1;
                removed.bytes += leftover.size;
            }
        }
        Ok(removed)
    }

    /// In the collector's transaction that removes blob `key` from this
    /// replica's own store: its row in the region that store is.
    pub async fn forget_local(&self, txn: &impl ConnectionTrait, key: &str) -> Result<()> {
        if let Some(local) = self.snapshot().local.as_deref() {
            db::regions::delete_unless_copying(txn, key, local, Utc::now()).await?;
        }
        Ok(())
    }
}
