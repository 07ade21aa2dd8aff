//! Ingest: a submitted file becomes a package. The bytes are staged and
//! hashed, the package described from them (RPM header or script name),
//! checked (announced digests, an RPM's own digests, obshell's rules), copied
//! under their content key and recorded, all or nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use entity::{package, repo_package, upgrade_package};
use futures::Stream;
use sea_orm::{SqlErr, TransactionTrait};

use super::Packages;
use crate::db::{self, packages::NewPackage};
use crate::domain::admission::UploadSlot;
use crate::domain::audit::{Receipt, StoredPackage};
use crate::domain::classify::PackageType;
use crate::domain::filename::check_client_name;
use crate::domain::repos::rpmmd::Fragments;
use crate::domain::upgrade;
use crate::error::{Error, Result};
use crate::metrics::METRICS;
use crate::store::{Announced, BlobKey, Destination, SignedPartMd5, Staged, hex_digest};

/// A file submitted for storing: what came with its bytes.
#[derive(Clone, Debug, Default)]
pub struct Submission {
    /// The file name the client sent (multipart `filename`, or the preloaded file's name).
    pub client_name: Option<String>,
    /// The type the client declared (OCP 2.4's `type`), overriding inference.
    pub declared_type: Option<PackageType>,
    pub origin: Origin,
    /// Digests the client announced; a mismatch stores nothing. A BLAKE3, or
    /// a SHA-256 of bytes depot holds already, names the content key, and the
    /// bytes are then written once, under it.
    pub announced: Announced,
}

