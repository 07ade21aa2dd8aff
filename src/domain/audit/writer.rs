//! The one writer of the audit log: it takes queued events in batches, one
//! transaction per batch, adds the counts of closed aggregation windows to
//! their events, and records what was shed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::audit_event;
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};
use tokio::sync::{mpsc, oneshot};

use super::noise::{Closed, Noise};
use super::{Outcome, row};
use crate::db;
use crate::metrics::METRICS;

/// Events written per transaction, at most.
const BATCH: usize = 256;
/// How often closed windows and shed events are written.
const TICK: Duration = Duration::from_secs(1);

/// A row to insert: the serial of a first refusal, the event, the hash of
/// the token it presented.
type Row = (Option<u64>, audit_event::Model, Option<String>);

/// Puts a queued entry with the rows to insert or the flushes to answer.
fn sort(entry: Entry, rows: &mut Vec<Row>, flushes: &mut Vec<oneshot::Sender<()>>) {
    match entry {
        Entry::Change { row, token_hash } => rows.push((None, row, token_hash)),
        Entry::First {
            serial,
            row,
            token_hash,
        } => rows.push((Some(serial), row, token_hash)),
        Entry::Flush(done) => flushes.push(done),
    }
}

pub enum Entry {
    /// A change: written as it is.
    Change {
        row: audit_event::Model,
        token_hash: Option<String>,
    },
    /// The first refusal of its kind in a window; `serial` names it for the
    /// count that follows when the window closes.
    First {
        serial: u64,
        row: audit_event::Model,
        token_hash: Option<String>,
    },
    /// Write everything, close every window, then answer.
    Flush(oneshot::Sender<()>),
}

/// Events shed since the last summary.
#[derive(Debug, Default)]
pub struct Shed {
    changes: u64,
    refusals: u64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

impl Shed {
    pub fn note(&mut self, kind: &str, at: DateTime<Utc>) {
        match kind {
            "change" => self.changes += 1,
            _ => self.refusals += 1,
        }
        self.first = Some(self.first.map_or(at, |f| f.min(at)));
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
    }

    /// The summary event of what was shed, if anything was.
    fn summary(&mut self) -> Option<audit_event::Model> {
        let Shed {
            changes,
            refusals,
            first,
            last,
        } = std::mem::take(self);
        let total = changes + refusals;
        let first = first.filter(|_| total > 0)?;
        let mut row = row(
            &super::Event {
                at: first,
                actor: Default::default(),
                action: "audit.shed".into(),
                target: format!(
                    "{total} events shed ({changes} changes, {refusals} refused attempts): the audit log could not keep up"
                ),
                status: 503,
                address: String::new(),
                trace_id: format!("{:032x}", rand::random::<u128>()),
                trace_link: None,
                presented: None,
                package: None,
            },
            i64::try_from(total).unwrap_or(i64::MAX),
        );
        row.outcome = Outcome::Shed.as_str().into();
        row.last_at = last;
        Some(row)
    }
}

struct Writer {
    db: DatabaseConnection,
    noise: Arc<Mutex<Noise>>,
    shed: Arc<Mutex<Shed>>,
    /// The rows of first refusals whose window is still open: serial → id.
    firsts: HashMap<u64, i64>,
}

pub async fn run(
    db: DatabaseConnection,
    mut rx: mpsc::Receiver<Entry>,
    noise: Arc<Mutex<Noise>>,
    shed: Arc<Mutex<Shed>>,
) {
    let mut writer = Writer {
        db,
        noise,
        shed,
        firsts: HashMap::new(),
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            received = rx.recv_many(&mut batch, BATCH) => {
                if received == 0 {
                    // Every handle is gone: close the windows and stop.
                    writer.settle(&mut rx, true).await;
                    return;
                }
                writer.write(&mut rx, &mut batch).await;
            }
            _ = tick.tick() => writer.settle(&mut rx, false).await,
        }
    }
}

