//! Argon2id, bounded: each hash costs ~19 MiB and tens of milliseconds of
//! one core, so at most one runs per core, whatever a flood of requests asks
//! for. The permit travels with the work into the blocking thread, so a client
//! that hangs up frees nothing until its hash is done.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};
use crate::metrics::METRICS;

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(Error::internal)
}

/// Constant-time by construction (argon2 compares digests in constant time).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Runs Argon2 work off the async workers, `bound` at a time.
#[derive(Clone)]
pub struct Hashers {
    permits: Arc<Semaphore>,
    load: Arc<Load>,
}

/// How many hashes run now and at most ever ran at once.
#[derive(Debug, Default)]
struct Load {
    bound: usize,
    running: AtomicUsize,
    peak: AtomicUsize,
}

/// What `Hashers::load` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashLoad {
    pub bound: usize,
    pub running: usize,
    pub peak: usize,
}

impl Hashers {
    pub fn new(bound: usize) -> Self {
        let bound = bound.max(1);
        Self {
            permits: Arc::new(Semaphore::new(bound)),
            load: Arc::new(Load {
                bound,
                ..Load::default()
            }),
        }
    }

    /// One per core.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// Waits for a turn. Dropping the future gives the place up; the permit,
    /// once held, is handed to `run`.
    pub async fn turn(&self) -> Result<OwnedSemaphorePermit> {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(Error::internal)
    }

    /// Runs `work` on a blocking thread holding `permit` until it returns,
    /// even if the caller stops waiting.
    pub async fn run<T: Send + 'static>(
        &self,
        permit: OwnedSemaphorePermit,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let load = self.load.clone();
        tokio::task::spawn_blocking(move || {
            let result = {
                let _running = Running::start(&load);
                work()
            };
            // Only now may another start.
            drop(permit);
            result
        })
        .await
        .map_err(Error::internal)
    }

    pub async fn hash(&self, password: &str) -> Result<String> {
        let password = password.to_owned();
        let permit = self.turn().await?;
        self.run(permit, move || hash_password(&password)).await?
    }

    pub fn load(&self) -> HashLoad {
        HashLoad {
            bound: self.load.bound,
            running: self.load.running.load(Ordering::SeqCst),
            peak: self.load.peak.load(Ordering::SeqCst),
        }
    }
}

/// Counts a hash for as long as it runs.
struct Running<'a>(&'a Load);

impl<'a> Running<'a> {
    fn start(load: &'a Load) -> Self {
        let now = load.running.fetch_add(1, Ordering::SeqCst) + 1;
        load.peak.fetch_max(now, Ordering::SeqCst);
        METRICS.password_hashes_running.inc();
        Running(load)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
        METRICS.password_hashes_running.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hashes_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "garbage"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashes_never_exceed_the_bound_even_when_callers_leave() {
        let hashers = Hashers::new(2);
        let hash = Arc::new(hash_password("correct horse").unwrap());
        let mut callers = Vec::new();
        for _ in 0..12 {
            let (hashers, hash) = (hashers.clone(), hash.clone());
            callers.push(tokio::spawn(async move {
                let permit = hashers.turn().await.unwrap();
                hashers
                    .run(permit, move || verify_password("wrong", &hash))
                    .await
            }));
        }
        // Every caller hangs up at once, most while their hash runs.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        callers.iter().for_each(|c| c.abort());
        while hashers.load().running > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let load = hashers.load();
        assert!(load.peak >= 1 && load.peak <= 2, "{load:?}");
    }
}
