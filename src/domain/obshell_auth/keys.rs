//! The RSA key pair obshell's clients encrypt to, shared by every replica
//! through the database: created on first use (replicas racing for it end
//! with one key: the generation is unique), re-read every `REFRESH_EVERY`,
//! rotated by `depot obshell-key rotate`.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use sea_orm::{DatabaseConnection, SqlErr};

use crate::db;
use crate::error::{Error, Result};

/// obshell itself uses 1024 bits; the SDKs cut their plaintext into 53-byte
/// sections whatever the key, so a stronger key costs them nothing.
pub const KEY_BITS: usize = 2048;
/// How long a replica uses the keys it read before reading them again: a
/// rotation reaches every replica within this.
pub const REFRESH_EVERY: Duration = Duration::from_secs(10);
/// How long after a rotation the previous key still decrypts, for clients
/// that fetched it just before (the SDKs keep the key until a 10008).
pub const ROTATION_GRACE: Duration = Duration::from_secs(15 * 60);

/// The keys in use: the current one, and the previous during its grace.
pub struct KeyRing {
    pub generation: i64,
    current: RsaPrivateKey,
    previous: Option<RsaPrivateKey>,
    /// `/api/v1/secret`'s answer: base64 of the PKCS#1 DER public key.
    public_key: String,
}

impl KeyRing {
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// The keys to decrypt with, current first.
    pub fn private_keys(&self) -> impl Iterator<Item = &RsaPrivateKey> {
        std::iter::once(&self.current).chain(self.previous.as_ref())
    }
}

type Cached = (Arc<KeyRing>, Instant);

#[derive(Clone)]
pub struct ObshellKeys {
    db: DatabaseConnection,
    /// The keys and when they were read.
    cached: Arc<RwLock<Option<Cached>>>,
    /// One reader (or creator) of the keys at a time.
    refresh: Arc<tokio::sync::Mutex<()>>,
}

impl ObshellKeys {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            cached: Arc::default(),
            refresh: Arc::default(),
        }
    }

    fn fresh(&self) -> Option<Arc<KeyRing>> {
        let cached = self.cached.read().unwrap_or_else(|e| e.into_inner());
        cached
            .as_ref()
            .filter(|(_, at)| at.elapsed() < REFRESH_EVERY)
            .map(|(ring, _)| ring.clone())
    }

    /// The keys in use, created when there are none yet.
    pub async fn ring(&self) -> Result<Arc<KeyRing>> {
        if let Some(ring) = self.fresh() {
            return Ok(ring);
        }
        let _turn = self.refresh.lock().await;
        if let Some(ring) = self.fresh() {
            return Ok(ring);
        }
        let mut rows = db::obshell_keys::newest(&self.db, 2).await?;
        if rows.is_empty() {
            self.add(1).await?;
            rows = db::obshell_keys::newest(&self.db, 2).await?;
        }
        let current = rows
            .first()
            .ok_or_else(|| Error::internal("no obshell key after creating one"))?;
        let in_grace = Utc::now() - current.created_at
            < chrono::Duration::from_std(ROTATION_GRACE).map_err(Error::internal)?;
        let previous = rows.get(1).filter(|_| in_grace);
        let cached = self
            .cached
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // Decoded again only when the generation moved or the grace ended.
        let ring = match cached {
            Some((ring, _))
                if ring.generation == current.generation
                    && ring.previous.is_some() == previous.is_some() =>
            {
                ring
            }
            _ => {
                let current_pem = current.private_key.clone();
                let previous_pem = previous.map(|r| r.private_key.clone());
                let generation = current.generation;
                let ring = tokio::task::spawn_blocking(move || {
                    decode(generation, &current_pem, previous_pem)
                })
                .await
                .map_err(Error::internal)??;
                Arc::new(ring)
            }
        };
        *self.cached.write().unwrap_or_else(|e| e.into_inner()) =
            Some((ring.clone(), Instant::now()));
        Ok(ring)
    }

    /// Makes a new key current; the previous one is accepted for
    /// `ROTATION_GRACE` more. Returns the new generation.
    pub async fn rotate(&self) -> Result<i64> {
        let newest = db::obshell_keys::newest(&self.db, 1).await?;
        let generation = newest.first().map_or(1, |k| k.generation + 1);
        if !self.add(generation).await? {
            return Err(Error::AlreadyExists(format!(
                "another process rotated the obshell key to generation {generation} meanwhile"
            )));
        }
        *self.cached.write().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(generation)
    }

    /// Generates and stores `generation`; `false` when another process
    /// stored it first.
    async fn add(&self, generation: i64) -> Result<bool> {
        let pem = tokio::task::spawn_blocking(|| {
            let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, KEY_BITS)
                .map_err(|e| Error::internal(format!("generating the obshell key: {e}")))?;
            key.to_pkcs8_pem(LineEnding::LF)
                .map(|pem| pem.to_string())
                .map_err(|e| Error::internal(format!("encoding the obshell key: {e}")))
        })
        .await
        .map_err(Error::internal)??;
        match db::obshell_keys::insert(&self.db, generation, pem).await {
            Ok(_) => {
                tracing::info!(generation, "created an obshell key");
                Ok(true)
            }
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn decode(generation: i64, current: &str, previous: Option<String>) -> Result<KeyRing> {
    let read = |pem: &str| {
        RsaPrivateKey::from_pkcs8_pem(pem)
            .map_err(|e| Error::internal(format!("the stored obshell key is unreadable: {e}")))
    };
    let current = read(current)?;
    let public_key = current
        .to_public_key()
        .to_pkcs1_der()
        .map_err(|e| Error::internal(format!("encoding the obshell public key: {e}")))?;
    Ok(KeyRing {
        generation,
        public_key: BASE64.encode(public_key.as_bytes()),
        previous: previous.as_deref().map(read).transpose()?,
        current,
    })
}
