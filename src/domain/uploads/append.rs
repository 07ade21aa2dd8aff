//! A PATCH: bytes at the upload's offset, written as one part under the
//! lease, committed by a conditional update of the offset; the part that
//! completes the upload finishes it.

use bytes::Bytes;
use chrono::Utc;
use entity::{upload, upload_part};
use futures::{Stream, StreamExt, TryStreamExt};

use super::checksum::Checksum;
use super::finish::failure_kind;
use super::lease::Lease;
use super::{Appended, Uploads, to_i64};
use crate::db;
use crate::db::uploads::Offset;
use crate::domain::admission::UploadSlot;
use crate::domain::users::User;
use crate::error::{Error, Result};
use crate::store::{OnCut, Path, upload_part};

impl Uploads {
    /// Stores `body` at `offset` of the upload; ingests the file when it
    /// completes it. A body cut short keeps what arrived (unless a checksum
    /// was given, which it could not match), so the client resumes from there.
    pub async fn append<S>(
        &self,
        user: &User,
        id: &str,
        offset: u64,
        body: S,
        checksum: Option<Checksum>,
    ) -> Result<Appended>
    where
        S: Stream<Item = Result<Bytes>> + Send + Unpin + 'static,
    {
        let row = self.get(user, id).await?;
        if row.package_id.is_some() {
            return Err(Error::UploadOffsetConflict(format!(
                "upload {id} is already complete"
            )));
        }
        // A PATCH receives bytes: it holds an upload slot like any upload.
        let slot = self.packages.admit(&user.name, None, self.max_size)?;
        let received = row.received_bytes as u64;
        if received != offset {
            return Err(Error::UploadOffsetConflict(format!(
                "upload {id} has {received} bytes; this PATCH starts at {offset} (HEAD tells the offset to resume from)"
            )));
        }
        let lease = match Lease::acquire(&self.db, id, offset).await? {
            Some(lease) => lease,
            None => Lease::take_over(&self.db, id, offset).await?,
        };
        if let Err(e) = self.drop_stale_parts(id, offset).await {
            lease.release().await;
            return Err(e);
        }
        let result = self.append_leased(slot, &row, &lease, body, checksum).await;
        // A stored package settled the upload and cleared the lease with it.
        if !matches!(
            result,
            Ok(Appended {
                package: Some(_),
                ..
            })
        ) {
            lease.release().await;
        }
        result
    }

    async fn append_leased<S>(
        &self,
        slot: UploadSlot,
        row: &upload::Model,
        lease: &Lease,
        body: S,
        checksum: Option<Checksum>,
    ) -> Result<Appended>
    where
        S: Stream<Item = Result<Bytes>> + Send + Unpin + 'static,
    {
        let offset = row.received_bytes as u64;
        let remaining = row.length as u64 - offset;
        let path = upload_part(&row.id, offset);
        let digest = checksum.as_ref().map(Checksum::start);
        let hashing = digest.clone();
        let activity = lease.activity();
        let body = body
            .inspect_ok(move |chunk| {
                activity();
                if let Some(digest) = &hashing {
                    digest.update(chunk);
                }
            })
            // A takeover ends the body here; what arrived is kept below.
            .take_until(Box::pin(lease.revoked()));
        // Bytes cut short cannot match a checksum given for the whole request.
        let on_cut = match checksum {
            None => OnCut::Keep,
            Some(_) => OnCut::Discard,
        };
        let written = self
            .store()
            .write_part(&path, body, remaining, on_cut)
            .await
            .map_err(|e| match e {
                Error::UploadTooLarge { .. } => Error::invalid(format!(
                    "the PATCH carries more than the {remaining} bytes left of the announced Upload-Length"
                )),
                e => e,
            })?;
        if let (Some(checksum), Some(digest), None) = (&checksum, digest, &written.cut)
            && !digest.matches(checksum)
        {
            self.discard(&path).await;
            return Err(Error::ChecksumMismatch(format!(
                "the PATCH's {} does not match Upload-Checksum; its bytes were discarded",
                checksum.algorithm.name()
            )));
        }
        let now = Utc::now();
        let mut expires_at = row.expires_at;
        let complete = offset + written.len == row.length as u64;
        if written.len > 0 {
            expires_at = self.expires_from(now);
            let part = upload_part::Model {
                upload_id: row.id.clone(),
                start: to_i64(offset)?,
                length: to_i64(written.len)?,
                object_path: path.to_string(),
            };
            // The last part's bytes count once the package exists.
            let moves = if complete {
                Offset::Hold
            } else {
                Offset::Advance
            };
            let committed =
                db::uploads::commit_part(&self.db, lease.id(), part, expires_at, moves).await;
            if !matches!(committed, Ok(true)) {
                self.discard(&path).await;
                committed?;
                return Err(Error::UploadOffsetConflict(format!(
                    "upload {} moved on while this PATCH was sending (its lease expired); HEAD tells the offset",
                    row.id
                )));
            }
        }
        let start = offset;
        let offset = offset + written.len;
        if complete {
            lease.begin_finishing();
            // Every byte is here, even if the body then broke: store the package.
            let package = match self.finish_leased(slot, row, lease).await {
                Ok(package) => package,
                Err(e) => {
                    if failure_kind(&e).is_none() {
                        // Not stored, and not refused: the last part goes, so that
                        // HEAD sends the client back to resend it.
                        self.drop_stale_parts(&row.id, start).await?;
                    }
                    return Err(e);
                }
            };
            return Ok(Appended {
                offset,
                expires_at,
                package: Some(package),
            });
        }
        if let Some(cut) = written.cut {
            tracing::info!(upload = %row.id, offset, error = %cut, "resumable upload interrupted; its bytes are kept");
            return Err(cut);
        }
        if lease.is_revoked() {
            tracing::info!(upload = %row.id, offset, "a quiet PATCH gave way to a new one; its bytes are kept");
            return Err(Error::UploadOffsetConflict(format!(
                "upload {} was taken over by a newer request after this one went quiet; {offset} bytes are kept",
                row.id
            )));
        }
        Ok(Appended {
            offset,
            expires_at,
            package: None,
        })
    }

    /// Removes parts at or past `offset`, left by a request that stored the
    /// last part but not the package.
    async fn drop_stale_parts(&self, id: &str, offset: u64) -> Result<()> {
        for part in db::uploads::parts_from(&self.db, id, to_i64(offset)?).await? {
            self.store()
                .delete_path(&Path::from(part.object_path.as_str()))
                .await?;
            db::uploads::delete_part(&self.db, id, part.start).await?;
        }
        Ok(())
    }

    async fn discard(&self, path: &Path) {
        if let Err(e) = self.store().delete_path(path).await {
            tracing::warn!(%path, error = %e, "removing a refused part failed; the expiry sweep retries");
        }
    }
}
