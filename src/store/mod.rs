//! The blob store: bytes in an object store under content-addressed keys.
//! Uploads are staged under a random name while they are hashed, then copied
//! under their content key, so an interrupted upload never leaves a partial
//! object where a complete one is expected.

mod digest;
mod error;
mod key;
mod s3;

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::local::LocalFileSystem;
pub use object_store::path::Path;
pub use object_store::signer::Method;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::{GetOptions, GetRange, GetResult, ObjectStore, ObjectStoreExt, WriteMultipart};
use url::Url;

pub use digest::{Digester, Digests, SignedPart, SignedPartMd5, digest_bytes, rpm_signature_end};
pub use key::{Area, BlobKey, upload_of_part, upload_part};

use crate::cache::TtlCache;
use crate::config::StorageConfig;
use crate::error::{Error, Result};
use crate::metrics::METRICS;

/// Parts uploaded concurrently while staging: bounds memory to a few parts.
const PARTS_IN_FLIGHT: usize = 4;
const MIN_PART_SIZE: u64 = 8 << 20;
/// S3 allows 10,000 parts; leave headroom.
const MAX_PARTS: u64 = 9_000;

#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    signer: Option<Arc<dyn Signer>>,
    copier: Option<Arc<s3::LargeCopier>>,
    part_size: usize,
    /// The directory of a local store, for its free space.
    local_root: Option<std::path::PathBuf>,
    /// Recently presigned URLs, by what they were signed for.
    presigned: Arc<TtlCache<String, Url>>,
}

/// A presigned URL is handed out again for this part of its lifetime (at most
/// `MAX_PRESIGN_REUSE`): signing costs more than the rest of a redirect, and
/// every holder still gets at least 90% of the lifetime asked for.
const PRESIGN_REUSE_FRACTION: u32 = 10;
const MAX_PRESIGN_REUSE: Duration = Duration::from_secs(60);
const MAX_PRESIGNED: usize = 10_000;

fn presign_cache() -> Arc<TtlCache<String, Url>> {
    Arc::new(TtlCache::new(MAX_PRESIGN_REUSE, MAX_PRESIGNED))
}

/// What `probe` measured.
#[derive(Clone, Debug)]
pub struct Probe {
    /// Put, get, head and delete together.
    pub latency: Duration,
    pub local_time: chrono::DateTime<chrono::Utc>,
    pub store_time: chrono::DateTime<chrono::Utc>,
}

/// An object as a listing shows it.
#[derive(Clone, Debug)]
pub struct ObjectInfo {
    pub path: Path,
    pub size: u64,
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

/// What `write_part` stored.
#[derive(Debug)]
pub struct Written {
    pub len: u64,
    /// Why the body ended early, when it did.
    pub cut: Option<Error>,
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
    pub fn open(cfg: &StorageConfig, max_upload_size: u64) -> Result<Self> {
        let part_size = MIN_PART_SIZE.max(max_upload_size.div_ceil(MAX_PARTS)) as usize;
        match cfg {
            StorageConfig::Local { root } => {
                std::fs::create_dir_all(root).map_err(|e| {
                    Error::invalid(format!(
                        "cannot create storage directory {}: {e}",
                        root.display()
                    ))
                })?;
                let fs = LocalFileSystem::new_with_prefix(root)?;
                Ok(Self {
                    store: Arc::new(fs),
                    signer: None,
                    copier: None,
                    part_size,
                    local_root: Some(root.clone()),
                    presigned: presign_cache(),
                })
            }
            StorageConfig::S3(s3cfg) => {
                let parts = s3::open(s3cfg)?;
                if parts.copier.is_none() {
                    tracing::warn!(
                        "no static S3 credentials: packages over 5 GiB cannot be stored (server-side copy needs them)"
                    );
                }
                Ok(Self {
                    store: parts.store,
                    signer: Some(parts.signer),
                    copier: parts.copier.map(Arc::new),
                    part_size,
                    local_root: None,
                    presigned: presign_cache(),
                })
            }
        }
    }

    pub fn can_presign(&self) -> bool {
        self.signer.is_some()
    }

    /// Writes, reads back and removes a small object: the store works, how
    /// fast, and what time it keeps (the object's modification time).
    pub async fn probe(&self) -> Result<Probe> {
        let path = key::probe_object();
        let data = Bytes::from_static(b"depot doctor probe");
        let started = std::time::Instant::now();
        let before = chrono::Utc::now();
        self.store.put(&path, data.clone().into()).await?;
        let after = chrono::Utc::now();
        // Every step runs, so that the probe object goes whatever fails.
        let read = match self.store.get(&path).await {
            Ok(object) => object.bytes().await,
            Err(e) => Err(e),
        };
        let meta = self.store.head(&path).await;
        let deleted = self.store.delete(&path).await;
        let latency = started.elapsed();
        if read? != data {
            return Err(Error::internal(
                "the store returned other bytes than were written",
            ));
        }
        deleted?;
        Ok(Probe {
            latency,
            local_time: before + (after - before) / 2,
            store_time: meta?.last_modified,
        })
    }