/// Where a package comes from, which decides the rules it is stored by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Origin {
    /// The software-package API, resumable uploads, `depot push`.
    #[default]
    PackageApi,
    /// obshell's upgrade API: checked by its rules, with its fields recorded.
    UpgradeApi,
    /// The preload directory: built in, not deletable.
    Preload,
    /// A StarlingX patch's RPM: the patch upload announces it, once linked.
    Patch,
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
    /// Stores an uploaded file as a package. The body is streamed: memory does
    /// not grow with its size. On any failure nothing is recorded and no
    /// object is left under a content key. The upload's slot is held until
    /// the work is done, even when the client is gone before.
    pub async fn ingest<S, E>(
        &self,
        slot: UploadSlot,
        body: S,
        upload: Submission,
        limit: u64,
    ) -> Result<Ingested>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<Error>,
    {
        if let Some(name) = &upload.client_name {
            check_client_name(name).map_err(Error::IllegalArgument)?;
        }
        // Every RPM is hashed as its own digests cover it, to check it against
        // them (its payload's SHA-256, on a thread of its own); the MD5 of its
        // signed part too where they have no SHA-256 for it, or for obshell,
        // which reports that MD5.
        let signed_part = match upload.origin {
            Origin::UpgradeApi => SignedPartMd5::Compute,
            _ => SignedPartMd5::UnlessCovered,
        };
        let destination = self.destination(&upload.announced).await?;
        let staged = self
            .store
            .stage(body, limit, signed_part, &upload.announced, destination)
            .await?;
        // The body is consumed; finish in a task of its own so that a client
        // hanging up now cannot leave the staging object behind. But what is
        // only worth doing for an answer (reading a payload through) stops
        // when this future is dropped: when the client is gone.
        let gone = StopOnDrop::default();
        let stop = gone.flag();
        let this = self.clone();
        let registering = upload.clone();
        // The request's audit event names the package, even when its client is gone.
        let mut storing = Receipt::current().map(|r| r.storing());
        let mut ingested = tokio::spawn(async move {
            let result = this.register(&staged, &registering, stop).await;
            this.store.discard(&staged).await;
            if result.is_ok() {
                METRICS.upload_stored(staged.placement);
            }
            if let (Some(storing), Ok(ingested)) = (&mut storing, &result) {
                storing.stored(StoredPackage {
                    id: ingested.package.id,
                    file_name: ingested.package.file_name.clone(),
                    sha1: ingested.package.sha1.clone(),
                });
            }
            drop(slot);
            result
        })
        .await
        .map_err(Error::internal)??;
        if upload.origin == Origin::Preload && ingested.package.deletable {
            db::packages::mark_built_in(&self.db, ingested.package.id).await?;
            ingested.package = self.get(ingested.package.id).await?;
        }
        Ok(ingested)
    }

    /// Stores an RPM another upload staged (a patch's), through the same
    /// checks and records; the caller removes the staging object.
    pub async fn ingest_staged(&self, staged: &Staged, upload: &Submission) -> Result<Ingested> {
        upload.announced.check(&staged.digests)?;
        let stop = Arc::new(AtomicBool::new(false));
        self.register(staged, upload, stop).await
    }

    /// Where an upload's bytes go: straight under their content key when the
    /// client named it (its BLAKE3, or the SHA-256 of bytes depot holds),
    /// through a staging object otherwise.
    async fn destination(&self, announced: &Announced) -> Result<Destination> {
        if let Some(blake3) = &announced.blake3 {
            return Ok(Destination::Key(BlobKey::from_blake3(&hex64(
                "BLAKE3", blake3,
            )?)));
        }
        if let Some(sha256) = &announced.sha256
            && let Some(key) =
                db::packages::blob_key_by_sha256(&self.db, &hex64("SHA-256", sha256)?).await?
        {
            return Ok(Destination::Key(BlobKey::from_stored(key)));
        }
        Ok(Destination::Staging)
    }

    async fn register(
        &self,
        staged: &Staged,
        upload: &Submission,
        stop: Arc<AtomicBool>,
    ) -> Result<Ingested> {
        let (new, rpm, repo) = self.describe(staged, upload).await?;
        // obshell's checks and fields come first: a refused package stores nothing.
        let details = match (upload.origin == Origin::UpgradeApi, &rpm) {
            (false, _) => None,
            (true, Some(rpm)) => Some(upgrade::inspect(&self.store, staged, rpm, stop).await?),
            (true, None) => return Err(Error::invalid("an upgrade package must be an RPM")),
        };
        let (package, outcome) = self.store_package(staged, new, upload, repo).await?;
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

    /// Records the package, or answers the one stored under its name when it
    /// is the same (bytes, and type when the upload `declared` one).
    async fn store_package(
        &self,
        staged: &Staged,
        new: NewPackage,
        upload: &Submission,
        repo: Option<Fragments>,
    ) -> Result<(package::Model, Outcome)> {
        let declared = upload.declared_type.is_some();
        let same_or_conflict = |existing: package::Model| {
            same_or_conflict(existing, staged, declared.then_some(&*new.package_type))
        };
        if let Some(existing) = db::packages::find_by_file_name(&self.db, &new.file_name).await? {
            return same_or_conflict(existing);
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
                // Its status in every region, with the package or not at all.
                let (key, size) = (staged.key.as_str(), staged.size as i64);
                let local = self.regions.as_ref().and_then(|r| r.local());
                let now = chrono::Utc::now();
                db::regions::enqueue_blob(&txn, key, size, local.as_deref(), now).await?;
                // Its repository metadata, computed once, with the package or not at all.
                if let Some(repo) = repo {
                    db::repos::insert_fragments(
                        &txn,
                        repo_package::Model {
                            package_id: model.id,
                            pkgid: staged.digests.sha256.clone(),
                            primary: repo.primary,
                            filelists: repo.filelists,
                            other: repo.other,
                        },
                    )
                    .await?;
                }
                txn.commit().await?;
                self.regions.iter().for_each(|r| r.wake());
                if model.extension == "rpm" && upload.origin != Origin::Patch {
                    self.repo_changes
                        .touch(&model.operating_system, &model.architecture);
                }
                Ok((model, Outcome::Created))
            }
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                // Another upload of the same file name won the race.
                txn.rollback().await?;
                let existing = db::packages::find_by_file_name(&self.db, &new.file_name)
                    .await?
                    .ok_or_else(|| Error::internal("a conflicting package vanished"))?;
                same_or_conflict(existing)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// A digest as 64 lowercase hex digits, the form content keys use.
fn hex64(name: &str, hex: &str) -> Result<String> {
    hex_digest(hex, 64).ok_or_else(|| {
        Error::invalid(format!(
            "the announced {name} must be 64 hexadecimal digits"
        ))
    })
}

/// The stored package when the upload is the same again; a conflict when
/// its bytes differ, or when it declares another type than the stored one
/// (silently answering the old type would let the client believe its
/// declaration was applied).
fn same_or_conflict(
    existing: package::Model,
    staged: &Staged,
    declared_type: Option<&str>,
) -> Result<(package::Model, Outcome)> {
    if existing.sha1 == staged.digests.sha1 {
        match declared_type {
            Some(declared) if declared != existing.r#type => {
                Err(Error::PackageTypeConflict(format!(
                    "{:?} is already stored, with the same bytes, as type {} (id {}), not {declared}; the type was not changed: delete the package and upload it again to change it",
                    existing.file_name, existing.r#type, existing.id
                )))
            }
            _ => Ok((existing, Outcome::Existing)),
        }
    } else {
        Err(Error::PackageConflict(format!(
            "a different package named {:?} already exists (id {}, sha1 {}); delete it first or upload under another name",
            existing.file_name, existing.id, existing.sha1
        )))
    }
}

/// Sets its flag when dropped: held by a request's future, it tells work
/// running on in a task of its own that nobody waits for the answer.
#[derive(Default)]
struct StopOnDrop(Arc<AtomicBool>);

impl StopOnDrop {
    fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
