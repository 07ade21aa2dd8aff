//! How many uploads depot receives at once: over all users, and per user.
//! Every upload holds a slot while its bytes arrive and are stored (the
//! ingest takes the slot as a parameter, so none runs without one); past
//! either bound it is refused at once with a clear answer, so slow clients
//! can hold at most the slots they were given, never the server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};
use crate::metrics::METRICS;

/// The bounds; `serve`'s `--max-uploads` and `--max-uploads-per-user`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadLimits {
    pub total: usize,
    pub per_user: usize,
}

impl Default for UploadLimits {
    /// As `Config::embedded`.
    fn default() -> Self {
        Self {
            total: 64,
            per_user: 8,
        }
    }
}

#[derive(Clone)]
pub struct UploadSlots {
    limits: UploadLimits,
    total: Arc<Semaphore>,
    per_user: Arc<Mutex<HashMap<String, usize>>>,
}

/// The right to receive one upload; given back when dropped.
#[must_use = "an upload holds its slot until it is stored"]
pub struct UploadSlot {
    _total: OwnedSemaphorePermit,
    user: String,
    per_user: Arc<Mutex<HashMap<String, usize>>>,
}

impl UploadSlots {
    pub fn new(limits: UploadLimits) -> Self {
        Self {
            limits,
            total: Arc::new(Semaphore::new(limits.total)),
            per_user: Arc::default(),
        }
    }

    /// A slot for an upload by `user`, or the reason there is none now.
    pub fn try_acquire(&self, user: &str) -> Result<UploadSlot> {
        let mut per_user = self.per_user.lock().expect("never poisoned");
        let held = per_user.get(user).copied().unwrap_or(0);
        if held >= self.limits.per_user {
            METRICS
                .uploads_refused
                .with_label_values(&["per_user"])
                .inc();
            return Err(Error::TooManyUploads(format!(
                "{user:?} is already sending {held} uploads, the most one user may send at once; \
                 retry when one has finished"
            )));
        }
        let total = self.total.clone().try_acquire_owned().map_err(|_| {
            METRICS.uploads_refused.with_label_values(&["total"]).inc();
            Error::ServerBusy(format!(
                "depot is receiving {} uploads, the most it takes at once; retry shortly",
                self.limits.total
            ))
        })?;
        per_user.insert(user.to_string(), held + 1);
        METRICS.upload_slots_in_use.inc();
        Ok(UploadSlot {
            _total: total,
            user: user.to_string(),
            per_user: self.per_user.clone(),
        })
    }

    /// Uploads being received now.
    pub fn in_use(&self) -> usize {
        self.limits.total - self.total.available_permits()
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        METRICS.upload_slots_in_use.dec();
        let mut per_user = self.per_user.lock().expect("never poisoned");
        if let Some(held) = per_user.get_mut(&self.user) {
            *held -= 1;
            // Users come and go: the map holds only those sending now.
            if *held == 0 {
                per_user.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(total: usize, per_user: usize) -> UploadSlots {
        UploadSlots::new(UploadLimits { total, per_user })
    }

    #[test]
    fn one_user_cannot_take_every_slot() {
        let slots = slots(4, 2);
        let a1 = slots.try_acquire("a").unwrap();
        let _a2 = slots.try_acquire("a").unwrap();
        assert!(matches!(
            slots.try_acquire("a"),
            Err(Error::TooManyUploads(_))
        ));
        // Others still get theirs.
        let _b1 = slots.try_acquire("b").unwrap();
        drop(a1);
        let _a3 = slots.try_acquire("a").unwrap();
        assert_eq!(slots.in_use(), 3);
    }

    #[test]
    fn the_total_bounds_all_users() {
        let slots = slots(2, 2);
        let _a = slots.try_acquire("a").unwrap();
        let _b = slots.try_acquire("b").unwrap();
        assert!(matches!(slots.try_acquire("c"), Err(Error::ServerBusy(_))));
        // A refusal takes nothing: "c" holds no slot.
        assert!(!slots.per_user.lock().unwrap().contains_key("c"));
    }

    #[test]
    fn slots_come_back_and_users_are_forgotten() {
        let slots = slots(2, 1);
        for _ in 0..10 {
            let slot = slots.try_acquire("a").unwrap();
            drop(slot);
        }
        assert_eq!(slots.in_use(), 0);
        assert!(slots.per_user.lock().unwrap().is_empty());
    }
}
