//! Writing uploads: staged while they are hashed, then given their content
//! key; and the parts of resumable uploads.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::{ObjectStoreExt, WriteMultipart};

use super::digest::{Digester, Digests, SignedPartMd5};
use super::key::{self, BlobKey};
use super::{BlobStore, Path};
use crate::error::{Error, Result};
use crate::metrics::METRICS;

/// Parts uploaded concurrently while staging: bounds memory to a few parts.
const PARTS_IN_FLIGHT: usize = 4;

/// What `write_part` stored.
#[derive(Debug)]
pub struct Written {
    pub len: u64,
    /// Why the body ended early, when it did.
    pub cut: Option<Error>,
}

/// What `write_part` does with the bytes of a body that breaks off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnCut {
    /// Keeps what arrived, for the client to resume after it.
    Keep,
    /// Leaves nothing (what arrived cannot be checked, say).
    Discard,
}

/// An upload that has been written and hashed but not yet given its content key.
#[derive(Debug)]
pub struct Staged {
    pub path: Path,
    pub size: u64,
    pub digests: Digests,
    /// The first bytes, to tell an RPM from a script without another read.
    pub magic: Vec<u8>,
    pub key: BlobKey,
}

impl BlobStore {
    /// Streams `body` into a staging object, hashing it on the way (the RPM
    /// signed part's MD5 only if `signed_part`). Fails with `TooLarge` as soon
    /// as more than `limit` bytes arrive; nothing is left behind on any failure.
    pub async fn stage<S, E>(
        &self,
        mut body: S,
        limit: u64,
        signed_part: SignedPartMd5,
    ) -> Result<Staged>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<Error>,
    {
        let path = key::staging_object();
        let upload = self.store.put_multipart(&path).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        let mut digester = Digester::start(signed_part);
        let mut size = 0u64;
        let mut magic = Vec::with_capacity(8);

        let copied: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(Into::into)?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(Error::UploadTooLarge { limit });
                }
                if magic.len() < 8 {
                    let take = (8 - magic.len()).min(chunk.len());
                    magic.extend_from_slice(&chunk[..take]);
                }
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                digester.update(chunk.clone()).await;
                writer.put(chunk);
            }
            // No package is empty; and S3 servers differ on a multipart
            // upload of nothing (Garage refuses its empty part).
            if size == 0 {
                return Err(Error::IllegalArgument("the file is empty".into()));
            }
            Ok(())
        }
        .await;

        if let Err(e) = copied {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(%path, error = %abort, "aborting a failed staging upload");
            }
            return Err(e);
        }
        writer.finish().await?;
        let digests = digester.finish().await.map_err(Error::internal)?;
        Ok(Staged {
            key: BlobKey::from_blake3(&digests.blake3),
            path,
            size,
            digests,
            magic,
        })
    }

    /// Writes `body` to a new object at `path`, for a resumable upload's part.
    /// When the body breaks (client gone, stalled), what arrived is kept if
    /// `on_cut` says so, and the cause returned beside the length; a store
    /// failure or more than `limit` bytes leave nothing.
    pub async fn write_part<S>(
        &self,
        path: &Path,
        mut body: S,
        limit: u64,
        on_cut: OnCut,
    ) -> Result<Written>
    where
        S: Stream<Item = Result<Bytes>> + Unpin,
    {
        let upload = self.store.put_multipart(path).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        let mut len = 0u64;
        let mut cut = None;
        let copied: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    Err(e @ (Error::UploadInterrupted(_) | Error::UploadStalled { .. })) => {
                        cut = Some(e);
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                };
                len += chunk.len() as u64;
                if len > limit {
                    return Err(Error::UploadTooLarge { limit });
                }
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                writer.put(chunk);
            }
            Ok(())
        }
        .await;
        let keep = copied.is_ok() && len > 0 && (cut.is_none() || on_cut == OnCut::Keep);
        if !keep {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(%path, error = %abort, "aborting a part upload");
            }
            copied?;
            return Ok(Written { len: 0, cut });
        }
        writer.finish().await?;
        Ok(Written { len, cut })
    }

    /// Writes `body` to a new object at `path`, for a file depot makes
    /// itself (a repository's metadata): one PUT when it ends within a part,
    /// where a multipart upload would take three requests; a multipart
    /// upload past that, so memory stays at a part. Nothing is left on
    /// failure. Answers the length.
    pub async fn write_whole<S>(&self, path: &Path, mut body: S) -> Result<u64>
    where
        S: Stream<Item = Result<Bytes>> + Unpin,
    {
        let mut writer = object_store::buffered::BufWriter::with_capacity(
            self.store.clone(),
            path.clone(),
            self.part_size,
        );
        let mut len = 0u64;
        let copied: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                len += chunk.len() as u64;
                writer.put(chunk).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = copied {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(%path, error = %abort, "aborting a metadata upload");
            }
            return Err(e);
        }
        tokio::io::AsyncWriteExt::shutdown(&mut writer)
            .await
            .map_err(|e| Error::StoreUnavailable(format!("writing {path}: {e}")))?;
        Ok(len)
    }

    /// Removes a staging object. A failure is only logged: the leftover is
    /// never referenced and costs only space.
    pub async fn discard(&self, staged: &Staged) {
        if let Err(e) = self.store.delete(&staged.path).await {
            tracing::warn!(path = %staged.path, error = %e, "removing a staging object");
        }
    }

    /// Makes sure the staged bytes exist under their content key.
    pub async fn ensure_stored(&self, staged: &Staged) -> Result<()> {
        if self.exists(&staged.key).await? {
            return Ok(());
        }
        let to = staged.key.path();
        METRICS
            .store_op("copy", async {
                match &self.sdk {
                    Some(sdk) if staged.size > sdk.max_single_copy => {
                        sdk.copy(&staged.path, &to, staged.size).await
                    }
                    // Local files: a hard link; S3: CopyObject. Both are server-side.
                    _ => Ok(self.store.copy(&staged.path, &to).await?),
                }
            })
            .await
    }
}
