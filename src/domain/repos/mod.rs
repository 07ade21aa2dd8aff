//! yum/dnf repositories served from the package store.
//!
//! Every RPM belongs to the repository of its distribution tag (the
//! package's `operatingSystem`, `el7`) and architecture: `/repos/el7/x86_64/`
//! serves el7's x86_64 and noarch RPMs. Scripts, RPMs without a tag and
//! source RPMs are in none. Each RPM's rpm-md fragments are computed once,
//! at ingest (`rpmmd`); a publication streams them into gzip into new
//! objects (`publish`) and then switches the repository's row, which is
//! what repomd.xml serves, in one transaction. Superseded files stay
//! downloadable for a grace period. Publications are coalesced and made in
//! the background (`changes`), one replica at a time per repository.

mod changes;
pub mod chunks;
mod encoder;
mod health;
mod members;
mod memo;
mod produce;
mod publish;
pub mod repomd;
pub mod rpmmd;
pub mod signing;
mod updates;
pub mod verify;
pub mod xml;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use entity::repo_key;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use sea_orm::DatabaseConnection;
use tokio::sync::OnceCell;

pub use changes::RepoChanges;
pub use health::Stale;
pub use publish::Published;
use repomd::{DataFile, Kind, valid_segment};
use signing::RepoKey;

use crate::config::Secret;
use crate::db;
use crate::error::{Error, Result};
use crate::store::{BlobStore, Path};

/// Repository settings (`depot serve`'s `--repos-*`).
#[derive(Clone, Debug, PartialEq)]
pub struct ReposConfig {
    /// Anonymous reads of `/repos/` (stock .repo files send no credentials).
    pub public: bool,
    /// The signing key, ASCII-armoured; generated and kept in the database when unset.
    pub signing_key: Option<Secret>,
    /// How long the files of a superseded publication stay downloadable.
    pub grace: Duration,
    /// The least time between the starts of two rounds of publications:
    /// changes arriving sooner are gathered into the next round.
    pub coalesce: Duration,
}

impl Default for ReposConfig {
    fn default() -> Self {
        Self {
            public: false,
            signing_key: None,
            grace: Duration::from_secs(3600),
            coalesce: Duration::from_millis(200),
        }
    }
}

/// A repository as `GET /api/v2/repos` lists it.
#[derive(Clone, Debug)]
pub struct RepoSummary {
    pub os: String,
    pub arch: String,
    pub packages: u64,
    /// `None` until its first publication.
    pub revision: Option<i64>,
    pub published_at: Option<DateTime<Utc>>,
}

/// What `repodata/repomd.xml` serves.
#[derive(Clone, Debug)]
pub struct RepoMetadata {
    pub repomd: String,
    pub revision: i64,
}

/// A metadata file's bytes.
pub struct MetadataFile {
    pub size: u64,
    pub body: BoxStream<'static, Result<Bytes>>,
}

#[derive(Clone)]
pub struct Repos {
    db: DatabaseConnection,
    store: BlobStore,
    config: Arc<ReposConfig>,
    key: Arc<OnceCell<RepoKey>>,
    changes: RepoChanges,
    /// The chunks this replica wrote or read lately.
    memo: Arc<memo::Memo>,
    /// The packages this replica read lately.
    members: Arc<members::Members>,
    /// Who this replica is, for the publication leases.
    holder: Arc<str>,
}

impl Repos {
    pub fn new(db: DatabaseConnection, store: BlobStore, config: ReposConfig) -> Self {
        Self {
            db,
            store,
            config: Arc::new(config),
            key: Arc::new(OnceCell::new()),
            changes: RepoChanges::default(),
            memo: Arc::new(memo::Memo::new(memo::BUDGET)),
            members: Arc::default(),
            holder: format!(
                "{}-{}",
                gethostname::gethostname().to_string_lossy(),
                uuid::Uuid::new_v4()
            )
            .into(),
        }
    }

