//! Finishing an upload: once the last part is committed, its parts are
//! streamed in order through the same ingest as a multipart upload, and the
//! outcome (the package, or a final refusal) is recorded under the lease.

use bytes::Bytes;
use chrono::Utc;
use entity::{package, upload};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use super::Uploads;
use super::lease::Lease;
use crate::db;
use crate::domain::admission::UploadSlot;
use crate::domain::packages::Submission;
use crate::error::{Error, Result};
use crate::store::{Announced, Path};

impl Uploads {
    /// Ingests the parts as one file. A refusal (bad package, conflict,
    /// digest mismatch) is final and recorded; after any other failure the
    /// caller drops the last part, for the client to send again.
    pub(super) async fn finish_leased(
        &self,
        slot: UploadSlot,
        row: &upload::Model,
        lease: &Lease,
    ) -> Result<package::Model> {
        let parts = db::uploads::parts(&self.db, &row.id).await?;
        let mut expected = 0;
        for part in &parts {
            if part.start != expected {
                return Err(Error::internal(format!(
                    "upload {} has a gap at byte {expected}",
                    row.id
                )));
            }
            expected += part.length;
        }
        if expected != row.length {
            return Err(Error::internal(format!(
                "upload {} has {expected} of {} bytes in its parts",
                row.id, row.length
            )));
        }
        let store = self.store().clone();
        let body: BoxStream<'static, Result<Bytes>> = futures::stream::iter(parts)
            .then(move |part| {
                let store = store.clone();
                async move {
                    let object = store.get(&Path::from(part.object_path), None).await?;
                    Ok::<_, Error>(object.into_stream().map_err(Error::from))
                }
            })
            .try_flatten()
            .boxed();
        let declared_type = row
            .declared_type
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(Error::internal)?;
        let upload = Submission {
            client_name: Some(row.file_name.clone()),
            declared_type,
            announced: Announced {
                sha1: row.sha1.clone(),
                sha256: row.sha256.clone(),
                blake3: row.blake3.clone(),
            },
            ..Submission::default()
        };
        match self
            .packages
            .ingest(slot, body, upload, self.max_size)
            .await
        {
            Ok(ingested) => {
                let expires_at = self.expires_from(Utc::now());
                let finished = db::uploads::finish(
                    &self.db,
                    &row.id,
                    lease.id(),
                    row.length,
                    ingested.package.id,
                    expires_at,
                )
                .await?;
                if !finished {
                    return Err(lost_lease(&row.id));
                }
                self.remove_objects(&row.id).await;
                tracing::info!(upload = %row.id, id = ingested.package.id, file = %ingested.package.file_name, outcome = ?ingested.outcome, "resumable upload stored");
                Ok(ingested.package)
            }
            Err(e) => {
                if let Some(kind) = failure_kind(&e) {
                    if !db::uploads::fail(&self.db, &row.id, lease.id(), kind, &e.to_string())
                        .await?
                    {
                        return Err(lost_lease(&row.id));
                    }
                    self.remove_objects(&row.id).await;
                    tracing::info!(upload = %row.id, error = %e, "resumable upload refused; its bytes are removed");
                }
                Err(e)
            }
        }
    }

    async fn remove_objects(&self, id: &str) {
        if let Err(e) = self.store().delete_upload_parts(id).await {
            tracing::warn!(upload = %id, error = %e, "removing an upload's parts failed; the expiry sweep retries");
        }
    }
}

/// Refusals that no retry can change, recorded on the upload.
pub(super) fn failure_kind(e: &Error) -> Option<&'static str> {
    match e {
        Error::IllegalArgument(_) => Some("invalid"),
        Error::PackageConflict(_) => Some("conflict"),
        Error::ChecksumMismatch(_) => Some("checksum"),
        Error::UploadTooLarge { .. } => Some("invalid"),
        _ => None,
    }
}

fn lost_lease(id: &str) -> Error {
    Error::UploadOffsetConflict(format!(
        "upload {id} was taken over by another request while this one stored it; HEAD tells where it stands"
    ))
}
