//! Headers already used, so that a captured one cannot be sent again while
//! its `ts` still allows it. Keyed by a digest of the header's ciphertext
//! (PKCS#1 v1.5 encryption is randomised: the SDKs encrypt afresh for every
//! request, even two in the same second), kept until the header would be
//! refused as expired anyway. Bounded: when full of live entries, the one
//! nearest its expiry makes room (it is the least useful to a replayer).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Entries at most: about 80 bytes each, some 5 MiB.
pub const MAX_ENTRIES: usize = 65_536;

pub struct ReplayCache {
    inner: Mutex<Inner>,
    max: usize,
}

#[derive(Default)]
struct Inner {
    until: HashMap<[u8; 32], i64>,
    /// (until, digest), to drop the expired and the nearest to expiry.
    by_expiry: BTreeSet<(i64, [u8; 32])>,
}

impl Default for ReplayCache {
    fn default() -> Self {
        Self::with_capacity(MAX_ENTRIES)
    }
}

impl ReplayCache {
    pub fn with_capacity(max: usize) -> Self {
        Self {
            inner: Mutex::default(),
            max: max.max(1),
        }
    }

    /// Records `digest` as used until `until` (Unix seconds); `false` when
    /// it was already, i.e. this is a replay.
    pub fn first_use(&self, digest: [u8; 32], until: i64, now: i64) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(&(at, d)) = inner.by_expiry.first() {
            if at >= now {
                break;
            }
            inner.by_expiry.pop_first();
            inner.until.remove(&d);
        }
        if inner.until.contains_key(&digest) {
            return false;
        }
        if inner.until.len() >= self.max
            && let Some((_, d)) = inner.by_expiry.pop_first()
        {
            inner.until.remove(&d);
        }
        inner.until.insert(digest, until);
        inner.by_expiry.insert((until, digest));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl ReplayCache {
        fn len(&self) -> usize {
            self.inner.lock().unwrap().until.len()
        }
    }

    #[test]
    fn a_header_is_used_once_until_it_expires() {
        let cache = ReplayCache::default();
        assert!(cache.first_use([1; 32], 100, 10));
        assert!(!cache.first_use([1; 32], 100, 50), "replayed");
        assert!(cache.first_use([2; 32], 100, 50));
        // Past its expiry, the entry is gone (the header is refused as expired).
        assert!(cache.first_use([3; 32], 300, 101));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn bounded_by_dropping_the_nearest_expiry() {
        let cache = ReplayCache::with_capacity(3);
        for (i, until) in [(1u8, 500), (2, 200), (3, 400)] {
            assert!(cache.first_use([i; 32], until, 0));
        }
        assert!(cache.first_use([4; 32], 600, 0));
        assert_eq!(cache.len(), 3);
        assert!(cache.first_use([2; 32], 200, 0), "the nearest was dropped");
        assert!(!cache.first_use([1; 32], 500, 0));
        assert!(!cache.first_use([4; 32], 600, 0));
    }
}
