//! Users, roles and what each role may do.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rand::distr::Alphanumeric;
use sea_orm::{DatabaseConnection, SqlErr, TransactionTrait};

use super::credentials::Freshness;
use super::passwords::{HashLoad, Hashers, hash_password};
use super::throttle::{self, Throttle};
use crate::cache::TtlCache;
use crate::config::{Rate, Secret};
use crate::db;
use crate::error::{Error, Result};

/// Ordered by power: a token's role caps its user's with `min`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Manager,
    Admin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    PackageViewer,
    PackageManager,
    /// Creating, changing and removing users.
    UserAdmin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Manager, Role::Admin];

    pub fn grants(self, permission: Permission) -> bool {
        match permission {
            Permission::PackageViewer => true,
            Permission::PackageManager => matches!(self, Role::Manager | Role::Admin),
            Permission::UserAdmin => self == Role::Admin,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is none of `viewer`, `manager` or `admin`.
#[derive(Debug, thiserror::Error)]
#[error("unknown role {0:?}: viewer, manager or admin")]
pub struct UnknownRole(String);

/// The one parser of role names, for the command line, the API and the
/// database alike: `viewer`, `manager` or `admin` in any case, and OCP's
/// permission names `package_viewer` and `package_manager`.
impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> std::result::Result<Self, UnknownRole> {
        match s.to_ascii_lowercase().as_str() {
            "viewer" | "package_viewer" => Ok(Role::Viewer),
            "manager" | "package_manager" => Ok(Role::Manager),
            "admin" => Ok(Role::Admin),
            _ => Err(UnknownRole(s.to_string())),
        }
    }
}

/// The domain parses roles only out of its own rows, where an unknown one
/// is a fault, not the caller's mistake.
impl From<UnknownRole> for Error {
    fn from(e: UnknownRole) -> Self {
        Error::internal(format!("{e} (in the database)"))
    }
}

/// An authenticated user.
#[derive(Clone, Debug)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// The token the request came with; `None` for a password.
    pub token: Option<i64>,
}

pub const MIN_PASSWORD_LEN: usize = 8;

pub fn check_user_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid user name {name:?}: 1 to 64 letters, digits or . _ - @"
        )))
    }
}

