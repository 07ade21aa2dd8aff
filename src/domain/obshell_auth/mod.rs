//! obshell's own authentication, so that its SDKs (Python `obshell`, Go
//! obshell-sdk-go) work against depot unmodified: the RSA key they fetch
//! (`keys`), their encrypted headers (`header`, pure), their AES-encrypted
//! bodies decrypted as a stream (`body`, pure), and used headers remembered
//! (`replay`). The password a header carries is checked by the HTTP layer
//! through depot's usual credentials (an API token, or a user's password).
//!
//! Every header that cannot be decrypted or read is charged to the client
//! address's failed-login budget (`throttle`), like a wrong password: RSA
//! PKCS#1 v1.5, which obshell's protocol prescribes, must not become an
//! oracle someone can query at will.

pub mod body;
pub mod header;
pub mod keys;
pub mod replay;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use self::body::BodyKeys;
use self::header::{Claims, HeaderError, Version};
use self::keys::ObshellKeys;
use self::replay::ReplayCache;
use super::users::Users;
use crate::config::Secret;
use crate::error::{Error, Result};

/// The failed-login budget unreadable headers are charged to (per address:
/// no user name is known; no user can be called this).
const UNREADABLE: &str = "";

#[derive(Clone)]
pub struct ObshellAuth {
    keys: ObshellKeys,
    users: Users,
    replay: Arc<ReplayCache>,
    /// RSA decryptions at once: one per core, off the async workers.
    decryptions: Arc<Semaphore>,
}

/// A header decrypted and checked, but for its password.
#[derive(Debug)]
pub struct Opened {
    pub password: Secret,
    /// The body's keys (v2).
    pub body: Option<BodyKeys>,
    digest: [u8; 32],
    usable_until: i64,
}

impl ObshellAuth {
    pub fn new(db: DatabaseConnection, users: Users) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            keys: ObshellKeys::new(db),
            users,
            replay: Arc::default(),
            decryptions: Arc::new(Semaphore::new(cores)),
        }
    }

    pub fn keys(&self) -> &ObshellKeys {
        &self.keys
    }

    /// Base64 of the PKCS#1 DER public key.
    pub async fn public_key(&self) -> Result<String> {
        Ok(self.keys.ring().await?.public_key().to_string())
    }

    /// Decrypts and checks a `version` header sent from `from` for `target`
    /// (the request's path and query): readable with one of depot's keys,
    /// within its time, made for this target, not used before.
    pub async fn open(
        &self,
        version: Version,
        header: &str,
        target: &str,
        from: IpAddr,
    ) -> Result<Opened> {
        let wait = self.users.throttle.wait(UNREADABLE, from, Instant::now());
        if !wait.is_zero() {
            return Err(Error::TooManyAttempts { retry_after: wait });
        }
        let plain = match header::ciphertext(header) {
            Ok(ciphertext) => self.decrypt(ciphertext).await?,
            Err(e) => Err(e),
        };
        let claims =
            plain.and_then(|(plain, digest)| Ok((header::parse(&plain, version)?, digest)));
        let (claims, digest) = match claims {
            Ok(opened) => opened,
            Err(e) => {
                // Dropped unpaid: the attempt counts as a failure.
                let _ = self.users.throttle.begin(UNREADABLE, from, Instant::now());
                return Err(refused(e));
            }
        };
        let Claims {
            password, ts, keys, ..
        } = &claims;
        claims
            .check(chrono::Utc::now().timestamp(), target)
            .map_err(refused)?;
        Ok(Opened {
            password: Secret::new(password.as_str()),
            body: keys.clone(),
            digest,
            usable_until: claims.usable_until().max(*ts),
        })
    }

    /// Records an authenticated header as used; refused when it was before.
    pub fn first_use(&self, opened: &Opened) -> Result<()> {
        let now = chrono::Utc::now().timestamp();
        if self
            .replay
            .first_use(opened.digest, opened.usable_until, now)
        {
            Ok(())
        } else {
            Err(Error::ObshellUnauthorized(
                "this obshell auth header was used before: each request needs its own".into(),
            ))
        }
    }

    /// The plaintext and the ciphertext's digest, decrypted with the current
    /// key, else the previous.
    async fn decrypt(
        &self,
        ciphertext: Vec<u8>,
    ) -> Result<std::result::Result<(Vec<u8>, [u8; 32]), HeaderError>> {
        let ring = self.keys.ring().await?;
        let _turn = self.decryptions.acquire().await.map_err(Error::internal)?;
        tokio::task::spawn_blocking(move || {
            let digest: [u8; 32] = Sha256::digest(&ciphertext).into();
            let mut last = HeaderError::Unreadable;
            for key in ring.private_keys() {
                match header::decrypt(key, &ciphertext) {
                    Ok(plain) => return Ok((plain, digest)),
                    Err(e) => last = e,
                }
            }
            Err(last)
        })
        .await
        .map_err(Error::internal)
    }
}

fn refused(e: HeaderError) -> Error {
    Error::ObshellUnauthorized(e.to_string())
}
