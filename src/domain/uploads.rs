//! Resumable uploads (the tus protocol's state machine, without HTTP).
//!
//! An upload's state lives in the database and its bytes in the object store,
//! one part per PATCH, so consecutive requests may reach different replicas.
//! A short lease in the upload's row names the one request allowed to write;
//! each part is committed by a conditional update of the offset. When the last
//! byte arrives, the parts are streamed, in order, through the same ingest as
//! a multipart upload.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use entity::{package, upload, upload_part};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use sea_orm::DatabaseConnection;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::admission::UploadSlot;
use super::classify::PackageType;
use super::filename::check_client_name;
use super::packages::{Packages, Submission};
use super::users::User;
use crate::db;
use crate::error::{Error, Result};
use crate::store::{BlobStore, Path, upload_part};

/// How long a lease lasts without renewal: a crashed replica blocks an
/// upload for at most this long.
const LEASE_TTL: Duration = Duration::from_secs(60);
/// How often a lease holder looks for a takeover request.
const TAKEOVER_POLL: Duration = Duration::from_secs(1);
/// A holder whose client sent nothing this long gives way to a new PATCH:
/// after a network cut the old request may not notice for a whole idle timeout.
const QUIET_BEFORE_TAKEOVER: Duration = Duration::from_secs(2);
/// How long a PATCH waits for a quiet holder to give way.
const TAKEOVER_WAIT: Duration = Duration::from_secs(5);
/// Expired uploads removed per sweep query.
const SWEEP_BATCH: u64 = 100;

#[derive(Clone)]
pub struct Uploads {
    db: DatabaseConnection,
    packages: Packages,
    expiry: Duration,
    max_size: u64,
}

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
}

/// A per-request checksum (tus `Upload-Checksum`).
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    pub expected: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Sha1,
    Sha256,
    Md5,
}

