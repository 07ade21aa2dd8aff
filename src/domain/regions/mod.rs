//! Regions: object stores near groups of agents, each holding copies of the
//! blobs under the same content keys. The configuration lives in the
//! database (`depot region`, `/api/v2/regions`), so every replica sees the
//! same; each replica keeps a snapshot, read again every `poll`.
//!
//! - `select`: which region answers a download (pure).
//! - `replicate`: workers that claim status rows and copy blobs, verified.
//! - `reconcile`: backfill, drift checks, the status metrics; `sync`.
//! - `admin`: adding, removing, listing; the status report.
//! - `gc`: removing blobs no package needs from every region.
//!
//! With no region configured, nothing here does anything: downloads are
//! served from the replica's own store as before.

mod admin;
mod gc;
mod health;
mod reconcile;
mod replicate;
pub mod select;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use entity::region;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

pub use admin::{NewRegion, RegionStatus, SyncReport};
use select::{Candidate, Hint, Reason};

use crate::config::{Cidr, StorageConfig};
use crate::db;
use crate::error::{Error, Result};
use crate::metrics::METRICS;
use crate::store::{BlobKey, BlobStore};

/// How replication runs on a replica.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionsConfig {
    /// The region this replica runs in (`serve --region`).
    pub own: Option<String>,
    /// Copies this replica runs at once.
    pub workers: usize,
    /// How often the configuration is read again and idle workers look for work.
    pub poll: Duration,
    /// How long a claimed copy is a worker's without a heartbeat.
    pub lease: Duration,
    /// How often the reconciler backfills, checks for drift and counts.
    pub reconcile_every: Duration,
    /// The longest wait between two attempts of a failing copy.
    pub max_backoff: Duration,
}

impl Default for RegionsConfig {
    fn default() -> Self {
        Self {
            own: None,
            workers: 2,
            poll: Duration::from_secs(2),
            lease: Duration::from_secs(60),
            reconcile_every: Duration::from_secs(30),
            max_backoff: Duration::from_secs(300),
        }
    }
}

/// Regions configured at most: each has a store client and status rows.
pub const MAX_REGIONS: usize = 32;

/// How long a region whose store failed is avoided for downloads.
const DOWN_FOR: Duration = Duration::from_secs(30);

/// One configured region and its store.
pub struct Region {
    pub row: region::Model,
    pub cidrs: Vec<Cidr>,
    pub store: BlobStore,
}

/// The regions as this replica last read them.
#[derive(Default)]
pub struct RegionSet {
    pub regions: Vec<Arc<Region>>,
    /// The region whose store is this replica's own (`--storage`): what an
    /// ingest writes is present there at once.
    pub local: Option<String>,
}

impl RegionSet {
    pub fn get(&self, name: &str) -> Option<&Arc<Region>> {
        self.regions.iter().find(|r| r.row.name == name)
    }

    pub fn home(&self) -> Option<&Arc<Region>> {
        self.regions.iter().find(|r| r.row.home)
    }
}

/// Where a download is served from.
pub struct Route {
    /// The serving region; `None` without regions.
    pub region: Option<String>,
    pub store: BlobStore,
    /// Why this region (for the metrics).
    pub reason: &'static str,
    /// The replica's own store, not a region's client.
    pub own_store: bool,
}

#[derive(Clone)]
pub struct Regions(Arc<Inner>);

struct Inner {
    db: DatabaseConnection,
    /// The replica's own store (`--storage`), where ingests write.
    primary: BlobStore,
    primary_config: StorageConfig,
    max_upload_size: u64,
    config: RegionsConfig,
    set: RwLock<Arc<RegionSet>>,
    /// Woken when an ingest leaves work.
    wake: Notify,
    /// Regions whose store failed lately, until when: one entry per region at most.
    down: Mutex<HashMap<String, Instant>>,
    /// Who this replica is, in leases.
    holder: String,
    /// Held by the one sync this replica runs at a time: each reads every
    /// copy back, so they must not pile up.
    syncing: tokio::sync::Mutex<()>,
}

impl Regions {
    pub fn new(
        db: DatabaseConnection,
        primary: BlobStore,
        primary_config: StorageConfig,
        max_upload_size: u64,
        config: RegionsConfig,
    ) -> Self {
        Self(Arc::new(Inner {
            db,
            primary,
            primary_config,
            max_upload_size,
            config,
            set: RwLock::new(Arc::new(RegionSet::default())),
            wake: Notify::new(),
            down: Mutex::new(HashMap::new()),
            holder: format!(
                "{}/{}",
                gethostname::gethostname().to_string_lossy(),
                uuid::Uuid::new_v4()
            ),
            syncing: tokio::sync::Mutex::new(()),
        }))
    }

    pub fn config(&self) -> &RegionsConfig {
        &self.0.config
    }

    /// The regions as last read.
    pub fn snapshot(&self) -> Arc<RegionSet> {
        self.0.set.read().expect("region set lock").clone()
    }

