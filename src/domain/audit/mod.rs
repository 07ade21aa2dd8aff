//! The audit log: every change and every refused attempt, with who, what,
//! when, from where, the trace id and the outcome.

use chrono::{DateTime, Utc};
use entity::audit_event;
use sea_orm::DatabaseConnection;

use crate::db;
pub use crate::db::audit::Filter;
use crate::error::Result;

#[derive(Clone)]
pub struct AuditLog {
    db: DatabaseConnection,
}

/// Who did something: a user, perhaps through one of their tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub token: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: String,
    pub target: String,
    pub status: u16,
    pub address: String,
    pub trace_id: String,
}

/// At most `max` characters.
fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// `success`, `refused` (the client's doing: 4xx) or `failed` (ours: 5xx).
pub fn outcome(status: u16) -> &'static str {
    match status {
        500.. => "failed",
        400.. => "refused",
        _ => "success",
    }
}

impl AuditLog {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub async fn record(&self, event: Event) -> Result<()> {
        // Client-supplied (a tried user name, X-Forwarded-For): kept to the column's size.
        let row = audit_event::Model {
            id: 0,
            at: event.at,
            actor: clip(&event.actor.name, 128),
            token_id: event.actor.token,
            action: event.action,
            target: event.target,
            outcome: outcome(event.status).to_string(),
            status: i32::from(event.status),
            address: clip(&event.address, 128),
            trace_id: event.trace_id,
        };
        Ok(db::audit::insert(&self.db, row).await?)
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
    #[test]
    fn outcomes() {
        assert_eq!(super::outcome(200), "success");
        assert_eq!(super::outcome(204), "success");
        assert_eq!(super::outcome(401), "refused");
        assert_eq!(super::outcome(507), "failed");
        assert_eq!(super::clip("ééé", 2), "éé");
    }
}
