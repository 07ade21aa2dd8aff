//! Revocation everywhere at once. Every change to a credential (a password
//! changed, a user removed or demoted, a token revoked) moves the database's
//! credential epoch in its own transaction, whichever process makes it (a
//! replica, the CLI). Every server watches the epoch (polled every
//! `POLL_EVERY`, and woken at once by PostgreSQL's NOTIFY) and empties its
//! credential caches when it moves. Caches are trusted only while the watch
//! has read the epoch within `TRUST_FOR`, so a change made anywhere stops
//! being honoured everywhere within `REVOCATION_BOUND`; a lost watch connection
//! makes every request read the database until it is back (fail safe).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::tokens::Tokens;
use super::users::Users;
use crate::db::credentials::EpochWatch;
use crate::metrics::METRICS;

/// How often a server reads the epoch.
pub const POLL_EVERY: Duration = Duration::from_millis(200);
/// How long after its last read of the epoch a server trusts its caches.
pub const TRUST_FOR: Duration = Duration::from_millis(750);
/// A change made anywhere is honoured nowhere after this (documented).
pub const REVOCATION_BOUND: Duration = Duration::from_secs(1);
/// After a failed watch, how long before connecting again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

const _: () = assert!(TRUST_FOR.as_millis() < REVOCATION_BOUND.as_millis());
const _: () = assert!(POLL_EVERY.as_millis() < TRUST_FOR.as_millis());

/// When the caches it guards were last known to be current; lock-free, read
/// on every cached authentication.
#[derive(Debug)]
pub struct Freshness {
    origin: Instant,
    /// Milliseconds after `origin` of the last read that began then, plus
    /// one; 0 for never (a process that does not watch never trusts).
    synced: AtomicU64,
}

impl Default for Freshness {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            synced: AtomicU64::new(0),
        }
    }
}

impl Freshness {
    fn millis(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.origin).as_millis() as u64 + 1
    }

    /// Whether caches may answer now.
    pub fn is_trusted(&self) -> bool {
        match self.synced.load(Ordering::Acquire) {
            0 => false,
            at => {
                let now = self.millis(Instant::now());
                now.saturating_sub(at) < TRUST_FOR.as_millis() as u64
            }
        }
    }

    /// Every change committed before `read_began` has been applied.
    pub fn synced(&self, read_began: Instant) {
        self.synced
            .fetch_max(self.millis(read_began), Ordering::AcqRel);
    }
}

/// Watches the epoch for as long as it runs (`serve` spawns it), emptying the
/// credential caches of `users` and `tokens` when it moves.
pub async fn watch(users: Users, tokens: Tokens) {
    let mut last = None;
    loop {
        match EpochWatch::open(users.db()).await {
            Ok(mut watch) => {
                follow(&mut watch, &mut last, &users, &tokens).await;
                tracing::warn!(
                    "lost the credential watch; credentials are read from the database until it is back"
                );
            }
            Err(e) => tracing::warn!(
                error = %e,
                "cannot watch credential changes; credentials are read from the database meanwhile"
            ),
        }
        METRICS.credential_caches_trusted.set(0);
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

/// Reads the epoch until a read fails.
async fn follow(watch: &mut EpochWatch, last: &mut Option<i64>, users: &Users, tokens: &Tokens) {
    loop {
        let began = Instant::now();
        let epoch = match tokio::time::timeout(TRUST_FOR, watch.read()).await {
            Ok(Ok(epoch)) => epoch,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "reading the credential epoch failed");
                return;
            }
            Err(_) => {
                tracing::warn!("reading the credential epoch timed out");
                return;
            }
        };
        if *last != Some(epoch) {
            users.forget_all();
            tokens.forget_all();
            *last = Some(epoch);
        }
        users.freshness().synced(began);
        tokens.freshness().synced(began);
        METRICS.credential_caches_trusted.set(1);
        watch.wait(POLL_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_only_shortly_after_a_read() {
        let f = Freshness::default();
        assert!(!f.is_trusted(), "never synced");
        f.synced(Instant::now());
        assert!(f.is_trusted());
        let f = Freshness::default();
        std::thread::sleep(TRUST_FOR + Duration::from_millis(20));
        f.synced(f.origin);
        assert!(!f.is_trusted(), "synced too long ago");
    }
}
