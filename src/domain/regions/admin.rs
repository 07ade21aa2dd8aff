//! Changing the region configuration (shared by every replica through the
//! database) and reporting each region's replication status.

use chrono::Utc;
use entity::region;
use sea_orm::TransactionTrait;

pub use super::reconcile::SyncReport;
use super::{MAX_REGIONS, Regions, select, storage_of};
use crate::db;
use crate::error::{Error, Result};
use crate::store::BlobStore;

/// A region to add.
#[derive(Clone, Debug, Default)]
pub struct NewRegion {
    pub name: String,
    /// `s3://BUCKET[/PREFIX]` or `file://PATH`.
    pub storage_url: String,
    pub s3_endpoint: Option<String>,
    pub s3_region: Option<String>,
    /// The endpoint presigned URLs name, for agents in the region.
    pub s3_public_endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Comma-separated client networks.
    pub cidrs: String,
    /// Make it the home region (the first region is home anyway).
    pub home: bool,
}

/// A region's configuration and replication status.
#[derive(Clone, Debug)]
pub struct RegionStatus {
    pub name: String,
    pub storage_url: String,
    pub s3_endpoint: Option<String>,
    pub s3_public_endpoint: Option<String>,
    pub cidrs: String,
    pub home: bool,
    /// Where this replica takes the store's keys from: `environment`
    /// (`DEPOT_REGION_<NAME>_…`), `database`, or `replica` (its own `AWS_*`).
    pub credentials: &'static str,
    /// This replica's own store (`--storage`) is this region's.
    pub local: bool,
    pub present: u64,
    pub pending: u64,
    pub copying: u64,
    pub failed: u64,
    pub present_bytes: u64,
    pub pending_bytes: u64,
    /// How long the oldest blob not yet present has waited.
    pub oldest_pending_seconds: Option<u64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<chrono::DateTime<Utc>>,
}

impl Regions {
    pub async fn list(&self) -> Result<Vec<region::Model>> {
        Ok(db::regions::list(&self.0.db).await?)
    }

    /// Adds a region: every stored blob is queued for it in the same
    /// transaction. The first region becomes home.
    pub async fn add(&self, new: NewRegion) -> Result<region::Model> {
        if !select::valid_name(&new.name) {
            return Err(Error::invalid(format!(
                "{:?} is no region name: 1 to 63 of a-z, 0-9, '-' and '_'",
                new.name
            )));
        }
        select::parse_cidrs(&new.cidrs).map_err(Error::invalid)?;
        let row = region::Model {
            name: new.name.clone(),
            storage_url: new.storage_url.clone(),
            s3_endpoint: new.s3_endpoint.filter(|s| !s.is_empty()),
            s3_region: new.s3_region.filter(|s| !s.is_empty()),
            s3_public_endpoint: new.s3_public_endpoint.filter(|s| !s.is_empty()),
            access_key_id: new.access_key_id.filter(|s| !s.is_empty()),
            secret_access_key: new.secret_access_key.filter(|s| !s.is_empty()),
            cidrs: new.cidrs.clone(),
            home: false,
            created_at: Utc::now(),
        };
        // The settings must make a store client (the store itself may be down).
        BlobStore::open(&storage_of(&row)?, self.0.max_upload_size)?;
        let txn = self.0.db.begin().await?;
        db::regions::lock_all(&txn).await?;
        let existing = db::regions::list(&txn).await?;
        if existing.iter().any(|r| r.name == row.name) {
            return Err(Error::AlreadyExists(format!(
                "region {:?} exists; remove it first to change it",
                row.name
            )));
        }
        if existing.len() >= MAX_REGIONS {
            return Err(Error::RegionConflict(format!(
                "depot takes at most {MAX_REGIONS} regions"
            )));
        }
        db::regions::insert(&txn, row.clone()).await?;
        if new.home || !existing.iter().any(|r| r.home) {
            db::regions::set_home(&txn, &row.name).await?;
        }
        let local = super::same_store(&storage_of(&row)?, &self.0.primary_config);
        let state = match local {
            true => db::regions::PRESENT,
            false => db::regions::PENDING,
        };
        db::regions::backfill(&txn, &row.name, state, Utc::now()).await?;
        txn.commit().await?;
        self.refresh().await?;
        self.wake();
        let row = db::regions::find(&self.0.db, &row.name).await?;
        row.ok_or_else(|| Error::internal("a region just added vanished"))
    }

    /// Removes a region and its status rows; its store's objects stay
    /// where they are. The home region goes only when it is the last.
    pub async fn remove(&self, name: &str) -> Result<()> {
        let txn = self.0.db.begin().await?;
        db::regions::lock_all(&txn).await?;
        let regions = db::regions::list(&txn).await?;
        let Some(region) = regions.iter().find(|r| r.name == name) else {
            return Err(Error::NotFound(format!("no region {name:?}")));
        };
        if region.home && regions.len() > 1 {
            return Err(Error::RegionConflict(format!(
                "{name:?} is the home region: make another home first (`depot region add … --home`), or remove the others"
            )));
        }
        db::regions::delete(&txn, name).await?;
        txn.commit().await?;
        self.refresh().await?;
        Ok(())
    }

    /// Every region's configuration (never its secret) and status.
    pub async fn status(&self) -> Result<Vec<RegionStatus>> {
        let rows = db::regions::list(&self.0.db).await?;
        let counts = db::regions::state_counts(&self.0.db).await?;
        let local = self.snapshot().local.clone();
        let now = Utc::now();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let credentials = match crate::config::region_keys(&row.name) {
                Ok(Some(_)) => "environment",
                _ if row.access_key_id.is_some() => "database",
                _ => "replica",
            };
            let mut status = RegionStatus {
                credentials,
                local: local.as_deref() == Some(row.name.as_str()),
                name: row.name,
                storage_url: row.storage_url,
                s3_endpoint: row.s3_endpoint,
                s3_public_endpoint: row.s3_public_endpoint,
                cidrs: row.cidrs,
                home: row.home,
                present: 0,
                pending: 0,
                copying: 0,
                failed: 0,
                present_bytes: 0,
                pending_bytes: 0,
                oldest_pending_seconds: None,
                last_error: None,
                last_error_at: None,
            };
            for c in counts.iter().filter(|c| c.region == status.name) {
                let (rows, bytes) = (c.rows.max(0) as u64, c.bytes.unwrap_or(0).max(0) as u64);
                match c.state.as_str() {
                    db::regions::PRESENT => {
                        status.present = rows;
                        status.present_bytes = bytes;
                        continue;
                    }
                    db::regions::PENDING => status.pending = rows,
                    db::regions::COPYING => status.copying = rows,
                    _ => status.failed = rows,
                }
                status.pending_bytes += bytes;
                let age = c
                    .oldest
                    .and_then(|t| (now - t).to_std().ok())
                    .map(|d| d.as_secs());
                status.oldest_pending_seconds = status.oldest_pending_seconds.max(age);
            }
            if let Some((error, at)) = db::regions::last_error(&self.0.db, &status.name).await? {
                status.last_error = Some(error);
                status.last_error_at = Some(at);
            }
            out.push(status);
        }
        Ok(out)
    }
}
