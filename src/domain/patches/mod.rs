//! StarlingX-style patches: patch files read and verified as they stream
//! (`archive`, `signature`, `metadata`, `rules`: pure), releases with their
//! base repositories, and each patch's lifecycle (`upload`, `lifecycle`):
//! Available → Applied → Committed, or back to Available and deleted.

pub mod archive;
pub mod comps;
pub mod currency;
mod health;
mod host_rows;
mod hosts;
mod lifecycle;
pub mod metadata;
mod pages;
pub mod rules;
pub mod signature;
mod stream;
mod upload;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use entity::{patch, patch_release};
use sea_orm::DatabaseConnection;

pub use hosts::{HostReport, HostStatus, Reported};
pub use lifecycle::CommitReport;
use metadata::PatchMetadata;
use signature::{TrustedKeys, Unsigned};

use crate::db;
use crate::domain::packages::Packages;
use crate::domain::repos::RepoChanges;
use crate::error::{Error, Result};
use crate::store::BlobStore;

/// Patch settings (`depot serve`'s `--patch-*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchesConfig {
    /// PEM certificates trusted to sign patches (`--patch-trust-cert`).
    pub trust_certs: Vec<String>,
    /// Accept patches without `signature.v2` (`--patch-allow-unsigned`).
    pub allow_unsigned: bool,
    /// Hosts depot tracks at most (`--patch-max-hosts`).
    pub max_hosts: u64,
}

/// Hosts depot tracks unless told otherwise.
pub const DEFAULT_MAX_HOSTS: u64 = 1000;

impl Default for PatchesConfig {
    fn default() -> Self {
        Self {
            trust_certs: Vec::new(),
            allow_unsigned: false,
            max_hosts: DEFAULT_MAX_HOSTS,
        }
    }
}

/// The states StarlingX names.
pub const AVAILABLE: &str = "Available";
pub const APPLIED: &str = "Applied";
pub const COMMITTED: &str = "Committed";
/// Applied (removed), until every host of the release reports current.
pub const PARTIAL_APPLY: &str = "Partial-Apply";
pub const PARTIAL_REMOVE: &str = "Partial-Remove";
/// The patch state of a release no host reports for.
pub const NOT_APPLICABLE: &str = "n/a";

/// The answer of a lifecycle call, as StarlingX shapes it: newline-joined
/// texts; a non-empty `error` means the call (or part of it) failed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    pub info: String,
    pub warning: String,
    pub error: String,
}

impl Reply {
    fn info(&mut self, line: impl AsRef<str>) {
        self.info.push_str(line.as_ref());
        self.info.push('\n');
    }

    fn warning(&mut self, line: impl AsRef<str>) {
        self.warning.push_str(line.as_ref());
        self.warning.push('\n');
    }

    fn error(&mut self, line: impl AsRef<str>) {
        self.error.push_str(line.as_ref());
        self.error.push('\n');
    }
}

/// A patch as `query` and `show` describe it.
#[derive(Clone, Debug)]
pub struct PatchInfo {
    pub metadata: PatchMetadata,
    pub repostate: String,
    pub patchstate: String,
    /// Its RPMs' file names.
    pub contents: Vec<String>,
}

/// Which patches `query` lists (`show=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Show {
    All,
    Available,
    Applied,
    Committed,
}

impl Show {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "" | "all" => Ok(Self::All),
            "available" => Ok(Self::Available),
            "applied" => Ok(Self::Applied),
            "committed" => Ok(Self::Committed),
            other => Err(Error::invalid(format!(
                "show={other:?}: one of all, available, applied, committed"
            ))),
        }
    }
}

#[derive(Clone)]
pub struct Patches {
    db: DatabaseConnection,
    store: BlobStore,
    packages: Packages,
    repo_changes: RepoChanges,
    trusted: TrustedKeys,
    unsigned: Unsigned,
    max_hosts: u64,
}

impl Patches {
    pub fn new(
        db: DatabaseConnection,
        store: BlobStore,
        packages: Packages,
        repo_changes: RepoChanges,
        config: &PatchesConfig,
    ) -> std::result::Result<Self, String> {
        let mut trusted = TrustedKeys::default();
        for (n, pem) in config.trust_certs.iter().enumerate() {
            trusted
                .add_pem(pem.as_bytes())
                .map_err(|e| format!("patch trust certificate #{}: {e}", n + 1))?;
        }
        Ok(Self {
            db,
            store,
            packages,
            repo_changes,
            trusted,
            unsigned: if config.allow_unsigned {
                Unsigned::Allow
            } else {
                Unsigned::Refuse
            },
            max_hosts: config.max_hosts,
        })
    }

    /// How many certificates are trusted (for the doctor and the log).
    pub fn trusted_keys(&self) -> usize {
        self.trusted.len()
    }