    /// Where the package store reports what changed.
    pub fn changes(&self) -> RepoChanges {
        self.changes.clone()
    }

    pub fn is_public(&self) -> bool {
        self.config.public
    }

    /// Every repository: those published, and those whose packages are
    /// stored but not yet published.
    pub async fn list(&self) -> Result<Vec<RepoSummary>> {
        let mut repos: Vec<RepoSummary> = db::repos::list(&self.db)
            .await?
            .into_iter()
            .map(|r| RepoSummary {
                os: r.os,
                arch: r.arch,
                packages: r.package_count as u64,
                revision: Some(r.revision),
                published_at: Some(r.published_at),
            })
            .collect();
        for (os, arch) in db::repos::tagged_arches(&self.db).await? {
            if !repos.iter().any(|r| r.os == os && r.arch == arch) {
                repos.push(RepoSummary {
                    os,
                    arch,
                    packages: 0,
                    revision: None,
                    published_at: None,
                });
            }
        }
        repos.sort_by(|a, b| (&a.os, &a.arch).cmp(&(&b.os, &b.arch)));
        Ok(repos)
    }

    /// repomd.xml of `os`/`arch`. A repository with packages but no
    /// publication yet is published now, so nothing is ever missing; one
    /// without packages is a valid, empty repository (not stored).
    pub async fn metadata(&self, os: &str, arch: &str) -> Result<RepoMetadata> {
        check_names(os, arch)?;
        if let Some(row) = db::repos::find(&self.db, os, arch).await? {
            return Ok(RepoMetadata {
                repomd: row.repomd,
                revision: row.revision,
            });
        }
        // Nothing is stored (nor a lease taken) for a repository without
        // packages, nor for an architecture no RPM has and dnf never asks for
        // (otherwise any name would become a stored repository of noarch RPMs).
        let known = BASEARCHES.contains(&arch)
            || os == db::patches::UPDATES_OS
            || db::repos::tagged_arches(&self.db)
                .await?
                .iter()
                .any(|(o, a)| o == os && a == arch);
        let published = if !known || !db::repos::has_members(&self.db, os, arch).await? {
            Published::Empty
        } else {
            self.publish_waiting(os, arch).await?
        };
        match published {
            Published::Empty => Ok(RepoMetadata {
                repomd: repomd::repomd(
                    0,
                    &empty().iter().map(|(f, _)| f.clone()).collect::<Vec<_>>(),
                ),
                revision: 0,
            }),
            _ => {
                let row = db::repos::find(&self.db, os, arch)
                    .await?
                    .ok_or_else(|| Error::internal("a published repository has no row"))?;
                Ok(RepoMetadata {
                    repomd: row.repomd,
                    revision: row.revision,
                })
            }
        }
    }

    /// The detached signature of `repomd`, made now with the current key
    /// (so a new key signs at once).
    pub async fn sign(&self, repomd: &str) -> Result<String> {
        let key = self.key().await?;
        let data = repomd.as_bytes().to_vec();
        let key_sig = key.sign(&data).map_err(Error::internal)?;
        Ok(key_sig)
    }

    /// The public key, ASCII-armoured.
    pub async fn public_key(&self) -> Result<String> {
        Ok(self.key().await?.public_armored.clone())
    }

    /// A metadata file of `os`/`arch` by its name in repomd.xml: of the
    /// current publication, or of one superseded less than the grace period ago.
    pub async fn file(&self, os: &str, arch: &str, name: &str) -> Result<MetadataFile> {
        check_names(os, arch)?;
        let missing = || {
            Error::NotFound(format!(
                "no metadata file {name:?} in repository {os}/{arch}"
            ))
        };
        let Some(repo) = db::repos::find(&self.db, os, arch).await? else {
            return empty_file(name).ok_or_else(missing);
        };
        let Some(row) = db::repos::file(&self.db, repo.id, name).await? else {
            // A client that read the empty repository's repomd.xml just
            // before the first publication asks for the empty files: they
            // never change, so they stay servable.
            return empty_file(name).ok_or_else(missing);
        };
        let object = self.store.get(&Path::from(row.object_key), None).await?;
        Ok(MetadataFile {
            size: row.size as u64,
            body: object.into_stream().map_err(Error::from).boxed(),
        })
    }

