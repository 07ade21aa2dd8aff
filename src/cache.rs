//! The one in-process cache depot keeps things in for a few seconds
//! (verified credentials and tokens, download lookups, presigned URLs):
//! entries expire after a time to live, the map is bounded, and an
//! invalidation also stops a value read before it from being cached after it.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    max_entries: usize,
    inner: Mutex<Inner<K, V>>,
}

struct Inner<K, V> {
    entries: HashMap<K, (V, Instant)>,
    /// Counts invalidations (see `generation`).
    generation: u64,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                generation: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        // A panic while holding the lock leaves nothing half-done worth keeping.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value cached under `key` in the last time to live.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.get_within(key, self.ttl)
    }

    /// The value cached under `key` in the last `max_age` (at most the time to live).
    pub fn get_within<Q>(&self, key: &Q, max_age: Duration) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let max_age = max_age.min(self.ttl);
        self.lock()
            .entries
            .get(key)
            .filter(|(_, at)| at.elapsed() < max_age)
            .map(|(v, _)| v.clone())
    }

    /// Changes a cached value in place, keeping its age.
    pub fn update<Q>(&self, key: &Q, change: impl FnOnce(&mut V))
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if let Some((v, _)) = self.lock().entries.get_mut(key) {
            change(v);
        }
    }

    pub fn insert(&self, key: K, value: V) {
        let mut inner = self.lock();
        self.insert_locked(&mut inner, key, value);
    }

    /// Taken before reading what will be cached: `insert_unless_invalidated`
    /// with it skips the value when an invalidation came in between.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    pub fn insert_unless_invalidated(&self, key: K, value: V, generation: u64) {
        let mut inner = self.lock();
        if inner.generation == generation {
            self.insert_locked(&mut inner, key, value);
        }
    }

    /// Drops the entries `stale` picks, after what they were read from changed.
    pub fn invalidate(&self, stale: impl Fn(&K, &V) -> bool) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.retain(|k, (v, _)| !stale(k, v));
    }

    fn insert_locked(&self, inner: &mut Inner<K, V>, key: K, value: V) {
        // Full: drop the expired entries, or everything if none are.
        if inner.entries.len() >= self.max_entries {
            let ttl = self.ttl;
            inner.entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if inner.entries.len() >= self.max_entries {
                inner.entries.clear();
            }
        }
        inner.entries.insert(key, (value, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_stay_bounded() {
        let cache = TtlCache::new(Duration::from_millis(50), 2);
        cache.insert("a".to_string(), 1);
        assert_eq!(cache.get("a"), Some(1));
        assert_eq!(cache.get_within("a", Duration::ZERO), None);
        cache.insert("b".to_string(), 2);
        cache.insert("c".to_string(), 3);
        // Full and nothing expired: cleared, then `c` inserted.
        assert_eq!((cache.get("a"), cache.get("c")), (None, Some(3)));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("c"), None);
    }

    #[test]
    fn invalidation_drops_entries_and_refuses_older_reads() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        cache.insert(1, "one");
        cache.insert(2, "two");
        let before = cache.generation();
        cache.invalidate(|k, _| *k == 1);
        assert_eq!((cache.get(&1), cache.get(&2)), (None, Some("two")));
        cache.insert_unless_invalidated(1, "stale", before);
        assert_eq!(cache.get(&1), None);
        cache.insert_unless_invalidated(1, "fresh", cache.generation());
        assert_eq!(cache.get(&1), Some("fresh"));
        cache.update(&1, |v| *v = "changed");
        assert_eq!(cache.get(&1), Some("changed"));
    }
}
