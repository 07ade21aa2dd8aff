//! The package store: ingest, lookup, listing and deletion, keeping the
//! database rows and the stored objects consistent with each other.

use std::sync::Arc;
use std::time::Duration;

use entity::{blob, package, upgrade_package};
use sea_orm::{DatabaseConnection, TransactionTrait};

use super::admission::{UploadLimits, UploadSlot, UploadSlots};
use super::query::ListQuery;
use super::regions::Regions;
use super::repos::RepoChanges;
use super::upgrade_plan::{self, RoutePlan, RouteRequest};
use crate::cache::TtlCache;
use crate::db;
use crate::error::{Error, Result};
use crate::store::{BlobKey, BlobStore};

mod describe;
mod ingest;

pub use crate::store::{Announced, hex_digest};
pub use ingest::{Ingested, Origin, Outcome, Submission};

#[derive(Clone)]
pub struct Packages {
    db: DatabaseConnection,
    store: BlobStore,
    /// File name → package row, for downloads.
    recent: Arc<TtlCache<String, Arc<package::Model>>>,
    slots: UploadSlots,
    /// Told of every RPM stored or deleted, whatever API did it.
    repo_changes: RepoChanges,
    /// Told of every blob stored, for its status rows in each region.
    regions: Option<Regions>,
}

/// How long a redirect may be answered from a package row read earlier: the
/// bound on how late another replica stops redirecting to a deleted (or
/// replaced) package. A stale row can point only at an object a delete
/// removed, which the store then answers 404, or at the replaced bytes; never
/// at a half-written object (objects are written under new keys).
pub const DOWNLOAD_CACHE_TTL: Duration = Duration::from_secs(5);
const MAX_RECENT: usize = 10_000;
/// How long readiness waits for each dependency.
pub const READY_WITHIN: Duration = Duration::from_secs(1);

impl Packages {
    pub fn new(db: DatabaseConnection, store: BlobStore) -> Self {
        Self {
            db,
            store,
            recent: Arc::new(TtlCache::new(DOWNLOAD_CACHE_TTL, MAX_RECENT)),
            slots: UploadSlots::new(UploadLimits::default()),
            repo_changes: RepoChanges::default(),
            regions: None,
        }
    }

    /// Reports stored and deleted RPMs to the repositories' publisher.
    pub fn with_repo_changes(mut self, changes: RepoChanges) -> Self {
        self.repo_changes = changes;
        self
    }

    /// Queues every stored blob for the regions' replication.
    pub fn with_regions(mut self, regions: Regions) -> Self {
        self.regions = Some(regions);
        self
    }

    /// A slot to receive an upload by `user` that announces `length` bytes
    /// (when it does), or why it is refused before a byte is read: no slot
    /// free, over `limit`, more than a local store has free.
    pub fn admit(&self, user: &str, length: Option<u64>, limit: u64) -> Result<UploadSlot> {
        if let Some(length) = length {
            self.check_room(length, limit)?;
        }
        self.slots.try_acquire(user)
    }

    /// Refuses `length` bytes over `limit`, or more than a local store has free.
    pub fn check_room(&self, length: u64, limit: u64) -> Result<()> {
        if length > limit {
            return Err(Error::UploadTooLarge { limit });
        }
        match self.store.free_space() {
            Some(free) if length > free => Err(Error::StoreFull(format!(
                "the upload is {length} bytes, {free} are free"
            ))),
            _ => Ok(()),
        }
    }

    /// Sets how many uploads are received at once (default: `UploadLimits::default()`).
    pub fn with_upload_limits(mut self, limits: UploadLimits) -> Self {
        self.slots = UploadSlots::new(limits);
        self
    }

    /// Plans an upgrade route over the stored packages.
    pub async fn plan_upgrade(&self, request: RouteRequest) -> Result<RoutePlan> {
        upgrade_plan::plan_upgrade(&self.db, request).await
    }

    /// Both dependencies answer, each within `READY_WITHIN`: the database a
    /// query, the store a lookup. A dependency that hangs is as unready as
    /// one that refuses, and the probe must answer before its own timeout.
    pub async fn check_ready(&self) -> Result<()> {
        let within = |what: &str| format!("no answer within {READY_WITHIN:?} ({what})");
        let db = async {
            match tokio::time::timeout(READY_WITHIN, self.db.ping()).await {
                Ok(answer) => answer.map_err(Error::from),
                Err(_) => Err(Error::DatabaseUnavailable(within("ping"))),
            }
        };
        let probe = BlobKey::from_stored("readiness-probe".into());
        let store = async {
            match tokio::time::timeout(READY_WITHIN, self.store.exists(&probe)).await {
                Ok(answer) => answer.map(|_| ()),
                Err(_) => Err(Error::StoreUnavailable(within("lookup"))),
            }
        };
        let (db, store) = tokio::join!(db, store);
        db.and(store)
    }

