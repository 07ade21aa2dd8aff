//! Refused attempts, aggregated: per source and kind (address, name or
//! token, action, status) per time window, the first is written as it is
//! and the rest only counted, added to it when the window closes. At most
//! `sources` kinds are kept apart per window; past that, refusals are counted
//! together, per status class. So a window holds at most `sources + 3` events,
//! however many requests it saw.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Event;

/// What keeps two refusals apart.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Key {
    address: String,
    actor: String,
    token: Option<String>,
    action: String,
    status: u16,
}

impl Key {
    fn of(event: &Event) -> Self {
        Self {
            address: event.address.clone(),
            actor: event.actor.name.clone(),
            token: event.presented.as_ref().map(|t| t.hint.clone()),
            action: event.action.clone(),
            status: event.status,
        }
    }
}

/// The address, name and action of refusals beyond `sources` in a window.
pub const MORE_SOURCES: &str = "(more sources)";

struct Tally {
    serial: u64,
    first: Event,
    repeats: u64,
    last_at: DateTime<Utc>,
}

/// A kind of refusal whose window closed.
#[derive(Debug)]
pub struct Closed {
    /// Names the first event's row, once the writer wrote it.
    pub serial: u64,
    /// The first event, to write with the count should its row be missing.
    pub first: Event,
    /// Requests after the first.
    pub repeats: u64,
    pub last_at: DateTime<Utc>,
}

pub struct Noise {
    window: chrono::Duration,
    sources: usize,
    started: Option<DateTime<Utc>>,
    tallies: HashMap<Key, Tally>,
    closed: Vec<Closed>,
    serial: u64,
}

impl Noise {
    pub fn new(window: Duration, sources: usize) -> Self {
        Self {
            window: chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX),
            sources,
            started: None,
            tallies: HashMap::new(),
            closed: Vec::new(),
            serial: 0,
        }
    }

    /// Counts a refusal; the event to write now when it is the first of its
    /// kind in the window, with the serial that names it.
    pub fn note(&mut self, mut event: Event) -> Option<(u64, Event)> {
        self.roll(event.at, false);
        self.started.get_or_insert(event.at);
        let mut key = Key::of(&event);
        if !self.tallies.contains_key(&key) && self.tallies.len() >= self.sources {
            // Too many kinds to keep apart: one count per status class.
            event.address = MORE_SOURCES.into();
            event.actor = Default::default();
            event.presented = None;
            event.action = MORE_SOURCES.into();
            key = Key {
                address: MORE_SOURCES.into(),
                actor: String::new(),
                token: None,
                action: MORE_SOURCES.into(),
                status: event.status / 100 * 100,
            };
        }
        if let Some(tally) = self.tallies.get_mut(&key) {
            tally.repeats += 1;
            tally.last_at = tally.last_at.max(event.at);
            return None;
        }
        self.serial += 1;
        self.tallies.insert(
            key,
            Tally {
                serial: self.serial,
                first: event.clone(),
                repeats: 0,
                last_at: event.at,
            },
        );
        Some((self.serial, event))
    }

    /// Closes the window if it is over at `now` (or at once, with `all`);
    /// everything closed so far.
    pub fn take_closed(&mut self, now: DateTime<Utc>, all: bool) -> Vec<Closed> {
        self.roll(now, all);
        std::mem::take(&mut self.closed)
    }

    fn roll(&mut self, now: DateTime<Utc>, all: bool) {
        let over = self
            .started
            .is_some_and(|started| now >= started + self.window);
        if over || all {
            self.started = None;
            self.closed
                .extend(self.tallies.drain().map(|(_, t)| Closed {
                    serial: t.serial,
                    first: t.first,
                    repeats: t.repeats,
                    last_at: t.last_at,
                }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::audit::Actor;

    fn refusal(address: &str, status: u16, at: DateTime<Utc>) -> Event {
        Event {
            at,
            actor: Actor::default(),
            action: "POST unknown route".into(),
            target: "unknown route".into(),
            status,
            address: address.into(),
            trace_id: "t".into(),
            trace_link: None,
            presented: None,
            package: None,
        }
    }

    #[test]
    fn one_event_per_kind_and_window() {
        let mut noise = Noise::new(Duration::from_secs(60), 10);
        let t0 = Utc::now();
        assert!(noise.note(refusal("10.0.0.1", 404, t0)).is_some());
        for i in 1..1000 {
            let at = t0 + chrono::Duration::milliseconds(i);
            assert!(noise.note(refusal("10.0.0.1", 404, at)).is_none());
        }
        // Another source, another status: kept apart.
        assert!(noise.note(refusal("10.0.0.2", 404, t0)).is_some());
        assert!(noise.note(refusal("10.0.0.1", 401, t0)).is_some());
        assert!(noise.take_closed(t0, false).is_empty());
        let mut closed = noise.take_closed(t0 + chrono::Duration::seconds(60), false);
        closed.sort_by_key(|c| c.serial);
        let repeats: Vec<_> = closed.iter().map(|c| (c.serial, c.repeats)).collect();
        assert_eq!(repeats, [(1, 999), (2, 0), (3, 0)]);
        assert_eq!(closed[0].last_at, t0 + chrono::Duration::milliseconds(999));
        // A new window starts afresh.
        let later = t0 + chrono::Duration::seconds(61);
        assert!(noise.note(refusal("10.0.0.1", 404, later)).is_some());
    }

    #[test]
    fn sources_beyond_the_limit_are_counted_together() {
        let mut noise = Noise::new(Duration::from_secs(60), 3);
        let t0 = Utc::now();
        let written = (0..10_000)
            .filter_map(|i| noise.note(refusal(&format!("10.0.{}.{}", i / 256, i % 256), 401, t0)))
            .collect::<Vec<_>>();
        assert_eq!(written.len(), 4, "3 sources and one for the rest");
        assert_eq!(written[3].1.address, MORE_SOURCES);
        assert!(noise.note(refusal("10.9.9.9", 503, t0)).is_some());
        let closed = noise.take_closed(t0, true);
        assert_eq!(closed.len(), 5);
        assert_eq!(closed.iter().map(|c| c.repeats + 1).sum::<u64>(), 10_001);
    }
}
