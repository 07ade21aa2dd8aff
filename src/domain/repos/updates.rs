//! A release's updates repository (`/repos/patches/<release>/`): the RPMs
//! of its applied and committed patches (`db::repos::members`), and its
//! comps document, one group per personality, written whole as an
//! immutable object beside the other metadata files.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use chrono::Utc;
use sha2::{Digest, Sha256};

use super::Repos;
use super::repomd::{DataFile, Kind};
use crate::db;
use crate::domain::patches::comps::comps;
use crate::domain::patches::metadata::PatchMetadata;
use crate::error::{Error, Result};
use crate::store::{OnCut, Path, repo_object};

/// What a publication contains: its packages' digest, and its comps
/// document when it has one.
pub(super) fn with_comps(packages: &str, comps: Option<&str>) -> String {
    match comps {
        Some(comps) => hex::encode(Sha256::digest(format!("{packages}{comps}"))),
        None => packages.to_string(),
    }
}

impl Repos {
    /// The comps document of repository `os`/`arch`: a release's updates
    /// repository has one, the others none.
    pub(super) async fn comps_of(&self, os: &str, arch: &str) -> Result<Option<String>> {
        if os == db::patches::UPDATES_OS {
            Ok(Some(self.updates_comps(arch).await?))
        } else {
            Ok(None)
        }
    }

    /// comps.xml of `release`: its served patches' packages per personality.
    pub(super) async fn updates_comps(&self, release: &str) -> Result<String> {
        let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for patch in db::patches::served(&self.db, release).await? {
            let meta: PatchMetadata = serde_json::from_str(&patch.metadata).map_err(|e| {
                Error::internal(format!(
                    "the stored metadata of patch {} is unreadable: {e}",
                    patch.id
                ))
            })?;
            for (personality, packages) in meta.personalities {
                groups.entry(personality).or_default().extend(packages);
            }
        }
        Ok(comps(&groups))
    }

    /// Stores the comps document as a new object; its `group` data file.
    pub(super) async fn write_comps(
        &self,
        os: &str,
        arch: &str,
        xml: String,
    ) -> Result<(DataFile, Path)> {
        let bytes = Bytes::from(xml);
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let size = bytes.len() as u64;
        let key = repo_object(os, arch);
        let body = futures::stream::once(async move { Ok(bytes) });
        self.store
            .write_part(&key, Box::pin(body), u64::MAX, OnCut::Discard)
            .await?;
        let file = DataFile {
            kind: Kind::Group,
            open_sha256: sha256.clone(),
            sha256,
            size,
            open_size: size,
            timestamp: Utc::now().timestamp(),
        };
        Ok((file, key))
    }
}
