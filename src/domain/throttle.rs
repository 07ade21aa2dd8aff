//! Budgets for failed logins, per user name and client address and per
//! client address: a guesser is refused (429) once either is spent, while the
//! same user logging in from elsewhere, or anyone from elsewhere, is not.
//!
//! Each budget is a GCRA bucket: one instant per key (when the bucket will be
//! full again), so a table of thousands of keys stays small. Only attempts
//! that need Argon2 are charged, and a success pays its charge back. Keys are
//! hashed (a name can be long) and tables are bounded: when one is full of
//! keys still in debt, new keys share one bucket, which throttles a flood from
//! many addresses together instead of growing without end.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::Rate;

/// The default budgets: 10 failures per user name and address, then one per
/// 6 s; 30 per address, then one per 2 s.
pub const PER_USER: Rate = Rate::new(10, Duration::from_secs(60));
pub const PER_ADDRESS: Rate = Rate::new(30, Duration::from_secs(60));

/// Keys per table; at ~40 bytes a key, about 2.5 MiB each.
const MAX_KEYS: usize = 65_536;

#[derive(Clone)]
pub struct Throttle {
    inner: Arc<Inner>,
}

struct Inner {
    keys: RandomState,
    tables: Mutex<[Table; 2]>,
}

/// The tables: per user name and address, then per address.
const PAIR: usize = 0;

struct Table {
    rate: Rate,
    /// Key → when its bucket is full again (GCRA's theoretical arrival time).
    full_at: HashMap<u64, Instant>,
    /// The bucket of the keys that found the table full.
    overflow: Instant,
    max_keys: usize,
}

/// Where an attempt was charged: a key, or the shared overflow bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Key(u64),
    Overflow,
}

/// A login attempt admitted and charged to both budgets; `succeeded` pays
/// the charge back. Dropped without it, the failure counts.
pub struct Attempt {
    throttle: Throttle,
    slots: [Option<Slot>; 2],
}

impl Throttle {
    pub fn new(per_user: Rate, per_address: Rate) -> Self {
        Self::with_max_keys(per_user, per_address, MAX_KEYS)
    }

