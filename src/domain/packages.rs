//! The package store: ingest, lookup, listing and deletion, keeping the
//! database rows and the stored objects consistent with each other.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use entity::{package, upgrade_package};
use futures::{Stream, TryStreamExt};
use sea_orm::{DatabaseConnection, SqlErr, TransactionTrait};
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::classify::PackageType;
use super::filename::{check_client_name, check_stored_name, script_extension};
use super::query::ListQuery;
use super::rpm_header::{RpmInfo, is_rpm, read_rpm_header};
use super::upgrade;
use crate::cache::TtlCache;
use crate::db::{self, packages::NewPackage};
use crate::error::{Error, Result};
use crate::store::{BlobKey, BlobStore, Staged};

#[derive(Clone)]
pub struct Packages {
    db: DatabaseConnection,
    store: BlobStore,
    /// File name → package row, for downloads.
    recent: Arc<TtlCache<String, Arc<package::Model>>>,
}

/// How long a redirect may be answered from a package row read earlier: the
/// bound on how late another replica stops redirecting to a deleted (or
/// replaced) package. A stale row can point only at an object a delete
/// removed, which the store then answers 404, or at the replaced bytes; never
/// at a half-written object (objects are written under new keys).
pub const DOWNLOAD_CACHE_TTL: Duration = Duration::from_secs(5);
const MAX_RECENT: usize = 10_000;

/// What the client said about an upload besides its bytes.
#[derive(Clone, Debug, Default)]
pub struct Upload {
    /// The file name the client sent (multipart `filename`, or the preloaded file's name).
    pub client_name: Option<String>,
    /// The type the client declared (OCP 2.4's `type`), overriding inference.
    pub declared_type: Option<PackageType>,
    /// Built-in packages are not deletable.
    pub built_in: bool,
    /// Through obshell's upgrade API: checked by its rules, with its fields recorded.
    pub upgrade: bool,
    /// Digests the client announced (lowercase hex); a mismatch stores nothing.
    pub expected_sha1: Option<String>,
    pub expected_sha256: Option<String>,
}

/// What an ingest stored.
#[derive(Clone, Debug)]
pub struct Ingested {
    pub package: package::Model,
    pub outcome: Outcome,
    /// The obshell fields, for an upgrade upload.
    pub upgrade: Option<upgrade_package::Model>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    /// The same file name with the same bytes was already stored.
    Existing,
}

impl Packages {
    pub fn new(db: DatabaseConnection, store: BlobStore) -> Self {
        Self {
            db,
            store,
            recent: Arc::new(TtlCache::new(DOWNLOAD_CACHE_TTL, MAX_RECENT)),
        }
    }