    /// Whether `file_name` is a package of repository `os`/`arch` (what its
    /// `Packages/` serves); not found otherwise.
    pub async fn check_package(&self, os: &str, arch: &str, file_name: &str) -> Result<()> {
        check_names(os, arch)?;
        if db::repos::is_member(&self.db, os, arch, file_name).await? {
            Ok(())
        } else {
            Err(Error::NotFound(format!(
                "no package {file_name:?} in repository {os}/{arch}"
            )))
        }
    }

    /// The signing key: configured, else the database's, else a new one
    /// recorded there (the first replica to record it wins; all use it).
    async fn key(&self) -> Result<&RepoKey> {
        self.key
            .get_or_try_init(|| async {
                if let Some(secret) = &self.config.signing_key {
                    return RepoKey::from_armored(secret.expose()).map_err(Error::invalid);
                }
                if let Some(row) = db::repos::signing_key(&self.db).await? {
                    return RepoKey::from_armored(&row.secret_key).map_err(Error::internal);
                }
                let key = tokio::task::spawn_blocking(RepoKey::generate)
                    .await
                    .map_err(Error::internal)?
                    .map_err(Error::internal)?;
                db::repos::insert_key(
                    &self.db,
                    repo_key::Model {
                        id: 1,
                        fingerprint: key.fingerprint.clone(),
                        secret_key: key.secret_armored.clone(),
                        public_key: key.public_armored.clone(),
                        created_at: Utc::now(),
                    },
                )
                .await?;
                let row = db::repos::signing_key(&self.db)
                    .await?
                    .ok_or_else(|| Error::internal("the recorded signing key vanished"))?;
                if row.fingerprint != key.fingerprint {
                    tracing::info!(fingerprint = %row.fingerprint, "using the repository key another replica generated");
                } else {
                    tracing::info!(fingerprint = %key.fingerprint, "generated the repository signing key");
                }
                RepoKey::from_armored(&row.secret_key).map_err(Error::internal)
            })
            .await
    }
}

/// dnf's `$basearch` values: a repository of one of them exists as soon as
/// its tag has `noarch` RPMs.
const BASEARCHES: &[&str] = &[
    "x86_64",
    "aarch64",
    "i386",
    "ppc64le",
    "ppc64",
    "s390x",
    "armhfp",
    "loongarch64",
    "riscv64",
];

pub(super) fn check_names(os: &str, arch: &str) -> Result<()> {
    if valid_segment(os) && valid_segment(arch) {
        Ok(())
    } else {
        Err(Error::NotFound(format!("no repository {os}/{arch}")))
    }
}

/// The files of a repository without packages, which is never stored.
fn empty() -> &'static [(DataFile, Bytes)] {
    static EMPTY: OnceLock<Vec<(DataFile, Bytes)>> = OnceLock::new();
    EMPTY.get_or_init(|| {
        Kind::ALL
            .iter()
            .map(|kind| {
                let (file, bytes) = encoder::empty_file(*kind);
                (file, Bytes::from(bytes))
            })
            .collect()
    })
}

/// One of the empty repository's files, by name: what a repository serves
/// before its first publication.
fn empty_file(name: &str) -> Option<MetadataFile> {
    let (_, bytes) = empty().iter().find(|(f, _)| f.name() == name)?;
    let bytes = bytes.clone();
    Some(MetadataFile {
        size: bytes.len() as u64,
        body: futures::stream::once(async move { Ok(bytes) }).boxed(),
    })
}