impl ChecksumAlgorithm {
    pub const ALL: &[Self] = &[Self::Sha1, Self::Sha256, Self::Md5];

    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Md5 => "md5",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }

    fn hasher(self) -> Box<dyn sha2::digest::DynDigest + Send> {
        match self {
            Self::Sha1 => Box::new(sha1::Sha1::default()),
            Self::Sha256 => Box::new(sha2::Sha256::default()),
            Self::Md5 => Box::new(md5::Md5::default()),
        }
    }
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
        packages: Packages,
        expiry: Duration,
        max_size: u64,
    ) -> Self {
        Self {
            db,
            packages,
            expiry,
            max_size,
        }
    }

    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    fn store(&self) -> &BlobStore {
        self.packages.store()
    }

    fn expires_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.expiry).unwrap_or(chrono::Duration::days(1))
    }

    pub async fn create(&self, user: &User, new: NewUpload) -> Result<upload::Model> {
        self.packages.check_room(new.length, self.max_size)?;
        check_client_name(&new.file_name).map_err(Error::IllegalArgument)?;
        let now = Utc::now();
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

    /// Stores `body` at `offset` of the upload; ingests the file when it
    /// completes it. A body cut short keeps what arrived (unless a checksum
    /// was given, which it could not match), so the client resumes from there.
    pub async fn append<S>(
        &self,
        user: &User,
        id: &str,
        offset: u64,
        body: S,
        checksum: Option<Checksum>,
    ) -> Result<Appended>
    where
        S: Stream<Item = Result<Bytes>> + Send + Unpin + 'static,
    {
        let row = self.get(user, id).await?;
        if row.package_id.is_some() {
            return Err(Error::UploadOffsetConflict(format!(
                "upload {id} is already complete"
            )));
        }
        // A PATCH receives bytes: it holds an upload slot like any upload.
        let slot = self.packages.admit(&user.name, None, self.max_size)?;
        let received = row.received_bytes as u64;
        if received != offset {
            return Err(Error::UploadOffsetConflict(format!(
                "upload {id} has {received} bytes; this PATCH starts at {offset} (HEAD tells the offset to resume from)"
            )));
        }
        let lease = match Lease::acquire(&self.db, id, offset).await? {
            Some(lease) => lease,
            None => self.take_over(id, offset).await?,
        };
        if let Err(e) = self.drop_stale_parts(id, offset).await {
            lease.release().await;
            return Err(e);
        }
        let result = self.append_leased(slot, &row, &lease, body, checksum).await;
        if !matches!(
            result,
            Ok(Appended {
                package: Some(_),
                ..
            })
        ) {
            lease.release().await;
        }
        result
    }

    async fn append_leased<S>(
        &self,
        slot: UploadSlot,
        row: &upload::Model,
        lease: &Lease,
        body: S,
        checksum: Option<Checksum>,
    ) -> Result<Appended>
    where
        S: Stream<Item = Result<Bytes>> + Send + Unpin + 'static,
    {
        let offset = row.received_bytes as u64;
        let remaining = row.length as u64 - offset;
        let path = upload_part(&row.id, offset);
        let hasher = checksum
            .as_ref()
            .map(|c| Arc::new(std::sync::Mutex::new(c.algorithm.hasher())));
        let hashing = hasher.clone();
        let state = lease.state.clone();
        let body = body
            .inspect_ok(move |chunk| {
                state.touch();
                if let Some(h) = &hashing {
                    h.lock().expect("not poisoned").update(chunk);
                }
            })
            // A takeover ends the body here; what arrived is kept below.
            .take_until(Box::pin(lease.state.cancel.clone().cancelled_owned()));
        let written = self
            .store()
            .write_part(&path, body, remaining, checksum.is_none())
            .await
            .map_err(|e| match e {
                Error::UploadTooLarge { .. } => Error::invalid(format!(
                    "the PATCH carries more than the {remaining} bytes left of the announced Upload-Length"
                )),
                e => e,
            })?;
        if let (Some(checksum), Some(hasher), None) = (&checksum, hasher, &written.cut) {
            let actual = hasher.lock().expect("not poisoned").finalize_reset();
            if *actual != *checksum.expected {
                self.discard(&path).await;
                return Err(Error::ChecksumMismatch(format!(
                    "the PATCH's {} does not match Upload-Checksum; its bytes were discarded",
                    checksum.algorithm.name()
                )));
            }
        }
        let now = Utc::now();
        let mut expires_at = row.expires_at;
        let complete = offset + written.len == row.length as u64;
        if written.len > 0 {
            expires_at = self.expires_from(now);
            let part = upload_part::Model {
                upload_id: row.id.clone(),
                start: to_i64(offset)?,
                length: to_i64(written.len)?,
                object_path: path.to_string(),
            };
            let committed =
                db::uploads::commit_part(&self.db, &lease.id, part, expires_at, !complete).await;
            if !matches!(committed, Ok(true)) {
                self.discard(&path).await;
                committed?;
                return Err(Error::UploadOffsetConflict(format!(
                    "upload {} moved on while this PATCH was sending (its lease expired); HEAD tells the offset",
                    row.id
                )));
            }
        }
        let start = offset;
        let offset = offset + written.len;
        if complete {
            lease.state.finishing.store(true, Ordering::Relaxed);
            // Every byte is here, even if the body then broke: store the package.
            let package = match self.finish_leased(slot, row, lease).await {
                Ok(package) => package,
                Err(e) => {
                    if failure_kind(&e).is_none() {
                        // Not stored, and not refused: the last part goes, so that
                        // HEAD sends the client back to resend it.
                        self.drop_stale_parts(&row.id, start).await?;
                    }
                    return Err(e);
                }
            };
            return Ok(Appended {
                offset,
                expires_at,
                package: Some(package),
            });
        }
        if let Some(cut) = written.cut {
            tracing::info!(upload = %row.id, offset, error = %cut, "resumable upload interrupted; its bytes are kept");
            return Err(cut);
        }
        if lease.state.cancel.is_cancelled() {
            tracing::info!(upload = %row.id, offset, "a quiet PATCH gave way to a new one; its bytes are kept");
            return Err(Error::UploadOffsetConflict(format!(
                "upload {} was taken over by a newer request after this one went quiet; {offset} bytes are kept",
                row.id
            )));
        }
        Ok(Appended {
            offset,
            expires_at,
            package: None,
        })
    }

    /// Asks the request holding the upload to give way, and waits for it: a
    /// client that reconnects after a cut finds its old, half-open request
    /// still holding the lease. A holder whose client is still sending keeps it.
    async fn take_over(&self, id: &str, offset: u64) -> Result<Lease> {
        let deadline = tokio::time::Instant::now() + TAKEOVER_WAIT;
        while tokio::time::Instant::now() < deadline {
            // Asked again each round: a holder declines while its client still sends.
            db::uploads::request_takeover(&self.db, id, to_i64(offset)?).await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Some(lease) = Lease::acquire(&self.db, id, offset).await? {
                return Ok(lease);
            }
            let row = db::uploads::find(&self.db, id).await?;
            if let Some(row) = row.filter(|r| r.received_bytes as u64 != offset) {
                return Err(Error::UploadOffsetConflict(format!(
                    "upload {id} moved on to byte {} while this PATCH waited (the request before it stored what it had); resume from there",
                    row.received_bytes
                )));
            }
        }
        Err(Error::UploadOffsetConflict(format!(
            "another request is writing to upload {id}; retry after it ends (HEAD tells the offset)"
        )))
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

    /// Removes parts at or past `offset`, left by a request that stored the
    /// last part but not the package.
    async fn drop_stale_parts(&self, id: &str, offset: u64) -> Result<()> {
        for part in db::uploads::parts_from(&self.db, id, to_i64(offset)?).await? {
            self.store()
                .delete_path(&Path::from(part.object_path.as_str()))
                .await?;
            db::uploads::delete_part(&self.db, id, part.start).await?;
        }
        Ok(())
    }

    /// Ingests the parts as one file. A refusal (bad package, conflict,
    /// digest mismatch) is final and recorded; after any other failure the
    /// caller drops the last part, for the client to send again.
    async fn finish_leased(
        &self,
        slot: UploadSlot,
        row: &upload::Model,
        lease: &Lease,
    ) -> Result<package::Model> {
        let parts = db::uploads::parts(&self.db, &row.id).await?;
        let mut expected = 0;
        for part in &parts {
            if part.start != expected {
                return Err(Error::internal(format!(
                    "upload {} has a gap at byte {expected}",
                    row.id
                )));
            }
            expected += part.length;
        }
        if expected != row.length {
            return Err(Error::internal(format!(
                "upload {} has {expected} of {} bytes in its parts",
                row.id, row.length
            )));
        }
        let store = self.store().clone();
        let body: BoxStream<'static, Result<Bytes>> = futures::stream::iter(parts)
            .then(move |part| {
                let store = store.clone();
                async move {
                    let object = store.get(&Path::from(part.object_path), None).await?;
                    Ok::<_, Error>(object.into_stream().map_err(Error::from))
                }
            })
            .try_flatten()
            .boxed();
        let declared_type = row
            .declared_type
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(Error::internal)?;
        let upload = Submission {
            client_name: Some(row.file_name.clone()),
            declared_type,
            expected_sha1: row.sha1.clone(),
            expected_sha256: row.sha256.clone(),
            ..Submission::default()
        };
        match self
            .packages
            .ingest(slot, body, upload, self.max_size)
            .await
        {
            Ok(ingested) => {
                let expires_at = self.expires_from(Utc::now());
                let finished = db::uploads::finish(
                    &self.db,
                    &row.id,
                    &lease.id,
                    row.length,
                    ingested.package.id,
                    expires_at,
                )
                .await?;
                if !finished {
                    return Err(lost_lease(&row.id));
                }
                self.remove_objects(&row.id).await;
                tracing::info!(upload = %row.id, id = ingested.package.id, file = %ingested.package.file_name, outcome = ?ingested.outcome, "resumable upload stored");
                Ok(ingested.package)
            }
            Err(e) => {
                if let Some(kind) = failure_kind(&e) {
                    if !db::uploads::fail(&self.db, &row.id, &lease.id, kind, &e.to_string())
                        .await?
                    {
                        return Err(lost_lease(&row.id));
                    }
                    self.remove_objects(&row.id).await;
                    tracing::info!(upload = %row.id, error = %e, "resumable upload refused; its bytes are removed");
                }
                Err(e)
            }
        }
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

    /// Removes expired uploads and their bytes; returns how many and the
    /// bytes freed. Safe to run on every replica at once: each upload is
    /// claimed by its lease first.
    pub async fn sweep_expired(&self) -> Result<(u64, u64)> {
        let (mut uploads, mut bytes) = (0, 0);
        loop {
            let now = Utc::now();
            let batch = db::uploads::expired(&self.db, now, SWEEP_BATCH).await?;
            let last = (batch.len() as u64) < SWEEP_BATCH;
            for row in batch {
                let lease = Uuid::new_v4().to_string();
                let until = now + lease_ttl();
                if !db::uploads::claim_expired(&self.db, &row.id, &lease, now, until).await? {
                    continue;
                }
                let (_, freed) = self.store().delete_upload_parts(&row.id).await?;
                db::uploads::delete(&self.db, &row.id).await?;
                uploads += 1;
                bytes += freed;
                tracing::info!(upload = %row.id, freed, "expired upload removed");
            }
            if last {
                return Ok((uploads, bytes));
            }
        }
    }

    async fn remove_objects(&self, id: &str) {
        if let Err(e) = self.store().delete_upload_parts(id).await {
            tracing::warn!(upload = %id, error = %e, "removing an upload's parts failed; the expiry sweep retries");
        }
    }

    async fn discard(&self, path: &Path) {
        if let Err(e) = self.store().delete_path(path).await {
            tracing::warn!(%path, error = %e, "removing a refused part failed; the expiry sweep retries");
        }
    }
}

fn lease_ttl() -> chrono::Duration {
    chrono::Duration::from_std(LEASE_TTL).expect("a small duration")
}

fn to_i64(n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::invalid(format!("{n} bytes is out of range")))
}

/// Refusals that no retry can change, recorded on the upload.
fn failure_kind(e: &Error) -> Option<&'static str> {
    match e {
        Error::IllegalArgument(_) => Some("invalid"),
        Error::PackageConflict(_) => Some("conflict"),
        Error::ChecksumMismatch(_) => Some("checksum"),
        Error::UploadTooLarge { .. } => Some("invalid"),
        _ => None,
    }
}