    pub fn store(&self) -> &BlobStore {
        &self.store
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Both dependencies answer: the database a query, the store a lookup.
    pub async fn check_ready(&self) -> Result<()> {
        self.db.ping().await?;
        self.store
            .exists(&BlobKey::from_stored("readiness-probe".into()))
            .await?;
        Ok(())
    }

    pub async fn list(&self, query: &ListQuery) -> Result<(Vec<package::Model>, u64)> {
        Ok(db::packages::list(&self.db, query).await?)
    }

    pub async fn get(&self, id: i64) -> Result<package::Model> {
        db::packages::find(&self.db, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no software package with id {id}")))
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

    /// Stores an uploaded file as a package. The body is streamed: memory does
    /// not grow with its size. On any failure nothing is recorded and no
    /// object is left under a content key.
    pub async fn ingest<S, E>(&self, body: S, upload: Upload, limit: u64) -> Result<Ingested>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<Error>,
    {
        if let Some(name) = &upload.client_name {
            check_client_name(name).map_err(Error::InvalidArgument)?;
        }
        // The signed part's MD5 is reported only by obshell's upgrade API.
        let staged = self.store.stage(body, limit, upload.upgrade).await?;
        // The body is consumed; finish in a task of its own so that a client
        // hanging up now cannot leave the staging object behind.
        let this = self.clone();
        let registering = upload.clone();
        let mut ingested = tokio::spawn(async move {
            let result = this.register(&staged, &registering).await;
            this.store.discard(&staged).await;
            result
        })
        .await
        .map_err(Error::internal)??;
        if upload.built_in && ingested.package.deletable {
            db::packages::mark_built_in(&self.db, ingested.package.id).await?;
            ingested.package = self.get(ingested.package.id).await?;
        }
        Ok(ingested)
    }

    async fn register(&self, staged: &Staged, upload: &Upload) -> Result<Ingested> {
        check_digest(
            "SHA-1",
            upload.expected_sha1.as_deref(),
            &staged.digests.sha1,
        )?;
        check_digest(
            "SHA-256",
            upload.expected_sha256.as_deref(),
            &staged.digests.sha256,
        )?;
        let (new, rpm) = self.describe(staged, upload).await?;
        // obshell's checks and fields come first: a refused package stores nothing.
        let details = match (upload.upgrade, &rpm) {
            (false, _) => None,
            (true, Some(rpm)) => Some(upgrade::inspect(&self.store, staged, rpm).await?),
            (true, None) => return Err(Error::invalid("an upgrade package must be an RPM")),
        };
        let (package, outcome) = self.store_package(staged, new).await?;
        let upgrade = match details {
            None => None,
            Some(details) => {
                let existing = match outcome {
                    Outcome::Existing => db::upgrades::find(&self.db, package.id).await?,
                    Outcome::Created => None,
                };
                // The same bytes again: the record, and its GmtModify, stay as they were.
                match existing {
                    Some(row) => Some(row),
                    None => Some(db::upgrades::upsert(&self.db, package.id, &details).await?),
                }
            }
        };
        Ok(Ingested {
            package,
            outcome,
            upgrade,
        })
    }

    async fn store_package(
        &self,
        staged: &Staged,
        new: NewPackage,
    ) -> Result<(package::Model, Outcome)> {
        if let Some(existing) = db::packages::find_by_file_name(&self.db, &new.file_name).await? {
            return same_or_conflict(existing, staged);
        }

        // Copy outside the transaction: it may take a while, and must not hold locks.
        self.store.ensure_stored(staged).await?;
        let txn = self.db.begin().await?;
        db::packages::upsert_blob(&txn, staged).await?;
        // Under the blob row's lock: a concurrent delete of the last package
        // with these bytes either finished (object gone: copied again here,
        // rarely) or waits for this commit (and then sees the new reference).
        self.store.ensure_stored(staged).await?;
        match db::packages::insert(&txn, &new, staged).await {
            Ok(model) => {
                txn.commit().await?;
                Ok((model, Outcome::Created))
            }
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                // Another upload of the same file name won the race.
                txn.rollback().await?;
                let existing = db::packages::find_by_file_name(&self.db, &new.file_name)
                    .await?
                    .ok_or_else(|| Error::internal("a conflicting package vanished"))?;
                same_or_conflict(existing, staged)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads what the package is from its bytes: an RPM's header, or a script's name.
    async fn describe(
        &self,
        staged: &Staged,
        upload: &Upload,
    ) -> Result<(NewPackage, Option<RpmInfo>)> {
        let deletable = !upload.built_in;
        if is_rpm(&staged.magic) {
            let stream = self.store.get(&staged.path, None).await?.into_stream();
            let reader =
                SyncIoBridge::new(StreamReader::new(stream.map_err(std::io::Error::other)));
            let info = match tokio::task::spawn_blocking(move || read_rpm_header(reader)).await {
                Ok(parsed) => parsed.map_err(Error::InvalidArgument)?,
                // The rpm crate panics on some inconsistent headers: that is bad input, not a bug of ours.
                Err(e) if e.is_panic() => {
                    return Err(Error::invalid(
                        "not a valid RPM package: its header is damaged",
                    ));
                }
                Err(e) => return Err(Error::internal(e)),
            };
            if let Some(expected) = info.expected_size.filter(|e| *e != staged.size) {
                return Err(Error::invalid(format!(
                    "the RPM is damaged or truncated: its header announces {expected} bytes, {} arrived",
                    staged.size
                )));
            }
            let package_type = match upload.declared_type {
                Some(PackageType::Script) => {
                    return Err(Error::invalid(
                        "this file is an RPM package, not a SCRIPT; declare an RPM type",
                    ));
                }
                Some(declared) => declared,
                None => info.package_type,
            };
            let file_name = info.file_name();
            check_stored_name(&file_name)
                .map_err(|e| Error::invalid(format!("the RPM header is unusable: {e}")))?;
            let new = NewPackage {
                file_name,
                extension: "rpm".into(),
                package_type: package_type.as_str().into(),
                build_number: info.build_number().into(),
                operating_system: info.operating_system().into(),
                name: info.name.clone(),
                version: info.version.clone(),
                release: info.release.clone(),
                architecture: info.arch.clone(),
                deletable,
            };
            return Ok((new, Some(info)));
        }
        let name = upload.client_name.as_deref().unwrap_or_default();
        if let Some(declared) = upload.declared_type.filter(|t| *t != PackageType::Script) {
            return Err(Error::invalid(format!(
                "{name:?} is not an RPM package, so it cannot be of type {declared}; scripts are SCRIPT"
            )));
        }
        let Some(extension) = script_extension(name) else {
            return Err(Error::invalid(format!(
                "{name:?} is neither an RPM package nor a script (.sh, .py)"
            )));
        };
        check_stored_name(name).map_err(Error::InvalidArgument)?;
        let new = NewPackage {
            name: name.into(),
            file_name: name.into(),
            extension: extension.into(),
            package_type: PackageType::Script.as_str().into(),
            version: String::new(),
            release: String::new(),
            build_number: String::new(),
            operating_system: String::new(),
            architecture: String::new(),
            deletable,
        };
        Ok((new, None))
    }

    /// The packages uploaded through obshell's API, with their obshell fields.
    pub async fn upgrades(&self) -> Result<Vec<(upgrade_package::Model, package::Model)>> {
        Ok(db::upgrades::list(&self.db).await?)
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
            return Err(Error::NotDeletable(id));
        }
        let txn = self.db.begin().await?;
        db::upgrades::delete_for_package(&txn, id).await?;
        if !db::packages::delete(&txn, id).await? {
            return Err(Error::NotFound(format!("no software package with id {id}")));
        }
        txn.commit().await?;
        self.forget_for_download(&package.file_name);
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

fn check_digest(name: &str, expected: Option<&str>, actual: &str) -> Result<()> {
    match expected {
        Some(expected) if !expected.eq_ignore_ascii_case(actual) => {
            Err(Error::ChecksumMismatch(format!(
                "the file's {name} is {actual}, not the announced {expected}: it was damaged on the way; nothing was stored"
            )))
        }
        _ => Ok(()),
    }
}

fn same_or_conflict(
    existing: package::Model,
    staged: &Staged,
) -> Result<(package::Model, Outcome)> {
    if existing.sha1 == staged.digests.sha1 {
        Ok((existing, Outcome::Existing))
    } else {
        Err(Error::Conflict(format!(
            "a different package named {:?} already exists (id {}, sha1 {}); delete it first or upload under another name",
            existing.file_name, existing.id, existing.sha1
        )))
    }
}
