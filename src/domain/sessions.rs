//! The web console's sessions: a sign-in with a user's password gives the
//! browser a random secret (its cookie); the database keeps the secret's
//! SHA-256, so every replica knows the session and a stolen database does not
//! sign anyone in. A session expires after `idle` without use and at the
//! latest `lifetime` after the sign-in; a user has at most `MAX_PER_USER`
//! at once (the oldest ends first), and a new password ends them all. The
//! CSRF token a page sends with each change is derived from the secret:
//! only a page that could read the session's own answer (same origin)
//! knows it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use rand::distr::Alphanumeric;
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};

use super::users::{Role, User};
use crate::config::Secret;
use crate::db;
use crate::error::{Error, Result};

/// Sessions a user may hold at once: each browser signed in is one.
pub const MAX_PER_USER: u64 = 16;
/// How long a session lasts without use.
pub const IDLE: Duration = Duration::from_secs(60 * 60);
/// How long a session lasts at most, used or not.
pub const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// The expiry moves with use at most this often (a write per minute, not per
/// request), or a quarter of the idle time when that is shorter.
const EXTEND_EVERY: Duration = Duration::from_secs(60);
const SECRET_LEN: usize = 43;

#[derive(Clone)]
pub struct Sessions {
    db: DatabaseConnection,
    idle: Duration,
    lifetime: Duration,
}

/// A live session: whom it signs in, and its CSRF token.
#[derive(Clone, Debug)]
pub struct Session {
    pub user: User,
    pub csrf: Secret,
    pub expires_at: DateTime<Utc>,
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The CSRF token of the session whose secret this is.
pub fn csrf_token(secret: &Secret) -> Secret {
    Secret::new(hex::encode(
        Sha256::new()
            .chain_update(b"depot console csrf\0")
            .chain_update(secret.expose())
            .finalize(),
    ))
}

/// Whether `sent` is the session's CSRF token, compared in constant time.
pub fn csrf_matches(session: &Session, sent: &str) -> bool {
    let expected = session.csrf.expose().as_bytes();
    let sent = sent.as_bytes();
    expected.len() == sent.len()
        && expected
            .iter()
            .zip(sent)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn later(now: DateTime<Utc>, by: Duration) -> Result<DateTime<Utc>> {
    chrono::Duration::from_std(by)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| Error::internal("a session lifetime out of range"))
}

impl Sessions {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            idle: IDLE,
            lifetime: LIFETIME,
        }
    }

    /// Other expiries (tests, and `serve`'s flags).
    pub fn with_expiry(mut self, idle: Duration, lifetime: Duration) -> Self {
        self.idle = idle;
        self.lifetime = lifetime.max(idle);
        self
    }

    /// Starts a session for `user`, who signed in with a password: its
    /// secret, for the cookie, and the session. Removes expired sessions and
    /// the user's beyond `MAX_PER_USER`.
    pub async fn start(&self, user: User) -> Result<(Secret, Session)> {
        let now = Utc::now();
        db::sessions::delete_expired(&self.db, now).await?;
        let secret = Secret::new(
            rand::rng()
                .sample_iter(&Alphanumeric)
                .take(SECRET_LEN)
                .map(char::from)
                .collect::<String>(),
        );
        let expires_at = later(now, self.idle.min(self.lifetime))?;
        // Committed before the cookie is handed out.
        db::sessions::insert(&self.db, hash(secret.expose()), user.id, expires_at).await?;
        db::sessions::keep_newest(&self.db, user.id, MAX_PER_USER).await?;
        let csrf = csrf_token(&secret);
        Ok((
            secret,
            Session {
                user: User {
                    token: None,
                    ..user
                },
                csrf,
                expires_at,
            },
        ))
    }

    /// The session this cookie secret stands for, with its user's current
    /// role; `None` for an unknown, ended or expired one. Use moves the idle
    /// expiry (at most once a minute), never past the lifetime.
    pub async fn authenticate(&self, secret: &Secret) -> Result<Option<Session>> {
        let now = Utc::now();
        let Some((row, Some(user))) =
            db::sessions::find_by_hash(&self.db, &hash(secret.expose())).await?
        else {
            return Ok(None);
        };
        if row.expires_at <= now {
            return Ok(None);
        }
        let role: Role = user.role.parse()?;
        let end = later(row.created_at, self.lifetime)?;
        let wanted = later(now, self.idle)?.min(end);
        let every =
            chrono::Duration::from_std(EXTEND_EVERY.min(self.idle / 4)).map_err(Error::internal)?;
        let mut expires_at = row.expires_at;
        if wanted - row.expires_at >= every {
            // Bookkeeping: a database that cannot take it must not refuse the request.
            match db::sessions::extend(&self.db, row.id, wanted - every, wanted).await {
                Ok(()) => expires_at = wanted,
                Err(e) => tracing::warn!(error = %e, "extending a console session failed"),
            }
        }
        Ok(Some(Session {
            user: User {
                id: user.id,
                name: user.name,
                role,
                token: None,
            },
            csrf: csrf_token(secret),
            expires_at,
        }))
    }

    /// Ends the session (sign-out); `false` when it had ended already.
    pub async fn end(&self, secret: &Secret) -> Result<bool> {
        Ok(db::sessions::delete_by_hash(&self.db, &hash(secret.expose())).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let a = Secret::new("secret-a");
        let session = Session {
            user: User {
                id: 1,
                name: "ops".into(),
                role: Role::Viewer,
                token: None,
            },
            csrf: csrf_token(&a),
            expires_at: Utc::now(),
        };
        assert!(csrf_matches(&session, csrf_token(&a).expose()));
        assert!(!csrf_matches(
            &session,
            csrf_token(&Secret::new("secret-b")).expose()
        ));
        assert!(!csrf_matches(&session, ""));
        assert!(!csrf_matches(&session, "secret-a"));
        assert_eq!(csrf_token(&a).expose().len(), 64);
    }
}
