//! Diagnostics: the checks an operator would otherwise do by hand (is the
//! database there, is the disk full, is the clock right…), each answered
//! OK, WARN or FAIL with what to do about it. Used by `depot doctor` and
//! `GET /api/v2/diagnostics`.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use chrono::Utc;
use sea_orm::DatabaseConnection;

use super::gc::{Collector, Pass};
use super::patches::Patches;
use super::regions::Regions;
use super::repos::Repos;
use crate::db;
use crate::store::{Area, BlobStore};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Clone, Debug)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do, when something is wrong.
    pub remedy: Option<String>,
}

impl Check {
    pub(crate) fn ok(name: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name,
            status: Status::Ok,
            detail: detail.into(),
            remedy: None,
        }
    }

    pub(crate) fn warn(
        name: &'static str,
        detail: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Self {
        Self {
            name,
            status: Status::Warn,
            detail: detail.into(),
            remedy: Some(remedy.into()),
        }
    }

    pub(crate) fn fail(
        name: &'static str,
        detail: impl Into<String>,
        remedy: impl Into<String>,
    ) -> Self {
        Self {
            name,
            status: Status::Fail,
            detail: detail.into(),
            remedy: Some(remedy.into()),
        }
    }
}

/// Clock skew that presigned URLs start to suffer from, and fail at.
const SKEW_WARN: i64 = 60;
const SKEW_FAIL: i64 = 300;
/// Free space below which a volume is worth a warning (and a failure).
const FREE_WARN: u64 = 5 << 30;
const FREE_FAIL: u64 = 512 << 20;

fn size(bytes: u64) -> String {
    bytesize::ByteSize::b(bytes)
        .display()
        .iec_short()
        .to_string()
}

fn free_space(name: &'static str, what: &str, free: u64) -> Check {
    let detail = format!("{} free in {what}", size(free));
    if free < FREE_FAIL {
        Check::fail(
            name,
            detail,
            format!("free space in {what}, or grow the volume: uploads will fail with 507"),
        )
    } else if free < FREE_WARN {
        Check::warn(
            name,
            detail,
            format!("free space in {what} soon, or grow the volume"),
        )
    } else {
        Check::ok(name, detail)
    }
}

fn free_bytes(path: &Path) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(path).ok()?;
    Some(stat.blocks_available() * stat.fragment_size())
}

/// What to do when the database does not answer. A pool that times out hides
/// why (down, unreachable, or refusing connections), so all are named.
pub const DATABASE_REMEDY: &str = "check that the database runs and is reachable at the URL (--database-url), \
     the credentials, and that it accepts more connections (max_connections, the role's CONNECTION LIMIT)";

/// The checks, over the services `serve` runs with.
#[derive(Clone)]
pub struct Doctor {
    db: DatabaseConnection,
    store: BlobStore,
    collector: Collector,
    repos: Repos,
    regions: Option<Regions>,
    patches: Option<Patches>,
}

impl Doctor {
    pub fn new(
        db: DatabaseConnection,
        store: BlobStore,
        collector: Collector,
        repos: Repos,
    ) -> Self {
        Self {
            db,
            store,
            collector,
            repos,
            regions: None,
            patches: None,
        }
    }

    /// Checks for patches stuck in a partial state too.
    pub fn with_patches(mut self, patches: Patches) -> Self {
        self.patches = Some(patches);
        self
    }

    /// Checks every region's store and backlog too.
    pub fn with_regions(mut self, regions: Regions) -> Self {
        self.regions = Some(regions);
        self
    }

    /// Runs every check; later checks still run when earlier ones fail.
    pub async fn run(&self) -> Vec<Check> {
        let mut checks = diagnose(&self.db, &self.store, &self.collector).await;
        // Regions live in the schema: none to check before it is current.
        let schema_ok = checks
            .iter()
            .any(|c| c.name == "migrations current" && c.status == Status::Ok);
        if let (Some(regions), true) = (&self.regions, schema_ok) {
            checks.extend(regions.checks().await);
        }
        if schema_ok {
            checks.push(self.repos.doctor_check().await);
            if let Some(patches) = &self.patches {
                checks.push(patches.doctor_check().await);
            }
        }
        checks
    }
}

