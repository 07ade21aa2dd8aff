//! Resumable uploads (the tus protocol's state machine, without HTTP).
//!
//! An upload's state lives in the database and its bytes in the object store,
//! one part per PATCH, so consecutive requests may reach different replicas.
//! A short lease in the upload's row names the one request allowed to write;
//! each part is committed by a conditional update of the offset. When the last
//! byte arrives, the parts are streamed, in order, through the same ingest as
//! a multipart upload.
//!
//! - this module: the service, creation, reading, termination;
//! - `append`: a PATCH, one part under the lease;
//! - `finish`: the last part's ingest and its recorded outcome;
//! - `lease`: the lease, its keeper task and takeover;
//! - `sweep`: the removal of expired uploads;
//! - `checksum`: per-request checksums (`Upload-Checksum`).
//!
//! # An upload's life
//!
//! ```text
//!              POST (creation)
//!                   │
//!                   ▼
//!   ┌──────────►  OPEN  ─────────── expires_at passes ──────────►  EXPIRED
//!   │           received < length,                               410 Gone; no
//!   │           no live lease                                    lease granted
//!   │               │                                                 │
//!   │               │ PATCH at `received`: takes the lease,           │
//!   │               │ or asks its holder to give way (takeover)       │
//!   │ the request   ▼                                                 │
//!   ├── ends ──── LEASED  one request writes, the keeper renews;      │
//!   │               │     a committed part: received += its length    │
//!   │               │                                                 │
//!   │               │ the last part committed (received held back)    │
//!   │ last part     ▼                                                 │
//!   └─ dropped ── FINISHING  takeovers refused; parts → ingest        │
//!     (neither      │    │                                            │
//!      stored nor   │    └── refused ──► REFUSED  failure_kind; every │
//!      refused)     │                    request answers the refusal  │
//!                   ▼                        │                        │
//!                COMPLETE  package_id,       │                        │
//!                received = length           │                        │
//!                   │                        │                        │
//!                   └──── expires_at passes ─┴──► the sweep claims ◄──┘
//!                                                 it: row, parts and
//!                                                 objects go
//!
//!   DELETE (termination) by the owner, in any state: row, parts and
//!   objects go; a package the upload became stays.
//! ```
//!
//! `expires_at` is set at creation and moved on by every committed part and
//! by the package's storing; `get` answers `UploadExpired` (410) for an
//! expired upload without a package. A request holding the lease is not
//! stopped by expiry.
//!
//! # The lease protocol
//!
//! 1. **One writer.** Taking the lease is one conditional UPDATE: it succeeds
//!    only for a live (unexpired), unfinished, unrefused upload whose offset
//!    is the PATCH's, and only when no lease is set or the one set expired.
//! 2. **Only the holder changes the upload.** Committing a part (also
//!    conditioned on the offset being the part's start), storing the package
//!    and recording a refusal are each conditioned on the lease id. A refused
//!    commit deletes the request's object and answers 409. The one exception
//!    is termination, which removes the upload whoever holds it; the holder's
//!    next commit is then refused, and its keeper finds the lease gone.
//! 3. **Objects are never shared.** Each PATCH writes a fresh object
//!    (`uploads/ID/OFFSET-UUID`); only the parts' rows say which count.
//!    Objects without a row are leftovers, removed with the upload's prefix.
//! 4. **The offset only moves forward, and a HEAD never reports a complete
//!    upload that could still fail.** The last part is committed without
//!    moving the offset; storing the package sets it to the length. Parts at
//!    or past the offset are therefore a last part that was never stored:
//!    the next holder drops them before it writes.
//! 5. **Renewal.** While its request runs, the holder's keeper renews the
//!    lease every `RENEW_EVERY`, several times within `LEASE_TTL`. If a
//!    renewal or a check finds the lease no longer its own, the keeper
//!    revokes it: the body is ended and the commit that follows is refused.
//! 6. **Takeover.** A PATCH that finds the lease held asks its holder to
//!    give way (a flag on the row) and tries again for `TAKEOVER_WAIT`. The
//!    keeper looks every `TAKEOVER_POLL`: if its client sent nothing for
//!    `QUIET_BEFORE_TAKEOVER` it gives way: the body ends there, what arrived
//!    is committed (unless an `Upload-Checksum` no longer matches it), and
//!    the request fails and releases the lease. Otherwise it declines, and
//!    the asker asks again. A finishing holder neither gives way nor
//!    declines. When the offset moves while the asker waits, or the wait
//!    ends, the asker answers 409.
//! 7. **Release.** A request gives its lease back when it ends; storing the
//!    package or recording a refusal clears it in the same transaction. A
//!    lease dropped without release is no longer renewed, and expires.
//!
//! # What a crash leaves
//!
//! - A lease nobody renews: it expires at most `LEASE_TTL` later. A PATCH
//!   that arrives meanwhile waits (nobody answers its takeover request) for
//!   `TAKEOVER_WAIT`, longer than the lease, and then takes it.
//! - An object written but not committed: a leftover (3.).
//! - A last part committed, the package not stored: the next PATCH drops it
//!   (4.) and the client sends it again, which runs the ingest again.
//! - A sweep's claim on an expired upload: it expires, and a later sweep
//!   removes the upload.