impl Writer {
    /// Writes `batch`, answering flushes in it once what came before them
    /// is written.
    async fn write(&mut self, rx: &mut mpsc::Receiver<Entry>, batch: &mut Vec<Entry>) {
        let mut flushes = Vec::new();
        let mut rows = Vec::with_capacity(batch.len());
        for entry in batch.drain(..) {
            sort(entry, &mut rows, &mut flushes);
        }
        self.insert(rows).await;
        if !flushes.is_empty() {
            self.settle(rx, true).await;
            for done in flushes {
                let _ = done.send(());
            }
        }
    }

    async fn insert(&mut self, rows: Vec<Row>) {
        if rows.is_empty() {
            return;
        }
        let count = rows.len();
        let result: Result<(), DbErr> = async {
            let mut named = Vec::with_capacity(rows.len());
            for (serial, mut row, token_hash) in rows {
                if let Some(hash) = token_hash.filter(|_| row.token_id.is_none()) {
                    self.name_token(&mut row, &hash).await?;
                }
                named.push((serial, row));
            }
            let txn = self.db.begin().await?;
            let mut ids = Vec::new();
            for (serial, row) in named {
                let id = db::audit::insert(&txn, row).await?;
                if let Some(serial) = serial {
                    ids.push((serial, id));
                }
            }
            txn.commit().await?;
            self.firsts.extend(ids);
            Ok(())
        }
        .await;
        if let Err(e) = result {
            METRICS.audit_events_unwritten.inc_by(count as u64);
            tracing::error!(error = %e, events = count, "writing audit events failed; they are lost");
        }
    }

    /// A known token (revoked, expired) is named by its id and its user.
    async fn name_token(&self, row: &mut audit_event::Model, hash: &str) -> Result<(), DbErr> {
        if let Some((token, user)) = db::tokens::find_by_hash(&self.db, hash).await? {
            row.token_id = Some(token.id);
            if row.actor.is_empty() {
                row.actor = user.map(|u| u.name).unwrap_or_default();
            }
        }
        Ok(())
    }

    /// Closes the aggregation windows that are over (all, with `all`): each
    /// count goes to its first event, whose row is written first. Then what
    /// was shed, as one event.
    async fn settle(&mut self, rx: &mut mpsc::Receiver<Entry>, mut all: bool) {
        let mut answered = Vec::new();
        loop {
            let closed = self
                .noise
                .lock()
                .expect("not poisoned")
                .take_closed(Utc::now(), all);
            if closed.is_empty() {
                break;
            }
            // Their first events were queued before the windows closed.
            let mut rows = Vec::new();
            let mut flushes = Vec::new();
            while let Ok(entry) = rx.try_recv() {
                sort(entry, &mut rows, &mut flushes);
            }
            self.insert(rows).await;
            if let Err(e) = self.count(closed).await {
                tracing::error!(error = %e, "writing the counts of aggregated audit events failed");
            }
            if flushes.is_empty() {
                break;
            }
            // A flush waits for every window: once more, closing them all.
            answered.extend(flushes);
            all = true;
        }
        let summary = self.shed.lock().expect("not poisoned").summary();
        if let Some(summary) = summary {
            tracing::warn!(summary = %summary.target, "audit events shed");
            if let Err(e) = db::audit::insert(&self.db, summary).await {
                METRICS.audit_events_unwritten.inc();
                tracing::error!(error = %e, "writing the summary of shed audit events failed");
            }
        }
        for done in answered {
            let _ = done.send(());
        }
    }

    async fn count(&mut self, closed: Vec<Closed>) -> Result<(), DbErr> {
        let txn = self.db.begin().await?;
        for c in closed {
            let id = self.firsts.remove(&c.serial);
            if c.repeats == 0 {
                continue;
            }
            let repeats = i64::try_from(c.repeats).unwrap_or(i64::MAX);
            match id {
                Some(id) => db::audit::add_repeats(&txn, id, repeats, c.last_at).await?,
                // The first event was shed or not written: the count stands alone.
                None => {
                    let mut row = row(&c.first, repeats);
                    row.last_at = Some(c.last_at);
                    db::audit::insert(&txn, row).await?;
                }
            }
        }
        txn.commit().await
    }
}