    /// Bytes free for a local store; `None` for S3, whose space is not ours to see.
    pub fn free_space(&self) -> Option<u64> {
        let root = self.local_root.as_ref()?;
        let stat = nix::sys::statvfs::statvfs(root).ok()?;
        Some(stat.blocks_available() * stat.fragment_size())
    }

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
    /// `keep_cut` and the cause returned beside the length; a store failure or
    /// more than `limit` bytes leave nothing.
    pub async fn write_part<S>(
        &self,
        path: &Path,
        mut body: S,
        limit: u64,
        keep_cut: bool,
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
        let keep = copied.is_ok() && len > 0 && (cut.is_none() || keep_cut);
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

    /// Removes an object by path; a missing one is not an error.
    pub async fn delete_path(&self, path: &Path) -> Result<()> {
        match self.store.delete(path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes every part of resumable upload `upload_id`; returns how many
    /// and their bytes.
    pub async fn delete_upload_parts(&self, upload_id: &str) -> Result<(u64, u64)> {
        let mut count = 0;
        let mut bytes = 0;
        for object in self.list_under(&key::upload_parts(upload_id)).await? {
            self.delete_path(&object.path).await?;
            count += 1;
            bytes += object.size;
        }
        Ok((count, bytes))
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
                match &self.copier {
                    Some(copier) if staged.size > copier.max_single_copy => {
                        copier.copy(&staged.path, &to, staged.size).await
                    }
                    // Local files: a hard link; S3: CopyObject. Both are server-side.
                    _ => Ok(self.store.copy(&staged.path, &to).await?),
                }
            })
            .await
    }

    pub async fn exists(&self, key: &BlobKey) -> Result<bool> {
        METRICS
            .store_op("head", async {
                match self.store.head(&key.path()).await {
                    Ok(_) => Ok(true),
                    Err(object_store::Error::NotFound { .. }) => Ok(false),
                    Err(e) => Err(Error::from(e)),
                }
            })
            .await
    }

    pub async fn delete(&self, key: &BlobKey) -> Result<()> {
        match self.store.delete(&key.path()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The objects in `area`, with their size and age.
    pub async fn list_meta(&self, area: Area) -> Result<Vec<ObjectInfo>> {
        self.list_under(&area.path()).await
    }

    /// Keys of the objects in `area`.
    pub async fn list(&self, area: Area) -> Result<Vec<String>> {
        let objects = self.list_meta(area).await?;
        Ok(objects.into_iter().map(|o| o.path.to_string()).collect())
    }

    async fn list_under(&self, prefix: &Path) -> Result<Vec<ObjectInfo>> {
        use futures::TryStreamExt;
        let metas: Vec<_> = self.store.list(Some(prefix)).try_collect().await?;
        Ok(metas
            .into_iter()
            .map(|m| ObjectInfo {
                path: m.location,
                size: m.size,
                last_modified: m.last_modified,
            })
            .collect())
    }

    /// Opens an object (or part of it) for reading.
    pub async fn get(&self, path: &Path, range: Option<Range<u64>>) -> Result<GetResult> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        Ok(METRICS
            .store_op("get", self.store.get_opts(path, options))
            .await?)
    }

    /// A URL that lets its holder `method` the object directly, with the
    /// response headers the download should carry. Only stores that
    /// `can_presign` (S3) have one.
    pub async fn presign(
        &self,
        method: Method,
        key: &BlobKey,
        content_disposition: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<Url> {
        let Some(signer) = &self.signer else {
            return Err(Error::internal("this store cannot presign URLs"));
        };
        let reuse = (ttl / PRESIGN_REUSE_FRACTION).min(MAX_PRESIGN_REUSE);
        let cache_key = format!(
            "{method} {} {} {content_type} {content_disposition}",
            ttl.as_millis(),
            key.as_str()
        );
        if let Some(url) = self.presigned.get_within(&cache_key, reuse) {
            return Ok(url);
        }
        let options = SignedUrlOptions::default().with_query([
            ("response-content-disposition", content_disposition),
            ("response-content-type", content_type),
        ]);
        let url = signer
            .signed_url_opts(method, &key.path(), ttl, &options)
            .await?;
        self.presigned.insert(cache_key, url.clone());
        Ok(url)
    }
}