mod append;
mod checksum;
mod finish;
mod lease;
mod sweep;

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{package, upload};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

pub use checksum::{Checksum, ChecksumAlgorithm};

use super::classify::PackageType;
use super::filename::check_client_name;
use super::packages::Packages;
use super::users::User;
use crate::db;
use crate::error::{Error, Result};
use crate::store::BlobStore;

#[derive(Clone)]
pub struct Uploads {
    db: DatabaseConnection,
    store: BlobStore,
    packages: Packages,
    expiry: Duration,
    max_size: u64,
    quota: UploadQuota,
}

/// What one user may have in progress at once: uploads, and the bytes they
/// announce (`--max-open-uploads`, `--max-open-upload-bytes`). Checked when an
/// upload is created, so that nobody reserves what they will not send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadQuota {
    pub open: usize,
    pub bytes: u64,
}

/// The `Upload-Metadata` kept (and echoed by HEAD): a name, a type, digests.
const MAX_METADATA: usize = 4 << 10;

/// What a client announces when it creates an upload.
#[derive(Clone, Debug, Default)]
pub struct NewUpload {
    pub length: u64,
    /// The raw `Upload-Metadata` header, echoed back by HEAD.
    pub metadata: String,
    pub file_name: String,
    pub declared_type: Option<PackageType>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    /// The content key's digest: the finished upload is written once, under it.
    pub blake3: Option<String>,
}

/// Where an upload stands after a PATCH.
#[derive(Debug)]
pub struct Appended {
    pub offset: u64,
    pub expires_at: DateTime<Utc>,
    /// The package, once the last byte arrived and was ingested.
    pub package: Option<package::Model>,
}

impl Uploads {
    pub fn new(
        db: DatabaseConnection,
        store: BlobStore,
        packages: Packages,
        expiry: Duration,
        max_size: u64,
    ) -> Self {
        Self {
            db,
            store,
            packages,
            expiry,
            max_size,
            quota: UploadQuota {
                open: crate::config::defaults::MAX_OPEN_UPLOADS,
                bytes: crate::config::defaults::MAX_OPEN_UPLOAD_BYTES,
            },
        }
    }

    pub fn with_quota(mut self, quota: UploadQuota) -> Self {
        self.quota = quota;
        self
    }

    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    fn store(&self) -> &BlobStore {
        &self.store
    }

