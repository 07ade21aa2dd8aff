//! A patch upload: the gzip tar streamed through the archive reader on a
//! thread of its own; each RPM staged in the store as it passes (bounded
//! channel: memory does not grow with the patch); the signatures checked;
//! then the RPMs stored as packages through the ordinary ingest, the upload
//! checks run, and the patch recorded. A refused patch leaves nothing.

use std::io::{self, Read};

use bytes::Bytes;
use chrono::Utc;
use entity::{patch, patch_rpm};
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::archive::{Limits, PatchArchive, read_patch};
use super::metadata::{self, Nevra, PatchMetadata, compare_evr};
use super::rules::epoch_of_primary;
use super::stream::{ChannelReader, Limited, read_error, stage_rpm};
use super::{AVAILABLE, COMMITTED, NOT_APPLICABLE, Patches, Reply, signature};
use crate::db;
use crate::domain::admission::UploadSlot;
use crate::domain::packages::{Ingested, Origin, Outcome, Submission};
use crate::domain::rpm_header::read_rpm_metadata;
use crate::error::{Error, Result};
use crate::store::Staged;

use super::stream::CHUNKS_IN_FLIGHT;

impl Patches {
    /// Uploads a patch file named `file_name` (`<ID>.patch`) from `body`,
    /// at most `limit` bytes.
    pub async fn upload<S, E>(
        &self,
        slot: UploadSlot,
        body: S,
        file_name: Option<String>,
        limit: u64,
    ) -> Result<Reply>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: Into<Error>,
    {
        let file_name = file_name.unwrap_or_default();
        let Some(file_id) = file_name.strip_suffix(".patch") else {
            return Err(Error::PatchInvalid(
                "File must end in .patch extension".into(),
            ));
        };
        metadata::check_id(file_id).map_err(Error::PatchInvalid)?;
        let file_id = file_id.to_owned();
        // The body is pumped here, read on a thread of its own (the tar and
        // gzip readers are synchronous), through a bounded channel.
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHUNKS_IN_FLIGHT);
        let reader = Limited::new(ChannelReader::new(rx), limit);
        let (handle, store) = (Handle::current(), self.store.clone());
        let reading = tokio::task::spawn_blocking(move || {
            let mut staged: Vec<(String, Staged)> = Vec::new();
            let read = read_patch(reader, Limits::default(), |name, rpm: &mut dyn Read| {
                let s = stage_rpm(&handle, &store, rpm, limit)?;
                staged.push((name.to_owned(), s));
                Ok::<_, Error>(())
            });
            (read, staged)
        });
        let pump = async move {
            let mut body = body;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| io::Error::other(e.into()));
                let failed = chunk.is_err();
                // A closed channel: the reader is done (or failed), and says why.
                if tx.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        };
        let ((), joined) = tokio::join!(pump, reading);
        let (read, staged) = joined.map_err(Error::internal)?;
        let result = match read {
            Ok(archive) => self.register(&file_id, archive, &staged).await,
            Err(e) => Err(read_error(e)),
        };
        for (_, s) in &staged {
            self.store.discard(s).await;
        }
        drop(slot);
        result
    }

    async fn register(
        &self,
        file_id: &str,
        archive: PatchArchive,
        staged: &[(String, Staged)],
    ) -> Result<Reply> {
        signature::verify(
            archive.signature.as_deref(),
            archive.signature_v2.as_deref(),
            &archive.md5s,
            &archive.sha256,
            &self.trusted,
            self.unsigned,
        )
        .map_err(|m| Error::PatchVerification(m.into()))?;
        let meta = metadata::parse(&archive.metadata_xml).map_err(Error::PatchInvalid)?;
        let id = meta.id.clone();
        if id != file_id {
            return Err(Error::PatchInvalid(format!(
                "the file is named {file_id}.patch but its metadata.xml says it is {id}"
            )));
        }
        let mut listed = meta.contents.clone();
        let mut held = archive.rpms.clone();
        listed.sort();
        held.sort();
        if listed != held {
            return Err(Error::PatchInvalid(format!(
                "Patch validation failed for {id}:\nmetadata.xml lists {} RPM(s), software.tar holds {}: they must be the same",
                listed.len(),
                held.len()
            )));
        }
        let Some(release) = db::patches::find_release(&self.db, &meta.sw_version).await? else {
            return Err(Error::PatchInvalid(format!(
                "Patch validation failed for {id}:\nunknown release {} (add it with `depot patch release add`)",
                meta.sw_version
            )));
        };
        if let Some(existing) = db::patches::find(&self.db, &id).await? {
            return self.reimport(existing, meta, held).await;
        }
        // StarlingX's checks on the RPMs' headers, before anything is stored.
        let mut identified = Vec::new();
        for (name, s) in staged {
            identified.push((name.clone(), self.identify(name, s).await?, s.size));
        }
        let mut rows = self
            .check_rpms(&meta, &release.base_os, &identified)
            .await?;
        // The RPMs, as any package; what this upload created is removed again on failure.
        let mut stored = Vec::new();
        for ((name, s), row) in staged.iter().zip(rows.iter_mut()) {
            let submission = Submission {
                client_name: Some(name.clone()),
                origin: Origin::Patch,
                ..Submission::default()
            };
            match self.packages.ingest_staged(s, &submission).await {
                Ok(ingested) => {
                    row.package_id = ingested.package.id;
                    stored.push(ingested);
                }
                Err(e) => {
                    self.forget(&stored).await;
                    return Err(e);
                }
            }
        }
        let now = Utc::now();
        let row = patch::Model {
            id: id.clone(),
            sw_version: meta.sw_version.clone(),
            metadata: serde_json::to_string(&meta).map_err(Error::internal)?,
            status: meta.status.clone(),
            repostate: AVAILABLE.into(),
            patchstate: NOT_APPLICABLE.into(),
            created_at: now,
            updated_at: now,
        };
        if let Err(e) = db::patches::insert(&self.db, row, rows).await {
            self.forget(&stored).await;
            return Err(e.into());
        }
        // Linked now: their distribution's repositories, which leave patch
        // RPMs out, are told once (one may have been published meanwhile).
        for ingested in &stored {
            let p = &ingested.package;
            self.repo_changes
                .touch(&p.operating_system, &p.architecture);
        }
        tracing::info!(patch = %id, rpms = stored.len(), "patch uploaded");
        crate::metrics::patch_event("upload");
        let mut reply = Reply::default();
        reply.info(format!("{id} is now available"));
        Ok(reply)
    }

    /// An RPM's name, epoch, version, release and arch, from its header.
    async fn identify(&self, name: &str, staged: &Staged) -> Result<Nevra> {
        let stream = self.store.get(&staged.path, None).await?.into_stream();
        let reader = SyncIoBridge::new(StreamReader::new(stream.map_err(io::Error::other)));
        let read = tokio::task::spawn_blocking(move || read_rpm_metadata(reader)).await;
        let invalid = |why: String| Error::PatchInvalid(format!("{name} in the patch: {why}"));
        match read {
            Ok(Ok((info, _, meta))) => Ok(Nevra {
                epoch: meta.get_epoch().unwrap_or(0).to_string(),
                name: info.name,
                version: info.version,
                release: info.release,
                arch: info.arch,
            }),
            Ok(Err(e)) => Err(invalid(e)),
            // The rpm crate panics on some inconsistent headers: bad input.
            Err(e) if e.is_panic() => Err(invalid("its header is damaged".into())),
            Err(e) => Err(Error::internal(e)),
        }
    }

    /// The same id again: a committed patch is refused; otherwise only its
    /// metadata is updated, and its RPM list must be the same.
    async fn reimport(
        &self,
        existing: patch::Model,
        meta: PatchMetadata,
        held: Vec<String>,
    ) -> Result<Reply> {
        let id = existing.id.clone();
        if existing.repostate == COMMITTED {
            return Err(Error::PatchCommitted(format!(
                "{id} is committed. Metadata not updated"
            )));
        }
        let mut had: Vec<String> = db::patches::rpms(&self.db, Some(std::slice::from_ref(&id)))
            .await?
            .into_iter()
            .map(|r| r.file_name)
            .collect();
        had.sort();
        if had != held {
            return Err(Error::PatchInvalid(format!(
                "Contents of {id} do not match re-imported patch"
            )));
        }
        let json = serde_json::to_string(&meta).map_err(Error::internal)?;
        db::patches::update_metadata(&self.db, &id, json, meta.status).await?;
        let mut reply = Reply::default();
        reply.info(format!("{id} is already imported. Updated metadata only"));
        Ok(reply)
    }

    /// StarlingX's upload checks: each RPM named after its header, newer
    /// than the base repository's, not already provided by another patch.
    async fn check_rpms(
        &self,
        meta: &PatchMetadata,
        base_os: &str,
        rpms: &[(String, Nevra, u64)],
    ) -> Result<Vec<patch_rpm::Model>> {
        let id = &meta.id;
        let mut failures = Vec::new();
        let mut rows = Vec::new();
        for (name, nevra, size) in rpms {
            let by_header = format!(
                "{}-{}-{}.{}.rpm",
                nevra.name, nevra.version, nevra.release, nevra.arch
            );
            if *name != by_header {
                failures.push(format!(
                    "{name} in software.tar is {by_header} by its header"
                ));
                continue;
            }
            let base =
                db::patches::base_versions(&self.db, base_os, &nevra.name, &nevra.arch).await?;
            let base_ids: Vec<i64> = base.iter().map(|b| b.0).collect();
            let primaries = db::patches::primaries(&self.db, &base_ids).await?;
            for (base_id, version, release) in base {
                let epoch = primaries
                    .iter()
                    .find(|(p, _)| *p == base_id)
                    .map(|(_, primary)| epoch_of_primary(primary))
                    .unwrap_or_else(|| "0".into());
                let original = Nevra {
                    epoch,
                    version,
                    release,
                    ..nevra.clone()
                };
                if compare_evr(nevra, &original) != std::cmp::Ordering::Greater {
                    failures.push(format!(
                        "RPM {name} in patch {id} must be higher version than original ({})",
                        original.evr()
                    ));
                }
            }
            for other in db::patches::rpms_named(&self.db, &nevra.name, &nevra.arch).await? {
                let theirs = Nevra {
                    epoch: other.epoch.clone(),
                    version: other.version.clone(),
                    release: other.release.clone(),
                    ..nevra.clone()
                };
                if other.patch_id != *id && compare_evr(nevra, &theirs).is_eq() {
                    failures.push(format!(
                        "Patch {id} contains rpm {name}, which is already provided by patch {}",
                        other.patch_id
                    ));
                }
            }
            rows.push(patch_rpm::Model {
                id: 0,
                patch_id: id.clone(),
                package_id: 0,
                file_name: name.clone(),
                name: nevra.name.clone(),
                epoch: nevra.epoch.clone(),
                version: nevra.version.clone(),
                release: nevra.release.clone(),
                arch: nevra.arch.clone(),
                size: *size as i64,
            });
        }
        if failures.is_empty() {
            Ok(rows)
        } else {
            Err(Error::PatchInvalid(format!(
                "Patch validation failed for {id}:\n{}",
                failures.join("\n")
            )))
        }
    }

    /// Removes the packages a refused upload created (not those it found stored).
    async fn forget(&self, stored: &[Ingested]) {
        for ingested in stored {
            if ingested.outcome == Outcome::Created
                && let Err(e) = self.packages.delete(ingested.package.id).await
            {
                tracing::warn!(package = ingested.package.id, error = %e, "removing an RPM of a refused patch");
            }
        }
    }
}
