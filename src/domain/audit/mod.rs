//! The audit log: every change and every refused attempt, with who, what,
//! when, from where, the trace id and the outcome. Bounded: changes go
//! through a bounded queue to one writer (`writer`), which sheds when it
//! cannot keep up, counting and recording what it shed; refused attempts are
//! aggregated per source and kind per time window (`noise`), so that the table
//! grows with sources × windows, not with requests.

mod noise;
mod receipt;
mod writer;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::audit_event;
use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};

use crate::config::Secret;
use crate::db;
pub use crate::db::audit::Filter;
use crate::error::Result;
use crate::metrics::METRICS;
use noise::Noise;
pub use receipt::{Receipt, StoredPackage};
use writer::{Entry, Shed};

/// How much the audit log holds in memory and keeps apart.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Events waiting for the writer; past this, events are shed (and counted).
    pub queue: usize,
    /// Refused attempts of one kind from one source within a window are one event.
    pub window: Duration,
    /// Sources (address, name or token, action, status) kept apart per window;
    /// the rest are aggregated together, per outcome.
    pub sources: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            queue: 10_000,
            window: Duration::from_secs(60),
            sources: 256,
        }
    }
}

#[derive(Clone)]
pub struct AuditLog {
    db: DatabaseConnection,
    queue: mpsc::Sender<Entry>,
    noise: Arc<Mutex<Noise>>,
    shed: Arc<Mutex<Shed>>,
}

/// Who did something: a user, perhaps through one of their tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub token: Option<i64>,
}

/// A bearer token a refused request presented: its start, to name it, and
/// its hash, to find its id when it is a known (revoked, expired) token.
/// Never the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedToken {
    pub hint: String,
    hash: String,
}

impl PresentedToken {
    pub fn new(secret: &Secret) -> Self {
        let secret = secret.expose();
        let (marker, rest) = match secret.strip_prefix(super::tokens::TOKEN_PREFIX) {
            Some(rest) => (super::tokens::TOKEN_PREFIX, rest),
            None => ("", secret),
        };
        // A few characters of 40 random ones name a token and reveal nothing
        // useful; of something short (a password pasted by mistake?), none.
        let hint = if rest.chars().count() >= 16 {
            format!("{marker}{}…", clip(rest, 4))
        } else {
            format!("{marker}… ({} characters)", rest.chars().count())
        };
        Self {
            hint,
            hash: super::tokens::hash(secret),
        }
    }
}

impl std::fmt::Debug for PresentedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hint)
    }
}

/// What became of a request, as the log says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The client's doing: 4xx.
    Refused,
    /// Ours: 5xx.
    Failed,
    /// Not answered as a success (mostly: the client hung up, 499), but
    /// what it sent was stored.
    Stored,
    /// A summary of events the log could not keep up with.
    Shed,
}

