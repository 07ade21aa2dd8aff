//! API tokens: what agents and CI authenticate with instead of passwords.
//! A token acts for its user with at most the role it was created with, and
//! never more than the user's role at the time of use.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::api_token;
use rand::Rng;
use rand::distr::Alphanumeric;
use sea_orm::{DatabaseConnection, TransactionTrait};
use sha2::{Digest, Sha256};

use super::credentials::Freshness;
use super::users::{Role, User};
use super::window::Window;
use crate::cache::TtlCache;
use crate::config::Secret;
use crate::db;
use crate::error::{Error, Result};

/// Marks a secret as a depot token, for humans and for secret scanners.
pub const TOKEN_PREFIX: &str = "depot_";
const SECRET_LEN: usize = 40;
/// Last-used times are recorded with this resolution.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// How long a verified token is trusted without reading its row again, and
/// only while this server's credential watch is current (`credentials`): a
/// revocation, a removed or demoted user, anywhere, ends it within a second.
/// This replica forgets a token it revokes at once.
pub const VERIFIED_TTL: Duration = Duration::from_secs(30);
const MAX_VERIFIED: usize = 10_000;

#[derive(Clone)]
pub struct Tokens {
    db: DatabaseConnection,
    /// Token hash → what its row said, for `VERIFIED_TTL`.
    verified: Arc<TtlCache<String, Verified>>,
    /// Whether `verified` may answer (kept by `credentials::watch`).
    freshness: Arc<Freshness>,
}

#[derive(Clone)]
struct Verified {
    user: User,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

/// A token as listed: never its secret.
#[derive(Clone, Debug)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub user: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TokenInfo {
    fn new(row: api_token::Model, user: String) -> Result<Self> {
        Ok(Self {
            id: row.id,
            name: row.name,
            user,
            role: row.role.parse()?,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
    }

    pub fn state(&self, now: DateTime<Utc>) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|at| at <= now) {
            "expired"
        } else {
            "active"
        }
    }
}

pub fn check_token_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | ' '));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid token name {name:?}: 1 to 64 letters, digits, spaces or . _ - @"
        )))
    }
}