    /// Adds a release and names its base repository (a distribution tag).
    pub async fn add_release(&self, name: &str, base_os: &str) -> Result<patch_release::Model> {
        let valid = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        };
        if !valid(name) || !valid(base_os) {
            return Err(Error::invalid(
                "a release and its base are letters, digits, '.', '_', '-' (at most 64)",
            ));
        }
        if db::patches::find_release(&self.db, name).await?.is_some() {
            return Err(Error::PatchState(format!("release {name} already exists")));
        }
        Ok(db::patches::insert_release(&self.db, name, base_os).await?)
    }

    pub async fn releases(&self) -> Result<Vec<patch_release::Model>> {
        Ok(db::patches::releases(&self.db).await?)
    }

    /// Removes a release that has no patches.
    pub async fn delete_release(&self, name: &str) -> Result<()> {
        if db::patches::count_of_release(&self.db, name).await? > 0 {
            return Err(Error::PatchState(format!(
                "release {name} still has patches; delete them first"
            )));
        }
        if !db::patches::delete_release(&self.db, name).await? {
            return Err(Error::PatchUnknown(format!(
                "release {name} is unrecognized"
            )));
        }
        Ok(())
    }

    /// Patches as `query` lists them.
    pub async fn query(&self, show: Show, release: Option<&str>) -> Result<Vec<PatchInfo>> {
        let rows = db::patches::list(&self.db, release).await?;
        let mut out = Vec::new();
        for row in rows {
            let keep = match show {
                Show::All => true,
                Show::Available => row.repostate == AVAILABLE,
                Show::Applied => row.repostate == APPLIED,
                Show::Committed => row.repostate == COMMITTED,
            };
            if keep {
                out.push(info_of(row, Vec::new())?);
            }
        }
        Ok(out)
    }

    /// The patches of `ids` with their contents; the unknown ones named.
    pub async fn show(&self, ids: &[String]) -> Result<(Vec<PatchInfo>, Vec<String>)> {
        let mut found = Vec::new();
        let mut unknown = Vec::new();
        for id in ids {
            match db::patches::find(&self.db, id).await? {
                Some(row) => {
                    let contents = db::patches::rpms(&self.db, Some(std::slice::from_ref(id)))
                        .await?
                        .into_iter()
                        .map(|r| r.file_name)
                        .collect();
                    found.push(info_of(row, contents)?);
                }
                None => unknown.push(id.clone()),
            }
        }
        Ok((found, unknown))
    }

    /// Every patch's requirements, by id.
    async fn requirements(&self) -> Result<BTreeMap<String, Vec<String>>> {
        let mut map = BTreeMap::new();
        for row in db::patches::list(&self.db, None).await? {
            let meta = parse_stored(&row)?;
            map.insert(row.id, meta.requires);
        }
        Ok(map)
    }

    /// `what_requires`: who requires each of `ids`.
    pub async fn what_requires(&self, ids: &[String]) -> Result<Reply> {
        let requires = self.requirements().await?;
        let mut reply = Reply::default();
        for id in ids {
            if !requires.contains_key(id) {
                reply.error(format!("{id} is unrecognized"));
                continue;
            }
            let by = rules::required_by(id, &requires);
            if by.is_empty() {
                reply.info(format!("{id} is not required by any patches."));
            } else {
                reply.info(format!("{id} is required by: {}", by.join(", ")));
            }
        }
        Ok(reply)
    }

    /// `query_dependencies`: what `ids` require (transitively when `recursive`).
    pub async fn dependencies(&self, ids: &[String], recursive: bool) -> Result<Vec<String>> {
        let requires = self.requirements().await?;
        self.check_known(ids, &requires)?;
        let mut deps: Vec<String> = if recursive {
            rules::closure(ids, &requires).into_iter().collect()
        } else {
            let mut d: Vec<String> = ids.to_vec();
            for id in ids {
                d.extend(requires.get(id).into_iter().flatten().cloned());
            }
            d
        };
        deps.sort();
        deps.dedup();
        Ok(deps)
    }

    /// Whether every one of `ids` is in one of `states` (false for unknown ids).
    pub async fn is_in(&self, ids: &[String], states: &[&str]) -> Result<bool> {
        for id in ids {
            match db::patches::find(&self.db, id).await? {
                Some(row) if states.contains(&row.repostate.as_str()) => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    fn check_known(&self, ids: &[String], known: &BTreeMap<String, Vec<String>>) -> Result<()> {
        let unknown: Vec<String> = ids
            .iter()
            .filter(|id| !known.contains_key(*id))
            .map(|id| format!("{id} is unrecognized"))
            .collect();
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(Error::PatchUnknown(unknown.join("\n")))
        }
    }
}

fn parse_stored(row: &patch::Model) -> Result<PatchMetadata> {
    serde_json::from_str(&row.metadata).map_err(|e| {
        Error::internal(format!(
            "the stored metadata of patch {} is unreadable: {e}",
            row.id
        ))
    })
}

fn info_of(row: patch::Model, contents: Vec<String>) -> Result<PatchInfo> {
    let metadata = parse_stored(&row)?;
    Ok(PatchInfo {
        metadata,
        repostate: row.repostate,
        patchstate: row.patchstate,
        contents,
    })
}