fn lost_lease(id: &str) -> Error {
    Error::UploadOffsetConflict(format!(
        "upload {id} was taken over by another request while this one stored it; HEAD tells where it stands"
    ))
}

/// The right to write to one upload, renewed in the background while held.
struct Lease {
    db: DatabaseConnection,
    upload_id: String,
    id: String,
    state: Arc<LeaseState>,
    keeper: tokio::task::JoinHandle<()>,
}

/// What the lease's keeper and its holder share.
struct LeaseState {
    /// When the holder's client last sent bytes (ms since `since`).
    last_activity: AtomicU64,
    since: std::time::Instant,
    /// Set while the package is being stored: no takeover then.
    finishing: AtomicBool,
    /// Fired when the holder must give way.
    cancel: CancellationToken,
}

impl LeaseState {
    fn touch(&self) {
        self.last_activity
            .store(self.since.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_activity.load(Ordering::Relaxed));
        self.since.elapsed().saturating_sub(last)
    }
}

impl Lease {
    async fn acquire(
        db: &DatabaseConnection,
        upload_id: &str,
        offset: u64,
    ) -> Result<Option<Self>> {
        let id = Uuid::new_v4().to_string();
        let now = Utc::now();
        if !db::uploads::acquire(db, upload_id, to_i64(offset)?, &id, now, now + lease_ttl())
            .await?
        {
            return Ok(None);
        }
        let state = Arc::new(LeaseState {
            last_activity: AtomicU64::new(0),
            since: std::time::Instant::now(),
            finishing: AtomicBool::new(false),
            cancel: CancellationToken::new(),
        });
        let keeper = tokio::spawn(keep(
            db.clone(),
            upload_id.to_string(),
            id.clone(),
            state.clone(),
        ));
        Ok(Some(Self {
            db: db.clone(),
            upload_id: upload_id.to_string(),
            id,
            state,
            keeper,
        }))
    }