async fn diagnose(db: &DatabaseConnection, store: &BlobStore, collector: &Collector) -> Vec<Check> {
    let mut checks = Vec::new();

    // The database.
    let started = Instant::now();
    let db_up = match db.ping().await {
        Ok(()) => {
            checks.push(Check::ok(
                "database reachable",
                format!("answered in {:.1?}", started.elapsed()),
            ));
            true
        }
        Err(e) => {
            checks.push(Check::fail(
                "database reachable",
                e.to_string(),
                DATABASE_REMEDY,
            ));
            false
        }
    };
    let mut schema_ok = false;
    if db_up {
        checks.push(match db::pending_migrations(db).await {
            Ok(pending) if pending.is_empty() => {
                schema_ok = true;
                Check::ok("migrations current", "the schema is this version's")
            }
            Ok(pending) => Check::fail(
                "migrations current",
                format!("{} pending: {}", pending.len(), pending.join(", ")),
                "run `depot migrate` (or start one replica without --no-migrate)",
            ),
            Err(e) => Check::warn(
                "migrations current",
                e.to_string(),
                "check the database user's rights",
            ),
        });
        checks.push(match db::size_bytes(db).await {
            Ok(Some(bytes)) => Check::ok("database size", size(bytes)),
            Ok(None) => Check::ok("database size", "not reported by this database"),
            Err(e) => Check::warn(
                "database size",
                e.to_string(),
                "check the database user's rights",
            ),
        });
    }

    // The store.
    let probe = store.probe().await;
    let store_up = match &probe {
        Ok(p) => {
            checks.push(Check::ok(
                "store reachable",
                format!("put, get and delete of a probe object in {:.1?}", p.latency),
            ));
            true
        }
        Err(e) => {
            checks.push(Check::fail(
                "store reachable",
                e.to_string(),
                "check that the store runs, the endpoint, the bucket and the credentials",
            ));
            false
        }
    };
    if let Ok(p) = &probe {
        let skew = (p.store_time - p.local_time).num_seconds();
        let detail = format!("the store's clock is {skew:+} s from ours");
        let remedy =
            "synchronise the clocks (NTP): presigned download URLs fail with a skewed clock";
        checks.push(if skew.abs() >= SKEW_FAIL {
            Check::fail("clock skew", detail, remedy)
        } else if skew.abs() >= SKEW_WARN {
            Check::warn("clock skew", detail, remedy)
        } else {
            Check::ok("clock skew", detail)
        });
    }
    if let Some(free) = store.free_space() {
        checks.push(free_space("store free space", "the local store", free));
    }
    let tmp = std::env::temp_dir();
    if let Some(free) = free_bytes(&tmp) {
        checks.push(free_space(
            "temporary directory",
            &tmp.display().to_string(),
            free,
        ));
    }
    // The rest reads depot's own tables.
    if !(schema_ok && store_up) {
        return checks;
    }

    // Uploads and objects.
    checks.push(uploads_check(db).await);
    let dry_run = collector.run(Pass::DryRun).await;
    if let Ok(Some(why)) = dry_run.as_ref().map(|r| r.blind_spot.clone()) {
        checks.push(Check::warn(
            "unfinished writes",
            why,
            "give depot static S3 credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or set the bucket's lifecycle rule AbortIncompleteMultipartUpload",
        ));
    }
    match dry_run {
        Ok(report) if report.skipped => checks.push(Check::ok(
            "orphaned objects",
            "a garbage collection is running now",
        )),
        Ok(report) if report.objects() + report.expired_uploads == 0 => {
            checks.push(Check::ok("orphaned objects", "none"))
        }
        Ok(report) => checks.push(Check::warn(
            "orphaned objects",
            format!(
                "{} object(s) and {} expired upload(s) no package needs, {}{}",
                report.objects(),
                report.expired_uploads,
                size(report.bytes()),
                report
                    .oldest_unfinished
                    .map(|t| format!(
                        "; {} unfinished write(s), {}, the oldest from {}",
                        report.unfinished_writes,
                        size(report.unfinished_bytes),
                        t.format("%Y-%m-%d %H:%M UTC")
                    ))
                    .unwrap_or_default()
            ),
            "run `depot gc` (serve also collects every --gc-interval)",
        )),
        Err(e) => checks.push(Check::warn(
            "orphaned objects",
            e.to_string(),
            "run `depot gc` to see more",
        )),
    }
    checks.push(missing_objects(db, store).await);
    checks
}

async fn uploads_check(db: &DatabaseConnection) -> Check {
    let now = Utc::now();
    let (pending, abandoned) = match (
        db::uploads::in_progress(db).await,
        db::uploads::expired(db, now, 10_000).await,
    ) {
        (Ok(p), Ok(a)) => (p, a.len()),
        (Err(e), _) | (_, Err(e)) => {
            return Check::warn("resumable uploads", e.to_string(), "check the database");
        }
    };
    let detail = format!("{pending} in progress, {abandoned} expired and not yet removed");
    if abandoned > 0 {
        Check::warn(
            "resumable uploads",
            detail,
            "run `depot gc` to remove the expired ones",
        )
    } else {
        Check::ok("resumable uploads", detail)
    }
}

/// Packages whose object is not in the store: their downloads fail.
async fn missing_objects(db: &DatabaseConnection, store: &BlobStore) -> Check {
    let (keys, stored) = match (
        db::packages::referenced_keys(db).await,
        store.list(Area::Blobs).await,
    ) {
        (Ok(k), Ok(s)) => (k, s.into_iter().collect::<HashSet<_>>()),
        (Err(e), _) => return Check::warn("package objects", e.to_string(), "check the database"),
        (_, Err(e)) => return Check::warn("package objects", e.to_string(), "check the store"),
    };
    // The listing and the package rows were read at different moments: a
    // key counts as missing only if it still has a package and still no object.
    let mut missing: Vec<&String> = Vec::new();
    for key in keys.iter().filter(|k| !stored.contains(*k)) {
        let still_referenced = db::packages::references(db, key).await.is_ok_and(|n| n > 0);
        let still_absent = !store
            .exists(&crate::store::BlobKey::from_stored(key.clone()))
            .await
            .unwrap_or(false);
        if still_referenced && still_absent {
            missing.push(key);
        }
    }
    if missing.is_empty() {
        return Check::ok("package objects", format!("all {} present", keys.len()));
    }
    let names = db::packages::file_names_for_keys(db, &missing)
        .await
        .unwrap_or_default();
    Check::fail(
        "package objects",
        format!(
            "{} package(s) whose object is missing: {}",
            names.len().max(missing.len()),
            names.join(", ")
        ),
        "restore the objects from a backup, or delete these packages and upload them again",
    )
}

/// The worst status of `checks`.
pub fn overall(checks: &[Check]) -> Status {
    checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok)
}

#[cfg(test)]
#[path = "doctor_tests.rs"]
mod tests;