    fn with_max_keys(per_user: Rate, per_address: Rate, max_keys: usize) -> Self {
        let now = Instant::now();
        let table = |rate| Table {
            rate,
            full_at: HashMap::new(),
            overflow: now,
            max_keys,
        };
        Self {
            inner: Arc::new(Inner {
                keys: RandomState::new(),
                tables: Mutex::new([table(per_user), table(per_address)]),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, [Table; 2]> {
        self.inner.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn keys(&self, user: &str, from: IpAddr) -> [u64; 2] {
        let address = client_key(from);
        [
            self.inner.keys.hash_one((user, address)),
            self.inner.keys.hash_one(address),
        ]
    }

    /// How long `user` from `from` must wait before an attempt is admitted;
    /// zero when one would be now. Charges nothing.
    pub fn wait(&self, user: &str, from: IpAddr, now: Instant) -> Duration {
        let keys = self.keys(user, from);
        let tables = self.lock();
        (0..2)
            .map(|i| tables[i].wait(tables[i].peek(keys[i]), now))
            .max()
            .unwrap_or_default()
    }

    /// Admits and charges an attempt, or says how long to wait.
    pub fn begin(&self, user: &str, from: IpAddr, now: Instant) -> Result<Attempt, Duration> {
        let keys = self.keys(user, from);
        let mut tables = self.lock();
        let slots = [0, 1].map(|i| tables[i].slot(keys[i], now));
        let wait = (0..2)
            .map(|i| tables[i].wait(slots[i], now))
            .max()
            .unwrap_or_default();
        if !wait.is_zero() {
            return Err(wait);
        }
        for (table, slot) in tables.iter_mut().zip(slots) {
            if let Some(slot) = slot {
                table.charge(slot, now);
            }
        }
        Ok(Attempt {
            throttle: self.clone(),
            slots,
        })
    }

    /// Keys held now, in both tables (for tests of the bound).
    pub fn len(&self) -> usize {
        self.lock().iter().map(|t| t.full_at.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Attempt {
    /// The password was right: this user and address start afresh, and the
    /// address gets its charge back.
    pub fn succeeded(self) {
        let mut tables = self.throttle.lock();
        if let Some(Slot::Key(key)) = self.slots[PAIR] {
            tables[PAIR].full_at.remove(&key);
        }
        for (table, slot) in tables.iter_mut().zip(self.slots) {
            if let Some(slot) = slot {
                table.refund(slot);
            }
        }
    }
}

impl Table {
    /// `None` when unlimited.
    fn peek(&self, key: u64) -> Option<Slot> {
        if self.rate.is_unlimited() {
            None
        } else if self.full_at.contains_key(&key) || self.full_at.len() < self.max_keys {
            Some(Slot::Key(key))
        } else {
            Some(Slot::Overflow)
        }
    }

    /// Like `peek`, making room for the key first when the table is full.
    fn slot(&mut self, key: u64, now: Instant) -> Option<Slot> {
        if !self.rate.is_unlimited()
            && self.full_at.len() >= self.max_keys
            && !self.full_at.contains_key(&key)
        {
            // Full buckets are as good as absent.
            self.full_at.retain(|_, at| *at > now);
        }
        self.peek(key)
    }

    fn full_at(&self, slot: Slot) -> Option<Instant> {
        match slot {
            Slot::Key(key) => self.full_at.get(&key).copied(),
            Slot::Overflow => Some(self.overflow),
        }
    }

    fn wait(&self, slot: Option<Slot>, now: Instant) -> Duration {
        let Some(full_at) = slot.and_then(|s| self.full_at(s)) else {
            return Duration::ZERO;
        };
        // Admitted while one more charge keeps the debt within the period.
        let after = full_at.max(now) + self.rate.interval();
        after.saturating_duration_since(now + self.rate.period)
    }

    fn charge(&mut self, slot: Slot, now: Instant) {
        let after = self.full_at(slot).unwrap_or(now).max(now) + self.rate.interval();
        match slot {
            Slot::Key(key) => {
                self.full_at.insert(key, after);
            }
            Slot::Overflow => self.overflow = after,
        }
    }

    fn refund(&mut self, slot: Slot) {
        let interval = self.rate.interval();
        let at = match slot {
            Slot::Key(key) => self.full_at.get_mut(&key),
            Slot::Overflow => Some(&mut self.overflow),
        };
        if let Some(at) = at {
            *at = at.checked_sub(interval).unwrap_or(*at);
        }
    }
}

/// The address a budget belongs to: an IPv6 client usually holds a whole
/// /64, so that is one address here.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::from(octets)
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    fn throttle(user: u32, address: u32) -> Throttle {
        let minute = Duration::from_secs(60);
        Throttle::new(Rate::new(user, minute), Rate::new(address, minute))
    }

    #[test]
    fn a_guesser_is_refused_and_others_are_not() {
        let t = throttle(3, 10);
        let now = Instant::now();
        for _ in 0..3 {
            drop(t.begin("ops", A, now).unwrap());
        }
        let wait = t.begin("ops", A, now).err().unwrap();
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20));
        assert_eq!(t.wait("ops", A, now), wait);
        // The same user from elsewhere, another user from here: admitted.
        t.begin("ops", B, now).unwrap().succeeded();
        drop(t.begin("dev", A, now).unwrap());
        // One interval later, one more guess.
        let later = now + Duration::from_secs(20);
        drop(t.begin("ops", A, later).unwrap());
        assert!(t.begin("ops", A, later).is_err());
    }

    #[test]
    fn an_address_spraying_names_is_refused() {
        let t = throttle(3, 5);
        let now = Instant::now();
        for i in 0..5 {
            drop(t.begin(&format!("user{i}"), A, now).unwrap());
        }
        assert!(t.begin("someone-else", A, now).is_err());
        assert!(t.begin("someone-else", B, now).is_ok());
    }

    #[test]
    fn success_pays_back_and_resets_the_user() {
        let t = throttle(2, 3);
        let now = Instant::now();
        drop(t.begin("ops", A, now).unwrap());
        t.begin("ops", A, now).unwrap().succeeded();
        // The pair is fresh again; the address has one failure left of three.
        drop(t.begin("ops", A, now).unwrap());
        drop(t.begin("ops", A, now).unwrap());
        assert!(t.begin("ops", A, now).is_err());
        assert!(
            t.begin("dev", A, now).is_err(),
            "the address spent its three"
        );
    }

    #[test]
    fn unlimited_charges_nothing() {
        let t = Throttle::new(Rate::UNLIMITED, Rate::UNLIMITED);
        for _ in 0..100 {
            drop(t.begin("ops", A, Instant::now()).unwrap());
        }
        assert!(t.is_empty());
    }

    #[test]
    fn tables_stay_bounded_and_overflow_shares_a_bucket() {
        let minute = Duration::from_secs(60);
        let t = Throttle::with_max_keys(Rate::new(2, minute), Rate::new(2, minute), 4);
        let now = Instant::now();
        for i in 0..4u8 {
            let ip = IpAddr::from([10, 1, 0, i]);
            drop(t.begin("u", ip, now).unwrap());
        }
        assert_eq!(t.len(), 8);
        // Full of keys in debt: newcomers share the overflow bucket (two failures).
        for i in 4..6u8 {
            drop(t.begin("u", IpAddr::from([10, 1, 0, i]), now).unwrap());
        }
        assert!(t.begin("u", IpAddr::from([10, 1, 0, 9]), now).is_err());
        assert_eq!(t.len(), 8);
        // Once the old debts are paid, their keys make room.
        let later = now + Duration::from_secs(120);
        drop(t.begin("u", IpAddr::from([10, 1, 0, 9]), later).unwrap());
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_key(mapped), A);
    }
}
