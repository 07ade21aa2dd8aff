//! An upload's bytes on their way to their content key: staged under a
//! random name while they are hashed, then copied under the key; or, when
//! the client announced the key, written once under it.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::{ObjectStoreExt, WriteMultipart};

use super::digest::{Announced, Digester, Digests, SignedPartMd5};
use super::key::{self, BlobKey};
use super::parts::Parts;
use super::{BlobStore, Path};
use crate::error::{Error, Result};
use crate::metrics::METRICS;

/// Where an upload's bytes go while they are hashed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A staging object, copied under the content key once the key is known:
    /// a second write wherever a copy moves bytes (MinIO, AWS, file stores).
    Staging,
    /// The content key the client announced (its BLAKE3, or a SHA-256 depot
    /// already holds), written once: the write completes only when the
    /// bytes hash to it. When the key already holds them, nothing is
    /// written at all; the bytes are only hashed.
    Key(BlobKey),
}

/// Where `stage` left the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// In a staging object, to be copied under the key and removed.
    Staging,
    /// Under the content key, written by this upload.
    Written,
    /// Under the content key already: this upload wrote nothing.
    Found,
}

impl Placement {
    pub fn label(self) -> &'static str {
        match self {
            Placement::Staging => "staged",
            Placement::Written => "direct",
            Placement::Found => "found",
        }
    }
}

/// An upload that has been written and hashed.
#[derive(Debug)]
pub struct Staged {
    /// Where the bytes can be read: the staging object or the content key.
    pub path: Path,
    pub size: u64,
    pub digests: Digests,
    /// The first bytes, to tell an RPM from a script without another read.
    pub magic: Vec<u8>,
    pub key: BlobKey,
    pub placement: Placement,
}

impl BlobStore {
    /// Streams `body` to `destination`, hashing it on the way (the RPM
    /// signed part's MD5 only if `signed_part`), and checks it against the
    /// `announced` digests before the write completes. Fails with `TooLarge`
    /// as soon as more than `limit` bytes arrive; nothing is left behind on
    /// any failure.
    pub async fn stage<S, E>(
        &self,
        mut body: S,
        limit: u64,
        signed_part: SignedPartMd5,
        announced: &Announced,
        destination: Destination,
    ) -> Result<Staged>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: Into<Error>,
    {
        let (path, placement) = match &destination {
            Destination::Staging => (key::staging_object(), Placement::Staging),
            Destination::Key(key) if self.exists(key).await? => (key.path(), Placement::Found),
            Destination::Key(key) => (key.path(), Placement::Written),
        };
        let mut writer = match placement {
            Placement::Found => None,
            Placement::Staging | Placement::Written => {
                let upload = self.store.put_multipart(&path).await?;
                Some((
                    WriteMultipart::new_with_chunk_size(upload, self.part_size),
                    Parts::new(self.part_size),
                ))
            }
        };
        let mut digester = Digester::start(signed_part);
        let mut size = 0u64;
        let mut magic = Vec::with_capacity(8);

        let copied: Result<Digests> = async {
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
                match &mut writer {
                    Some((writer, parts)) => {
                        parts.write(writer, &chunk).await?;
                        digester.update(chunk).await;
                    }
                    // Bounded by the digester's own queues.
                    None => digester.update(chunk).await,
                }
            }
            // No package is empty; and S3 servers differ on a multipart
            // upload of nothing (Garage refuses its empty part).
            if size == 0 {
                return Err(Error::IllegalArgument("the file is empty".into()));
            }
            // Checked before the write completes: under a content key, only
            // bytes that hash to it may ever appear, even for a moment.
            let digests = digester.finish().await.map_err(Error::internal)?;
            announced.check(&digests)?;
            if let Destination::Key(key) = &destination
                && BlobKey::from_blake3(&digests.blake3) != *key
            {
                return Err(Error::ChecksumMismatch(
                    "the file is not the one its announced digest names: nothing was stored".into(),
                ));
            }
            Ok(digests)
        }
        .await;

        let digests = match copied {
            Ok(digests) => digests,
            Err(e) => {
                if let Some((writer, _)) = writer
                    && let Err(abort) = writer.abort().await
                {
                    tracing::warn!(%path, error = %abort, "aborting a failed upload's write");
                }
                return Err(e);
            }
        };
        if let Some((mut writer, mut parts)) = writer {
            parts.flush(&mut writer);
            writer.finish().await?;
        }
        Ok(Staged {
            key: BlobKey::from_blake3(&digests.blake3),
            path,
            size,
            digests,
            magic,
            placement,
        })
    }

    /// Removes a staging object (an upload written under its content key
    /// keeps it). A failure is only logged: the leftover is never referenced
    /// and costs only space.
    pub async fn discard(&self, staged: &Staged) {
        if staged.placement != Placement::Staging {
            return;
        }
        if let Err(e) = self.store.delete(&staged.path).await {
            tracing::warn!(path = %staged.path, error = %e, "removing a staging object");
        }
    }

    /// Makes sure the staged bytes exist under their content key: copied
    /// from the staging object when they are not there. Bytes that went
    /// straight under the key have no staging copy: if GC removed them
    /// meanwhile (they were unreferenced, and old), the client must send them
    /// again.
    pub async fn ensure_stored(&self, staged: &Staged) -> Result<()> {
        if self.exists(&staged.key).await? {
            return Ok(());
        }
        if staged.placement != Placement::Staging {
            return Err(Error::StoreUnavailable(format!(
                "{} was removed while this upload was stored; send the file again",
                staged.key
            )));
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
