//! The lease: the right of one request to write to one upload, kept alive by
//! a keeper task while the request runs, and handed over to a newer request
//! when the holder's client has gone quiet. The protocol's invariants and an
//! upload's life are in the parent module's documentation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::DatabaseConnection;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use uuid::Uuid;

use super::to_i64;
use crate::db;
use crate::db::uploads::LeaseStatus;
use crate::error::{Error, Result};

/// How long a lease lasts without renewal: a crashed replica's lease is
/// recognised as dead this long after its last renewal. Short, because a
/// client resuming after a crash waits it out; renewing is one UPDATE a
/// second per upload being written (bounded by the upload slots), and a
/// lease lost to a stalled database only costs its holder a 409 (every
/// commit is conditioned on the lease).
const LEASE_TTL: Duration = Duration::from_secs(8);
/// How often the keeper renews: many renewals fit in one `LEASE_TTL`, so a
/// slow round trip or a few do not lose the lease.
const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How often a lease holder looks for a takeover request.
const TAKEOVER_POLL: Duration = Duration::from_secs(1);
/// A holder whose client sent nothing this long gives way to a new PATCH:
/// after a network cut the old request may not notice for a whole idle timeout.
const QUIET_BEFORE_TAKEOVER: Duration = Duration::from_secs(2);
/// How long a PATCH waits for a quiet holder to give way: longer than a
/// lease lasts, so that a dead holder's lease (nobody answers the takeover
/// request) expires while the PATCH waits, which then takes it.
const TAKEOVER_WAIT: Duration = Duration::from_secs(LEASE_TTL.as_secs() + 2);
/// How long a PATCH waiting for a takeover sleeps between its attempts.
const TAKEOVER_RETRY: Duration = Duration::from_millis(200);

pub(super) fn lease_ttl() -> chrono::Duration {
    chrono::Duration::from_std(LEASE_TTL).expect("a small duration")
}

/// The right to write to one upload, renewed in the background while held.
pub(super) struct Lease {
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
    since: Instant,
    /// Set while the package is being stored: no takeover then.
    finishing: AtomicBool,
    /// Fired when the holder must stop writing: it gave way, or lost the lease.
    revoked: CancellationToken,
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
    /// Takes the lease of a live, unfinished upload that has `offset` bytes,
    /// if nobody holds it; `None` otherwise.
    pub(super) async fn acquire(
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
            since: Instant::now(),
            finishing: AtomicBool::new(false),
            revoked: CancellationToken::new(),
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

    /// Asks the request holding the upload to give way, and waits for it: a
    /// client that reconnects after a cut finds its old, half-open request
    /// still holding the lease. A holder whose client is still sending keeps it.
    pub(super) async fn take_over(
        db: &DatabaseConnection,
        upload_id: &str,
        offset: u64,
    ) -> Result<Self> {
        let deadline = tokio::time::Instant::now() + TAKEOVER_WAIT;
        while tokio::time::Instant::now() < deadline {
            // Asked again each round: a holder declines while its client still sends.
            db::uploads::request_takeover(db, upload_id, to_i64(offset)?).await?;
            tokio::time::sleep(TAKEOVER_RETRY).await;
            if let Some(lease) = Self::acquire(db, upload_id, offset).await? {
                return Ok(lease);
            }
            let Some(row) = db::uploads::find(db, upload_id).await? else {
                return Err(Error::NotFound(format!("upload {upload_id} is gone")));
            };
            if row.package_id.is_none() && row.expires_at <= Utc::now() {
                return Err(Error::UploadExpired(format!(
                    "upload {upload_id} expired at {}; start again",
                    row.expires_at.to_rfc3339()
                )));
            }
            if row.received_bytes as u64 != offset {
                return Err(Error::UploadOffsetConflict(format!(
                    "upload {upload_id} moved on to byte {} while this PATCH waited (the request before it stored what it had); resume from there",
                    row.received_bytes
                )));
            }
        }
        Err(Error::UploadOffsetConflict(format!(
            "another request is writing to upload {upload_id}; retry after it ends (HEAD tells the offset)"
        )))
    }

    /// The lease's id, which every write of its holder is conditioned on.
    pub(super) fn id(&self) -> &str {
        &self.id
    }

    /// Records that the holder's client sent bytes, for the keeper to tell a
    /// live client from a quiet one; call it on every chunk.
    pub(super) fn activity(&self) -> impl Fn() + Send + Sync + 'static {
        let state = self.state.clone();
        move || state.touch()
    }

    /// Completes when the holder must stop writing: it gave way to a newer
    /// request, or the lease was lost.
    pub(super) fn revoked(&self) -> WaitForCancellationFutureOwned {
        self.state.revoked.clone().cancelled_owned()
    }

    pub(super) fn is_revoked(&self) -> bool {
        self.state.revoked.is_cancelled()
    }

    /// Every byte is here and the package is being stored: the lease is
    /// still renewed, but takeover requests are left unanswered from now on.
    pub(super) fn begin_finishing(&self) {
        self.state.finishing.store(true, Ordering::Relaxed);
    }

    /// Gives the lease back (a failure only delays the next holder until the
    /// lease expires).
    pub(super) async fn release(self) {
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
    let renew_every = (RENEW_EVERY.as_secs() / TAKEOVER_POLL.as_secs()).max(1);
    for n in 1u64.. {
        tick.tick().await;
        if n % renew_every == 0 {
            match db::uploads::renew(&db, &upload_id, &lease, Utc::now() + lease_ttl()).await {
                Ok(true) => {}
                Ok(false) => {
                    state.revoked.cancel();
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
        match db::uploads::lease_status(&db, &upload_id, &lease).await {
            Ok(LeaseStatus::Held) | Err(_) => {}
            Ok(LeaseStatus::TakeoverRequested) if state.quiet_for() >= QUIET_BEFORE_TAKEOVER => {
                state.revoked.cancel();
                return;
            }
            Ok(LeaseStatus::TakeoverRequested) => {
                if let Err(e) = db::uploads::decline_takeover(&db, &upload_id, &lease).await {
                    tracing::warn!(upload = %upload_id, error = %e, "declining a takeover");
                }
            }
            // Lost (expired and taken): stop writing.
            Ok(LeaseStatus::Lost) => {
                state.revoked.cancel();
                return;
            }
        }
    }
}