    async fn release(self) {
        self.keeper.abort();
        if let Err(e) = db::uploads::release(&self.db, &self.upload_id, &self.id).await {
            tracing::warn!(upload = %self.upload_id, error = %e, "releasing an upload lease; it expires by itself");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.keeper.abort();
    }
}

/// Renews the lease while it is held, and gives way to a takeover request
/// when the holder's client has gone quiet.
async fn keep(db: DatabaseConnection, upload_id: String, lease: String, state: Arc<LeaseState>) {
    let mut tick = tokio::time::interval(TAKEOVER_POLL);
    tick.tick().await;
    let renew_every = (LEASE_TTL.as_secs() / 3 / TAKEOVER_POLL.as_secs()).max(1);
    for n in 1u64.. {
        tick.tick().await;
        if n % renew_every == 0 {
            match db::uploads::renew(&db, &upload_id, &lease, Utc::now() + lease_ttl()).await {
                Ok(true) => {}
                Ok(false) => {
                    state.cancel.cancel();
                    return;
                }
                Err(e) => {
                    tracing::warn!(upload = %upload_id, error = %e, "renewing an upload lease")
                }
            }
        }
        if state.finishing.load(Ordering::Relaxed) {
            continue;
        }
        match db::uploads::takeover_requested(&db, &upload_id, &lease).await {
            Ok(Some(false)) | Err(_) => {}
            Ok(Some(true)) if state.quiet_for() >= QUIET_BEFORE_TAKEOVER => {
                state.cancel.cancel();
                return;
            }
            Ok(Some(true)) => {
                if let Err(e) = db::uploads::decline_takeover(&db, &upload_id, &lease).await {
                    tracing::warn!(upload = %upload_id, error = %e, "declining a takeover");
                }
            }
            // Lost (expired and taken): stop writing.
            Ok(None) => {
                state.cancel.cancel();
                return;
            }
        }
    }
}