impl Outcome {
    pub fn of(status: u16, stored: bool) -> Self {
        match status {
            _ if stored && status >= 400 => Self::Stored,
            500.. => Self::Failed,
            400.. => Self::Refused,
            _ => Self::Success,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Refused => "refused",
            Self::Failed => "failed",
            Self::Stored => "stored",
            Self::Shed => "shed",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: String,
    pub target: String,
    pub status: u16,
    pub address: String,
    /// This request's own trace id: never one a client chose.
    pub trace_id: String,
    /// The trace id the client sent (`traceparent`), if any.
    pub trace_link: Option<String>,
    /// The bearer token a refused attempt presented.
    pub presented: Option<PresentedToken>,
    /// The package the request stored.
    pub package: Option<StoredPackage>,
}

/// At most `max` characters, control characters replaced: what the log
/// keeps of what a client sent.
pub fn clip(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The row of an event: every field clipped to its column.
fn row(event: &Event, count: i64) -> audit_event::Model {
    let package = event.package.as_ref();
    audit_event::Model {
        id: 0,
        at: event.at,
        actor: clip(&event.actor.name, 128),
        token_id: event.actor.token,
        action: clip(&event.action, 64),
        target: clip(&event.target, 256),
        outcome: Outcome::of(event.status, package.is_some())
            .as_str()
            .to_string(),
        status: i32::from(event.status),
        address: clip(&event.address, 128),
        trace_id: clip(&event.trace_id, 32),
        count,
        last_at: None,
        token_hint: event.presented.as_ref().map(|t| clip(&t.hint, 32)),
        trace_link: event.trace_link.as_deref().map(|t| clip(t, 32)),
        package_id: package.map(|p| p.id),
        package_file: package.map(|p| clip(&p.file_name, 255)),
        package_sha1: package.map(|p| clip(&p.sha1, 40)),
    }
}

impl AuditLog {
    /// The log, and its writer running in a task of its own.
    pub fn new(db: DatabaseConnection) -> Self {
        Self::with_limits(db, Limits::default())
    }

    pub fn with_limits(db: DatabaseConnection, limits: Limits) -> Self {
        // Shown at 0 before anything is shed.
        for kind in ["change", "refusal"] {
            METRICS.audit_events_shed.with_label_values(&[kind]);
        }
        let (queue, rx) = mpsc::channel(limits.queue.max(1));
        let log = Self {
            db,
            queue,
            noise: Arc::new(Mutex::new(Noise::new(limits.window, limits.sources))),
            shed: Arc::default(),
        };
        tokio::spawn(writer::run(
            log.db.clone(),
            rx,
            log.noise.clone(),
            log.shed.clone(),
        ));
        log
    }

    /// Records a change (or an authenticated request's failure): queued for
    /// the writer, or, when the queue is full, shed and counted.
    pub fn record(&self, event: Event) {
        let token_hash = event.presented.as_ref().map(|t| t.hash.clone());
        let entry = Entry::Change {
            row: row(&event, 1),
            token_hash,
        };
        if self.queue.try_send(entry).is_err() {
            self.shed("change", event.at);
        }
    }

    /// Records a refused attempt: the first of its kind from its source in a
    /// window is written as it is; the rest only add to its count.
    pub fn refused(&self, event: Event) {
        let mut noise = self.noise.lock().expect("not poisoned");
        let Some((serial, event)) = noise.note(event) else {
            return;
        };
        let entry = Entry::First {
            serial,
            row: row(&event, 1),
            token_hash: event.presented.as_ref().map(|t| t.hash.clone()),
        };
        // Under the lock: the writer, closing the window, sees the first
        // event before the count that follows it.
        if self.queue.try_send(entry).is_err() {
            drop(noise);
            self.shed("refusal", event.at);
        }
    }

    fn shed(&self, kind: &str, at: DateTime<Utc>) {
        METRICS.audit_events_shed.with_label_values(&[kind]).inc();
        self.shed.lock().expect("not poisoned").note(kind, at);
    }

    /// Waits until everything recorded so far is written, the open
    /// aggregation windows included (at shutdown).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.queue.send(Entry::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    pub async fn list(
        &self,
        filter: &Filter,
        page: u64,
        size: u64,
    ) -> Result<(Vec<audit_event::Model>, u64)> {
        Ok(db::audit::list(&self.db, filter, page, size).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes() {
        assert_eq!(Outcome::of(200, false), Outcome::Success);
        assert_eq!(Outcome::of(204, true), Outcome::Success);
        assert_eq!(Outcome::of(401, false), Outcome::Refused);
        assert_eq!(Outcome::of(499, false), Outcome::Refused);
        assert_eq!(Outcome::of(499, true), Outcome::Stored);
        assert_eq!(Outcome::of(507, false), Outcome::Failed);
        assert_eq!(clip("ééé", 2), "éé");
        assert_eq!(clip("a\nb", 9), "a?b");
    }

    #[test]
    fn a_presented_token_is_named_not_kept() {
        let secret = "depot_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
        let presented = PresentedToken::new(&Secret::new(secret));
        assert_eq!(presented.hint, "depot_AbCd…");
        assert_eq!(format!("{presented:?}"), "depot_AbCd…");
        assert_ne!(presented.hash, secret);
        let short = PresentedToken::new(&Secret::new("hunter2"));
        assert_eq!(short.hint, "… (7 characters)");
    }
}

#[cfg(test)]
mod db_tests;
