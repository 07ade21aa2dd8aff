//! The audit log against a real (SQLite) database: what does not fit in
//! its queue is shed, counted and summarised, never silently dropped; an
//! aggregated refusal's count lands on its first event.

use chrono::Utc;

use super::{Actor, AuditLog, Event, Limits};
use crate::db;
use crate::metrics::METRICS;

async fn database() -> (sea_orm::DatabaseConnection, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = db::connect(&crate::config::sqlite_url(&dir.path().join("audit.db")))
        .await
        .unwrap();
    db::migrate(&db).await.unwrap();
    (db, dir)
}

fn event(action: &str, status: u16, address: &str) -> Event {
    Event {
        at: Utc::now(),
        actor: Actor {
            name: "ops".into(),
            token: None,
        },
        action: action.into(),
        target: "/api/v2/software-packages".into(),
        status,
        address: address.into(),
        trace_id: format!("{:032x}", rand::random::<u128>()),
        trace_link: None,
        presented: None,
        package: None,
    }
}

async fn all(log: &AuditLog) -> Vec<entity::audit_event::Model> {
    let (rows, _) = log.list(&Default::default(), 1, 100_000).await.unwrap();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_does_not_fit_is_shed_and_said() {
    let (db, _dir) = database().await;
    let limits = Limits {
        queue: 8,
        ..Limits::default()
    };
    let log = AuditLog::with_limits(db, limits);
    let before = METRICS
        .audit_events_shed
        .with_label_values(&["change"])
        .get();
    for _ in 0..2_000 {
        log.record(event("package.delete", 200, "10.0.0.1"));
    }
    log.flush().await;
    let shed = METRICS
        .audit_events_shed
        .with_label_values(&["change"])
        .get()
        - before;
    assert!(shed > 0, "a queue of 8 cannot take 2000 events at once");
    let rows = all(&log).await;
    let written = rows.iter().filter(|r| r.action == "package.delete").count() as u64;
    let summaries: Vec<_> = rows.iter().filter(|r| r.action == "audit.shed").collect();
    let summarised: i64 = summaries.iter().map(|r| r.count).sum();
    assert_eq!(written + shed, 2_000);
    assert_eq!(summarised as u64, shed, "{summaries:#?}");
    assert!(summaries.iter().all(|r| r.outcome == "shed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_counted_on_their_first_event() {
    let (db, _dir) = database().await;
    let log = AuditLog::new(db);
    for _ in 0..500 {
        log.refused(event("POST unknown route", 404, "10.0.0.1"));
    }
    log.refused(event("POST unknown route", 404, "10.0.0.2"));
    log.flush().await;
    let rows = all(&log).await;
    let mut counts: Vec<_> = rows.iter().map(|r| (r.address.as_str(), r.count)).collect();
    counts.sort();
    assert_eq!(counts, [("10.0.0.1", 500), ("10.0.0.2", 1)]);
    let first = rows.iter().find(|r| r.address == "10.0.0.1").unwrap();
    assert!(first.last_at.is_some_and(|last| last >= first.at));
}