pub fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::invalid(format!(
            "passwords need at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}

pub fn generate_password() -> Secret {
    Secret::new(
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(24)
            .map(char::from)
            .collect::<String>(),
    )
}

/// How long a verified name, password and stored hash are trusted without
/// Argon2 again. The stored hash is part of the key (and the row is read each
/// time), so a password change or a removal takes effect regardless.
pub(super) const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// How long a verified name and password are trusted without reading the
/// user's row either, and only while this server's credential watch is
/// current (`credentials`): a change made anywhere ends it within a second.
pub(super) const RECENT_TTL: Duration = Duration::from_secs(30);
pub(super) const MAX_VERIFIED: usize = 10_000;

/// User administration, shared by the CLI and the server; logging in is in
/// `logins`.
#[derive(Clone)]
pub struct Users {
    pub(super) db: DatabaseConnection,
    /// Verified against when the user does not exist, so that timing does not
    /// tell; of a password nobody knows.
    pub(super) dummy_hash: Arc<String>,
    pub(super) hashers: Hashers,
    pub(super) throttle: Throttle,
    /// Name, password and stored hash that Argon2 accepted, for `VERIFIED_TTL`.
    pub(super) verified: Arc<TtlCache<[u8; 32], ()>>,
    /// Name and password → the user, for `RECENT_TTL`.
    pub(super) recent: Arc<TtlCache<[u8; 32], User>>,
    /// Whether `recent` may answer (kept by `credentials::watch`).
    pub(super) freshness: Arc<Freshness>,
}

impl Users {
    /// With the default login limits; a server sets its own (`with_login_limits`).
    pub fn new(db: DatabaseConnection) -> Result<Self> {
        Ok(Self {
            db,
            dummy_hash: Arc::new(hash_password(generate_password().expose())?),
            hashers: Hashers::per_core(),
            throttle: Throttle::new(throttle::PER_USER, throttle::PER_ADDRESS),
            verified: Arc::new(TtlCache::new(VERIFIED_TTL, MAX_VERIFIED)),
            recent: Arc::new(TtlCache::new(RECENT_TTL, MAX_VERIFIED)),
            freshness: Arc::default(),
        })
    }

    /// Failed logins allowed per user name and address, and per address.
    pub fn with_login_limits(mut self, per_user: Rate, per_address: Rate) -> Self {
        self.throttle = Throttle::new(per_user, per_address);
        self
    }

    /// Argon2 checks running now, at most ever, and the bound.
    pub fn password_hash_load(&self) -> HashLoad {
        self.hashers.load()
    }

    pub(super) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub(super) fn freshness(&self) -> &Freshness {
        &self.freshness
    }

    /// Forgets every name and password this process verified recently (each
    /// is read from its row again), after a credential changed somewhere.
    pub(super) fn forget_all(&self) {
        self.recent.invalidate(|_, _| true);
    }

    pub async fn add(&self, name: &str, role: Role, password: &Secret) -> Result<()> {
        check_user_name(name)?;
        check_password(password.expose())?;
        let hash = self.hashers.hash(password.expose()).await?;
        // Committed before it is reported: see `Tokens::create`.
        let txn = self.db.begin().await?;
        match db::users::insert(&txn, name, hash, role.as_str()).await {
            Ok(_) => Ok(txn.commit().await?),
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Err(
                Error::AlreadyExists(format!("user {name:?} already exists")),
            ),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list(&self) -> Result<Vec<(String, Role)>> {
        db::users::list(&self.db)
            .await?
            .into_iter()
            .map(|u| Ok((u.name, u.role.parse()?)))
            .collect()
    }

    /// Every server stops accepting the old password within a second; the
    /// user's console sessions end at once.
    pub async fn set_password(&self, name: &str, password: &Secret) -> Result<()> {
        check_password(password.expose())?;
        let hash = self.hashers.hash(password.expose()).await?;
        let txn = self.db.begin().await?;
        let changed = db::users::set_password(&txn, name, hash).await?;
        // The web console's sessions signed in with the old password end.
        db::sessions::delete_for_user_name(&txn, name).await?;
        self.changed(txn, changed, name).await
    }

    /// Changes a user's role (their tokens are capped by it); a demotion
    /// holds on every server within a second.
    pub async fn set_role(&self, name: &str, role: Role) -> Result<()> {
        let txn = self.db.begin().await?;
        let changed = db::users::set_role(&txn, name, role.as_str()).await?;
        self.changed(txn, changed, name).await
    }

    /// Removes a user and their tokens, on every server within a second.
    pub async fn remove(&self, name: &str) -> Result<()> {
        let txn = self.db.begin().await?;
        let changed = db::users::delete(&txn, name).await?;
        self.changed(txn, changed, name).await
    }

    /// Ends a change to `name`'s row: moves the credential epoch in the same
    /// transaction (every server empties its caches when it sees it) and
    /// forgets at once what this process cached.
    async fn changed(
        &self,
        txn: sea_orm::DatabaseTransaction,
        changed: bool,
        name: &str,
    ) -> Result<()> {
        if !changed {
            return Err(Error::NotFound(format!("no user {name:?}")));
        }
        db::credentials::bump(&txn).await?;
        txn.commit().await?;
        self.forget_all();
        Ok(())
    }

    /// On a database without users, creates `admin`. Returns the password when
    /// it was generated, for the caller to show once. Several replicas starting
    /// at once race here; the loser sees a unique violation and stays quiet.
    pub async fn bootstrap_admin(&self, password: Option<&Secret>) -> Result<Option<Secret>> {
        if db::users::count(&self.db).await? > 0 {
            return Ok(None);
        }
        let (password, generated) = match password {
            Some(p) => (p.clone(), false),
            None => (generate_password(), true),
        };
        match self.add("admin", Role::Admin, &password).await {
            Ok(()) => Ok(generated.then_some(password)),
            Err(Error::AlreadyExists(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_permission_matrix() {
        use Permission::*;
        assert!(Role::Viewer.grants(PackageViewer));
        assert!(!Role::Viewer.grants(PackageManager));
        assert!(!Role::Viewer.grants(UserAdmin));
        assert!(Role::Manager.grants(PackageManager));
        assert!(!Role::Manager.grants(UserAdmin));
        assert!(Role::Admin.grants(UserAdmin) && Role::Admin.grants(PackageManager));
    }

    #[test]
    fn names_and_passwords() {
        assert!(check_user_name("ops.team-1").is_ok());
        assert!(check_user_name("a:b").is_err());
        assert!(check_user_name("").is_err());
        assert!(check_password("short").is_err());
        assert_eq!(generate_password().expose().len(), 24);
    }

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert_eq!("Package_Manager".parse::<Role>().unwrap(), Role::Manager);
        assert_eq!("ADMIN".parse::<Role>().unwrap(), Role::Admin);
        let err = "root".parse::<Role>().unwrap_err().to_string();
        assert!(err.contains("root") && err.contains("viewer"), "{err}");
    }
}