    pub async fn list(&self, query: &ListQuery) -> Result<(Vec<package::Model>, u64)> {
        Ok(db::packages::list(&self.db, query).await?)
    }

    pub async fn get(&self, id: i64) -> Result<package::Model> {
        db::packages::find(&self.db, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no software package with id {id}")))
    }

    /// A package and its stored object's row (md5, sha256 and its key).
    pub async fn get_with_blob(&self, id: i64) -> Result<(package::Model, blob::Model)> {
        match db::packages::find_with_blob(&self.db, id).await? {
            Some((package, Some(blob))) => Ok((package, blob)),
            // A package's blob row goes only with its last package, in one
            // transaction: its absence is a broken database, said as such.
            Some((package, None)) => Err(Error::Unexpected(format!(
                "package {id} names blob {} which has no row",
                package.blob_key
            ))),
            None => Err(Error::NotFound(format!("no software package with id {id}"))),
        }
    }

    pub async fn get_by_file_name(&self, file_name: &str) -> Result<package::Model> {
        db::packages::find_by_file_name(&self.db, file_name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no software package named {file_name:?}")))
    }

    /// `get_by_file_name` for downloads: a row read in the last
    /// `DOWNLOAD_CACHE_TTL` is not read again (this replica forgets it when it
    /// deletes the package).
    pub async fn get_for_download(&self, file_name: &str) -> Result<Arc<package::Model>> {
        // Taken before the row is read: a delete meanwhile keeps it uncached.
        let generation = self.recent.generation();
        if let Some(row) = self.recent.get(file_name) {
            return Ok(row);
        }
        let row = Arc::new(self.get_by_file_name(file_name).await?);
        self.recent
            .insert_unless_invalidated(file_name.to_string(), row.clone(), generation);
        Ok(row)
    }

    fn forget_for_download(&self, file_name: &str) {
        self.recent.invalidate(|name, _| name == file_name);
    }

    /// The packages uploaded through obshell's API, with their obshell fields.
    pub async fn upgrades(&self) -> Result<Vec<(upgrade_package::Model, package::Model)>> {
        Ok(db::upgrades::list(&self.db).await?)
    }

    /// The upgrade details of package `id`, if it is an upgrade package.
    pub async fn upgrade(
        &self,
        id: i64,
    ) -> Result<Option<(upgrade_package::Model, package::Model)>> {
        Ok(db::upgrades::find_with_package(&self.db, id).await?)
    }

    /// Deletes an upgrade package: the package itself, as obshell's API sees it.
    pub async fn delete_upgrade(&self, id: i64) -> Result<()> {
        if db::upgrades::find(&self.db, id).await?.is_none() {
            return Err(Error::NotFound(format!("no upgrade package with id {id}")));
        }
        self.delete(id).await
    }

    /// Deletes a package; its object goes when no other package references it.
    pub async fn delete(&self, id: i64) -> Result<()> {
        let package = self.get(id).await?;
        if !package.deletable {
            return Err(Error::PackageNotDeletable(id));
        }
        let txn = self.db.begin().await?;
        db::upgrades::delete_for_package(&txn, id).await?;
        db::repos::delete_fragments(&txn, id).await?;
        if !db::packages::delete(&txn, id).await? {
            return Err(Error::NotFound(format!("no software package with id {id}")));
        }
        txn.commit().await?;
        self.forget_for_download(&package.file_name);
        if package.extension == "rpm" {
            self.repo_changes
                .touch(&package.operating_system, &package.architecture);
        }
        // The package is gone whatever happens next; an object left behind is
        // unreferenced and only costs space.
        if let Err(e) = self
            .release_blob(&BlobKey::from_stored(package.blob_key))
            .await
        {
            tracing::warn!(error = %e, "removing an unreferenced object failed; it stays until collected");
        }
        Ok(())
    }

    /// Removes a blob nobody references, under its row lock. The object goes
    /// before the row: if the commit then fails, the row outlives the object,
    /// and the next upload of these bytes copies them again.
    async fn release_blob(&self, key: &BlobKey) -> Result<()> {
        let txn = self.db.begin().await?;
        if db::packages::lock_blob(&txn, key.as_str()).await?
            && db::packages::references(&txn, key.as_str()).await? == 0
        {
            self.store.delete(key).await?;
            db::packages::delete_blob(&txn, key.as_str()).await?;
        }
        txn.commit().await?;
        Ok(())
    }
}