    /// Reads the configuration again; a region whose row did not change
    /// keeps its store client.
    pub async fn refresh(&self) -> Result<Arc<RegionSet>> {
        let rows = db::regions::list(&self.0.db).await?;
        let old = self.snapshot();
        let mut regions = Vec::with_capacity(rows.len());
        let mut local = None;
        for row in rows {
            let storage = storage_of(&row)?;
            if same_store(&storage, &self.0.primary_config) {
                local = Some(row.name.clone());
            }
            match old.get(&row.name).filter(|r| r.row == row) {
                Some(same) => regions.push(same.clone()),
                None => {
                    let cidrs = select::parse_cidrs(&row.cidrs).map_err(Error::invalid)?;
                    let store = BlobStore::open(&storage, self.0.max_upload_size)?;
                    regions.push(Arc::new(Region { row, cidrs, store }));
                }
            }
        }
        let set = Arc::new(RegionSet { regions, local });
        *self.0.set.write().expect("region set lock") = set.clone();
        Ok(set)
    }

    /// The region an ingest on this replica writes to, if one is configured.
    pub fn local(&self) -> Option<String> {
        self.snapshot().local.clone()
    }

    /// Tells the workers that an ingest left work.
    pub fn wake(&self) {
        self.0.wake.notify_waiters();
    }

    /// Notes that `region`'s store failed: downloads avoid it for a while.
    fn mark_down(&self, region: &str) {
        let mut down = self.0.down.lock().expect("down lock");
        down.insert(region.to_string(), Instant::now() + DOWN_FOR);
    }

    fn mark_up(&self, region: &str) {
        self.0.down.lock().expect("down lock").remove(region);
    }

    fn is_down(&self, region: &str) -> bool {
        let down = self.0.down.lock().expect("down lock");
        down.get(region)
            .is_some_and(|until| *until > Instant::now())
    }

    /// Where blob `key` is served from for a request that says `hint`: the
    /// preferred region if the blob is present there, else one where it is,
    /// else (no region has it yet, or none is configured) this replica's
    /// own store.
    pub async fn locate(&self, key: &BlobKey, hint: &Hint) -> Result<Route> {
        let set = self.snapshot();
        let fallback = |reason| Route {
            region: set.local.clone(),
            store: self.0.primary.clone(),
            reason,
            own_store: true,
        };
        if set.regions.is_empty() {
            return Ok(Route {
                region: None,
                ..fallback("none")
            });
        }
        let candidates: Vec<Candidate> = set
            .regions
            .iter()
            .map(|r| Candidate {
                name: r.row.name.clone(),
                home: r.row.home,
                cidrs: r.cidrs.clone(),
                down: self.is_down(&r.row.name),
            })
            .collect();
        let preferred = select::preferred(&candidates, hint, self.0.config.own.as_deref());
        let present = db::regions::present_in(&self.0.db, key.as_str()).await?;
        let serving = select::serving(&candidates, preferred.map(|(r, _)| r), &present);
        let Some(serving) = serving else {
            return Ok(fallback("fallback"));
        };
        let reason = match preferred {
            Some((p, why)) if p.name == serving.name => reason_name(why),
            _ => "fallback",
        };
        let region = set
            .get(&serving.name)
            .ok_or_else(|| Error::internal("a chosen region vanished"))?;
        Ok(Route {
            region: Some(serving.name.clone()),
            store: region.store.clone(),
            reason,
            own_store: false,
        })
    }

    /// Counts a download served by `route`.
    pub fn served(&self, route: &Route) {
        if let Some(region) = &route.region {
            METRICS
                .region_downloads
                .with_label_values(&[region, route.reason])
                .inc();
        }
    }

    /// A proxied read from `route`'s region failed: the region is avoided
    /// for a while, and the caller reads from the replica's own store.
    pub fn read_failed(&self, route: &Route, error: &Error) -> Route {
        if let Some(region) = &route.region {
            tracing::warn!(region, %error, "a region's store failed a download; serving from this replica's store");
            self.mark_down(region);
        }
        Route {
            region: self.snapshot().local.clone(),
            store: self.0.primary.clone(),
            reason: "fallback",
            own_store: true,
        }
    }
}

fn reason_name(reason: Reason) -> &'static str {
    match reason {
        Reason::Explicit => "explicit",
        Reason::Address => "address",
        Reason::Replica => "replica",
        Reason::Home => "home",
    }
}

/// A region's store settings, from its row.
pub fn storage_of(row: &region::Model) -> Result<StorageConfig> {
    let mut storage = StorageConfig::parse(&row.storage_url).map_err(Error::invalid)?;
    if let StorageConfig::S3(s3) = &mut storage {
        s3.endpoint = row.s3_endpoint.clone();
        s3.region = row.s3_region.clone();
        s3.public_endpoint = row.s3_public_endpoint.clone();
        s3.access_key_id = row.access_key_id.clone();
        s3.secret_access_key = row
            .secret_access_key
            .clone()
            .map(crate::config::Secret::new);
        // Keys in this replica's environment win over the database's.
        if let Some((id, secret)) = crate::config::region_keys(&row.name).map_err(Error::invalid)? {
            s3.access_key_id = Some(id);
            s3.secret_access_key = Some(secret);
        }
    }
    Ok(storage)
}

/// Whether two store settings name the same bucket (or directory).
fn same_store(a: &StorageConfig, b: &StorageConfig) -> bool {
    match (a, b) {
        (StorageConfig::Local { root: a }, StorageConfig::Local { root: b }) => a == b,
        (StorageConfig::S3(a), StorageConfig::S3(b)) => {
            let endpoint =
                |e: &Option<String>| e.as_deref().map(|e| e.trim_end_matches('/').to_string());
            a.bucket == b.bucket
                && a.prefix == b.prefix
                && endpoint(&a.endpoint) == endpoint(&b.endpoint)
        }
        _ => false,
    }
}
