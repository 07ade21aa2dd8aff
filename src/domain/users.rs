//! Users, roles and what each role may do.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use rand::Rng;
use rand::distr::Alphanumeric;
use sea_orm::{DatabaseConnection, SqlErr};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::cache::TtlCache;
use crate::config::Secret;
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

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(Error::internal)
}

/// Constant-time by construction (argon2 compares digests in constant time).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// How long a verified name and password are trusted without Argon2 again.
/// The stored hash is part of the key, so a password change or removal
/// takes effect here regardless.
const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// How long a verified name and password are trusted without reading the
/// user's row either: the bound on how late a server learns of a password
/// change or a removal made elsewhere (the CLI, another replica).
pub const RECENT_TTL: Duration = Duration::from_secs(30);
const MAX_VERIFIED: usize = 10_000;

/// User administration, shared by the CLI and the server.
#[derive(Clone)]
pub struct Users {
    db: DatabaseConnection,
    /// Verified against when the user does not exist, so that timing does not tell.
    dummy_hash: Arc<String>,
    /// Argon2 costs ~19 MiB and tens of milliseconds per check: at most one
    /// per core at a time, whatever a flood of requests asks for.
    verifying: Arc<Semaphore>,
    /// Name, password and stored hash that Argon2 accepted, for `VERIFIED_TTL`.
    verified: Arc<TtlCache<[u8; 32], ()>>,
    /// Name and password → the user, for `RECENT_TTL`.
    recent: Arc<TtlCache<[u8; 32], User>>,
}

impl Users {
    pub fn new(db: DatabaseConnection) -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            db,
            dummy_hash: Arc::new(hash_password("not-a-real-password")?),
            verifying: Arc::new(Semaphore::new(cores)),
            verified: Arc::new(TtlCache::new(VERIFIED_TTL, MAX_VERIFIED)),
            recent: Arc::new(TtlCache::new(RECENT_TTL, MAX_VERIFIED)),
        })
    }

    /// Checks a name and password; `None` when they do not match a user.
    pub async fn authenticate(&self, name: &str, password: Secret) -> Result<Option<User>> {
        let recent_key: [u8; 32] = Sha256::new()
            .chain_update(name)
            .chain_update([0])
            .chain_update(password.expose())
            .finalize()
            .into();
        if let Some(user) = self.recent.get(&recent_key) {
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
        let recently_verified = row.is_some() && self.verified.get(&key).is_some();
        let ok = if recently_verified {
            true
        } else {
            let _permit = self.verifying.acquire().await.map_err(Error::internal)?;
            // Off the async workers: this is pure CPU.
            let ok = tokio::task::spawn_blocking(move || verify_password(password.expose(), &hash))
                .await
                .map_err(Error::internal)?;
            if ok && row.is_some() {
                self.verified.insert(key, ());
            }
            ok
        };
        match row {
            Some(r) if ok => {
                let user = User {
                    id: r.id,
                    name: r.name,
                    role: r.role.parse()?,
                    token: None,
                };
                self.recent.insert(recent_key, user.clone());
                Ok(Some(user))
            }
            _ => Ok(None),
        }
    }

    /// Forgets what this process verified for `name`, after its row changed.
    fn forget(&self, name: &str) {
        self.recent.invalidate(|_, user| user.name == name);
    }

    pub async fn add(&self, name: &str, role: Role, password: &Secret) -> Result<()> {
        check_user_name(name)?;
        check_password(password.expose())?;
        let hash = hash_password(password.expose())?;
        match db::users::insert(&self.db, name, hash, role.as_str()).await {
            Ok(_) => Ok(()),
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

    pub async fn set_password(&self, name: &str, password: &Secret) -> Result<()> {
        check_password(password.expose())?;
        if !db::users::set_password(&self.db, name, hash_password(password.expose())?).await? {
            return Err(Error::NotFound(format!("no user {name:?}")));
        }
        self.forget(name);
        Ok(())
    }

    pub async fn remove(&self, name: &str) -> Result<()> {
        if !db::users::delete(&self.db, name).await? {
            return Err(Error::NotFound(format!("no user {name:?}")));
        }
        self.forget(name);
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
    fn password_hashes_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "garbage"));
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
