//! Copying a blob from one store to another (regions), streamed and
//! verified: the bytes are hashed (BLAKE3) on their way, and the object is
//! completed under its content key only when they match it. A copy cut off
//! (a crash, a store gone) leaves an unfinished multipart upload, which no
//! reader sees and the leftovers sweep removes: never a partial object.

use futures::StreamExt;
use object_store::{ObjectStoreExt, WriteMultipart};

use super::key::BlobKey;
use super::parts::Parts;
use super::{BlobStore, Path};
use crate::error::{Error, Result};

/// What a replication copy found.
#[derive(Debug, PartialEq, Eq)]
pub enum Copied {
    /// The bytes were copied and verified.
    Copied(u64),
    /// The source has no such object.
    SourceMissing,
}

impl BlobStore {
    /// Whether the object at `key` exists and hashes to its own key's
    /// digest, read through once; `false` when missing or wrong.
    pub async fn holds_verified(&self, key: &BlobKey) -> Result<bool> {
        let Some(expected) = key.blake3_hex() else {
            return Err(Error::internal(format!("{key} is not a content key")));
        };
        let object = match self.store.get(&key.path()).await {
            Ok(object) => object,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let mut stream = object.into_stream();
        let mut hasher = blake3::Hasher::new();
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk?);
        }
        Ok(hasher.finalize().to_hex().as_str() == expected)
    }

    /// The object's size, `None` when there is none.
    pub async fn size_of(&self, path: &Path) -> Result<Option<u64>> {
        match self.store.head(path).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Streams blob `key` from `source` into this store under the same key,
    /// completing it only when its BLAKE3 digest is the key's.
    pub async fn copy_verified(&self, source: &BlobStore, key: &BlobKey) -> Result<Copied> {
        let Some(expected) = key.blake3_hex() else {
            return Err(Error::internal(format!("{key} is not a content key")));
        };
        let path = key.path();
        let object = match source.store.get(&path).await {
            Ok(object) => object,
            Err(object_store::Error::NotFound { .. }) => return Ok(Copied::SourceMissing),
            Err(e) => return Err(e.into()),
        };
        let mut stream = object.into_stream();
        let upload = self.store.put_multipart(&path).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        let mut parts = Parts::new(self.part_size);
        let mut hasher = blake3::Hasher::new();
        let mut size = 0u64;
        let copied: Result<()> = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                size += chunk.len() as u64;
                hasher.update(&chunk);
                parts.write(&mut writer, &chunk).await?;
            }
            let actual = hasher.finalize().to_hex();
            if actual.as_str() != expected {
                return Err(Error::ChecksumMismatch(format!(
                    "the source's {key} hashes to {actual}: it is damaged there; nothing was written"
                )));
            }
            if size == 0 {
                return Err(Error::internal(format!("the source's {key} is empty")));
            }
            Ok(())
        }
        .await;
        if let Err(e) = copied {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(%path, error = %abort, "aborting a failed replication copy");
            }
            return Err(e);
        }
        parts.flush(&mut writer);
        writer.finish().await?;
        Ok(Copied::Copied(size))
    }
}