pub(crate) fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Tokens {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            verified: Arc::new(TtlCache::new(VERIFIED_TTL, MAX_VERIFIED)),
            freshness: Arc::default(),
        }
    }

    pub(super) fn freshness(&self) -> &Freshness {
        &self.freshness
    }

    /// Forgets every token this process verified, after a credential changed somewhere.
    pub(super) fn forget_all(&self) {
        self.verified.invalidate(|_, _| true);
    }

    /// Creates a token for `user_name`; the secret is returned once and
    /// never stored. `role` defaults to the user's and may not exceed it.
    pub async fn create(
        &self,
        user_name: &str,
        name: &str,
        role: Option<Role>,
        lifetime: Option<Duration>,
    ) -> Result<(TokenInfo, Secret)> {
        check_token_name(name)?;
        let user = db::users::find_by_name(&self.db, user_name)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no user {user_name:?}")))?;
        let user_role: Role = user.role.parse()?;
        let role = role.unwrap_or(user_role);
        if role > user_role {
            return Err(Error::invalid(format!(
                "a token carries at most its user's permissions: {user_name:?} is {user_role}, not {role}"
            )));
        }
        let expires_at = lifetime
            .map(|d| {
                chrono::Duration::from_std(d)
                    .ok()
                    .and_then(|d| Utc::now().checked_add_signed(d))
                    .ok_or_else(|| Error::invalid("the token lifetime is too long"))
            })
            .transpose()?;
        let secret = format!(
            "{TOKEN_PREFIX}{}",
            rand::rng()
                .sample_iter(&Alphanumeric)
                .take(SECRET_LEN)
                .map(char::from)
                .collect::<String>()
        );
        // Committed before it returns: the secret is shown only for a stored token.
        let row = db::tokens::insert(
            &self.db,
            db::tokens::NewToken {
                name,
                user_id: user.id,
                role: role.as_str(),
                token_hash: hash(&secret),
                expires_at,
            },
        )
        .await?;
        Ok((TokenInfo::new(row, user.name)?, Secret::new(secret)))
    }

    /// All tokens, or one user's.
    pub async fn list(&self, user_name: Option<&str>) -> Result<Vec<TokenInfo>> {
        let user_id = self.user_id(user_name).await?;
        db::tokens::list(&self.db, user_id)
            .await?
            .into_iter()
            .map(|(row, user)| TokenInfo::new(row, user.map(|u| u.name).unwrap_or_default()))
            .collect()
    }

    async fn user_id(&self, user_name: Option<&str>) -> Result<Option<i64>> {
        let Some(name) = user_name else {
            return Ok(None);
        };
        Ok(Some(
            db::users::find_by_name(&self.db, name)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no user {name:?}")))?
                .id,
        ))
    }

    /// One page of `list`, and how many tokens there are in all.
    pub async fn page(
        &self,
        user_name: Option<&str>,
        window: Window,
    ) -> Result<(Vec<TokenInfo>, u64)> {
        let user_id = self.user_id(user_name).await?;
        let (rows, total) =
            db::tokens::page(&self.db, user_id, window.offset(), window.size).await?;
        let tokens = rows
            .into_iter()
            .map(|(row, user)| TokenInfo::new(row, user.map(|u| u.name).unwrap_or_default()))
            .collect::<Result<_>>()?;
        Ok((tokens, total))
    }

    pub async fn get(&self, id: i64) -> Result<TokenInfo> {
        let row = db::tokens::find(&self.db, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no token with id {id}")))?;
        let user = db::users::find(&self.db, row.user_id)
            .await?
            .map(|u| u.name)
            .unwrap_or_default();
        TokenInfo::new(row, user)
    }

    /// Revokes a token: this server refuses it from the next request on,
    /// every other within a second (the credential epoch moves with it).
    pub async fn revoke(&self, id: i64) -> Result<TokenInfo> {
        let txn = self.db.begin().await?;
        if db::tokens::revoke(&txn, id).await? {
            db::credentials::bump(&txn).await?;
        }
        txn.commit().await?;
        self.forget(id);
        // Unknown (404), or revoked now or before.
        self.get(id).await
    }

    /// The user a bearer secret acts for, with the token's role ceiling
    /// applied; `None` for an unknown, revoked or expired token. A token
    /// verified in the last `VERIFIED_TTL` is not read again while the
    /// credential watch is current.
    pub async fn authenticate(&self, secret: &Secret) -> Result<Option<User>> {
        let token_hash = hash(secret.expose());
        let now = Utc::now();
        // Taken before the row is read: a revocation meanwhile keeps it uncached.
        let generation = self.verified.generation();
        if self.freshness.is_trusted()
            && let Some(mut hit) = self.verified.get(&token_hash)
        {
            if hit.expires_at.is_some_and(|at| at <= now) {
                return Ok(None);
            }
            self.touch_if_due(&token_hash, &mut hit, now).await?;
            return Ok(Some(hit.user));
        }
        let Some((token, Some(user))) = db::tokens::find_by_hash(&self.db, &token_hash).await?
        else {
            return Ok(None);
        };
        if token.revoked_at.is_some() || token.expires_at.is_some_and(|at| at <= now) {
            return Ok(None);
        }
        let ceiling: Role = token.role.parse()?;
        let role: Role = user.role.parse()?;
        let mut verified = Verified {
            user: User {
                id: user.id,
                name: user.name,
                role: role.min(ceiling),
                token: Some(token.id),
            },
            expires_at: token.expires_at,
            last_used_at: token.last_used_at,
        };
        self.touch_if_due(&token_hash, &mut verified, now).await?;
        self.verified
            .insert_unless_invalidated(token_hash, verified.clone(), generation);
        Ok(Some(verified.user))
    }

    /// Bookkeeping only: written at most once a minute (the row, or the cache,
    /// says whether it is due), and a database that cannot take the write
    /// must not refuse the request.
    async fn touch_if_due(
        &self,
        token_hash: &str,
        v: &mut Verified,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let every = chrono::Duration::from_std(TOUCH_EVERY).map_err(Error::internal)?;
        if v.last_used_at.is_some_and(|at| at >= now - every) {
            return Ok(());
        }
        let Some(id) = v.user.token else {
            return Ok(());
        };
        // Marked first, so that concurrent requests with this token do not all write.
        v.last_used_at = Some(now);
        self.verified
            .update(token_hash, |entry| entry.last_used_at = Some(now));
        if let Err(e) = db::tokens::touch(&self.db, id, now, every).await {
            tracing::warn!(token = id, error = %e, "recording a token's last use failed");
        }
        Ok(())
    }

    /// Drops a token from this replica's cache, after its row changed.
    fn forget(&self, id: i64) {
        self.verified.invalidate(|_, v| v.user.token == Some(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable_hex() {
        assert_eq!(hash("depot_x").len(), 64);
        assert_eq!(hash("depot_x"), hash("depot_x"));
        assert_ne!(hash("depot_x"), hash("depot_y"));
    }

    #[test]
    fn names() {
        assert!(check_token_name("ci deploy-1").is_ok());
        assert!(check_token_name("").is_err());
        assert!(check_token_name("a/b").is_err());
    }

    #[test]
    fn roles_are_ordered_by_power() {
        assert!(Role::Viewer < Role::Manager && Role::Manager < Role::Admin);
        assert_eq!(Role::Admin.min(Role::Viewer), Role::Viewer);
    }
}