    fn expires_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.expiry).unwrap_or(chrono::Duration::days(1))
    }

    pub async fn create(&self, user: &User, new: NewUpload) -> Result<upload::Model> {
        if new.metadata.len() > MAX_METADATA {
            return Err(Error::invalid(format!(
                "Upload-Metadata is {} bytes; at most {MAX_METADATA} are kept",
                new.metadata.len()
            )));
        }
        check_client_name(&new.file_name).map_err(Error::IllegalArgument)?;
        self.packages.check_room(new.length, self.max_size)?;
        let now = Utc::now();
        let (open, announced) = db::uploads::in_progress_of(&self.db, user.id, now).await?;
        if open >= self.quota.open as u64 {
            return Err(Error::TooManyUploads(format!(
                "{:?} has {open} resumable uploads in progress, the most one user may; \
                 finish or terminate (DELETE) one first",
                user.name
            )));
        }
        if announced.saturating_add(new.length) > self.quota.bytes {
            return Err(Error::TooManyUploads(format!(
                "{:?}'s resumable uploads in progress announce {announced} bytes; with {} more \
                 they would pass the {} a user may; finish or terminate (DELETE) one first",
                user.name, new.length, self.quota.bytes
            )));
        }
        let row = upload::Model {
            id: Uuid::new_v4().to_string(),
            user_id: user.id,
            length: to_i64(new.length)?,
            received_bytes: 0,
            metadata: new.metadata,
            file_name: new.file_name,
            declared_type: new.declared_type.map(|t| t.as_str().to_string()),
            sha1: new.sha1.map(|s| s.to_ascii_lowercase()),
            sha256: new.sha256.map(|s| s.to_ascii_lowercase()),
            blake3: new.blake3.map(|s| s.to_ascii_lowercase()),
            created_at: now,
            expires_at: self.expires_from(now),
            lease_id: None,
            lease_expires_at: None,
            takeover_requested: false,
            package_id: None,
            failure_kind: None,
            failure_message: None,
        };
        db::uploads::insert(&self.db, row.clone()).await?;
        tracing::info!(upload = %row.id, file = %row.file_name, length = new.length, "resumable upload created");
        Ok(row)
    }

    /// The caller's upload; others' are as good as absent. A refused upload
    /// answers its refusal; an expired one, `Gone`.
    pub async fn get(&self, user: &User, id: &str) -> Result<upload::Model> {
        let row = Uuid::parse_str(id)
            .ok()
            .map(|_| db::uploads::find(&self.db, id));
        let row = match row {
            Some(find) => find.await?,
            None => None,
        };
        let Some(row) = row.filter(|r| r.user_id == user.id) else {
            return Err(Error::NotFound(format!("no upload {id}")));
        };
        if let Some(kind) = &row.failure_kind {
            let message = format!(
                "upload {id} was refused: {}",
                row.failure_message.as_deref().unwrap_or("")
            );
            // Not the original 409 for a conflict: tus clients retry a 409.
            return Err(match kind.as_str() {
                "checksum" => Error::ChecksumMismatch(message),
                _ => Error::IllegalArgument(message),
            });
        }
        if row.package_id.is_none() && row.expires_at <= Utc::now() {
            return Err(Error::UploadExpired(format!(
                "upload {id} expired at {}; start again",
                row.expires_at.to_rfc3339()
            )));
        }
        Ok(row)
    }

    /// The package a finished upload became.
    pub async fn package(&self, user: &User, id: &str) -> Result<package::Model> {
        let row = self.get(user, id).await?;
        let Some(package_id) = row.package_id else {
            return Err(Error::UploadOffsetConflict(format!(
                "upload {id} is incomplete: {} of {} bytes received",
                row.received_bytes, row.length
            )));
        };
        self.packages.get(package_id).await.map_err(|_| {
            Error::NotFound(format!(
                "upload {id} became package {package_id}, which was deleted since"
            ))
        })
    }

    /// tus termination: the upload and its bytes go (a package it became stays).
    pub async fn terminate(&self, user: &User, id: &str) -> Result<()> {
        // Refused and expired uploads may be terminated too: only ownership counts.
        let owned = match Uuid::parse_str(id) {
            Ok(_) => db::uploads::find(&self.db, id)
                .await?
                .is_some_and(|r| r.user_id == user.id),
            Err(_) => false,
        };
        if !owned {
            return Err(Error::NotFound(format!("no upload {id}")));
        }
        // The bytes first: if removing them fails, the row stays for the
        // expiry sweep to try again. A PATCH still writing finds its commit
        // refused and removes its own part.
        self.store().delete_upload_parts(id).await?;
        if !db::uploads::delete(&self.db, id).await? {
            return Err(Error::NotFound(format!("no upload {id}")));
        }
        tracing::info!(upload = %id, "resumable upload terminated");
        Ok(())
    }
}

fn to_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::invalid(format!("{n} bytes is out of range")))
}
