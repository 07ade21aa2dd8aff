//! Logging in with a name and password: caches that spare the database and
//! Argon2 for a credential verified recently, the failed-login budgets, and
//! Argon2 itself, bounded.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::passwords::verify_password;
use super::users::{User, Users};
use crate::config::Secret;
use crate::db;
use crate::error::{Error, Result};
use crate::metrics::METRICS;

impl Users {
    /// Checks a name and password sent from `from`; `None` when they do not
    /// match a user. A client whose failed logins spent its budget gets
    /// `TooManyAttempts` instead of a check, unless the same name and
    /// password were verified recently (a user behind the same address as a
    /// guesser keeps working).
    pub async fn authenticate(
        &self,
        name: &str,
        password: Secret,
        from: IpAddr,
    ) -> Result<Option<User>> {
        let recent_key: [u8; 32] = Sha256::new()
            .chain_update(name)
            .chain_update([0])
            .chain_update(password.expose())
            .finalize()
            .into();
        // Taken before the row is read: a change meanwhile keeps it uncached.
        let generation = self.recent.generation();
        if self.freshness.is_trusted()
            && let Some(user) = self.recent.get(&recent_key)
        {
            return Ok(Some(user));
        }
        let row = db::users::find_by_name(&self.db, name).await?;
        let hash = row
            .as_ref()
            .map(|r| r.password_hash.clone())
            .unwrap_or_else(|| self.dummy_hash.as_ref().clone());
        let key: [u8; 32] = Sha256::new()
            .chain_update(name)
            .chain_update([0])
            .chain_update(password.expose())
            .chain_update([0])
            .chain_update(&hash)
            .finalize()
            .into();
        let known = row.is_some();
        let ok = (known && self.verified.get(&key).is_some())
            || self.check(name, password, hash, key, known, from).await?;
        match row {
            Some(r) if ok => {
                let user = User {
                    id: r.id,
                    name: r.name,
                    role: r.role.parse()?,
                    token: None,
                };
                self.recent
                    .insert_unless_invalidated(recent_key, user.clone(), generation);
                Ok(Some(user))
            }
            _ => Ok(None),
        }
    }

    /// Argon2, within the budgets and the bound on concurrent hashes. The
    /// attempt is charged before the hash starts and settled inside it, so a
    /// client that hangs up is charged all the same.
    async fn check(
        &self,
        name: &str,
        password: Secret,
        hash: String,
        key: [u8; 32],
        known: bool,
        from: IpAddr,
    ) -> Result<bool> {
        // Refused before queueing for a hash at all.
        let wait = self.throttle.wait(name, from, Instant::now());
        if !wait.is_zero() {
            return Err(throttled(wait));
        }
        let permit = self.hashers.turn().await?;
        // Verified by a request that held the turn meanwhile (parallel
        // requests of a client that just started): nothing to charge or hash.
        if known && self.verified.get(&key).is_some() {
            return Ok(true);
        }
        let attempt = self
            .throttle
            .begin(name, from, Instant::now())
            .map_err(throttled)?;
        let verified = self.verified.clone();
        self.hashers
            .run(permit, move || {
                let ok = verify_password(password.expose(), &hash);
                // The dummy hash of an unknown name pays nothing back.
                if ok && known {
                    attempt.succeeded();
                    verified.insert(key, ());
                }
                ok
            })
            .await
    }
}

fn throttled(wait: Duration) -> Error {
    METRICS.logins_throttled.inc();
    Error::TooManyAttempts { retry_after: wait }
}
