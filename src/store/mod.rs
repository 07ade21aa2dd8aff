//! The blob store: bytes in an object store under content-addressed keys.
//! Uploads are staged under a random name while they are hashed, then copied
//! under their content key, so an interrupted upload never leaves a partial
//! object where a complete one is expected. An upload whose client announced
//! its content key is written under it at once: its multipart write
//! completes only once the bytes are known to hash to the key.

mod digest;
mod error;
mod key;
mod leftovers;
mod parts;
mod presign;
mod read;
mod replicate;
mod s3;
mod stage;
mod write;

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
pub use object_store::path::Path;
pub use object_store::signer::Method;
use object_store::signer::Signer;
use object_store::{GetOptions, GetRange, GetResult, ObjectStore, ObjectStoreExt};
use url::Url;

pub use digest::{
    Announced, Digester, Digests, SignedPart, SignedPartMd5, digest_bytes, hex_digest,
    rpm_signature_end,
};
pub use key::{Area, BlobKey, repo_object, upload_of_part, upload_part};
pub use leftovers::{Leftover, LeftoverKind, Search};
pub use read::object_stream;
pub use replicate::Copied;
pub use stage::{Destination, Placement, Staged};
pub use write::{OnCut, Written};

use crate::cache::TtlCache;
use crate::config::StorageConfig;
use crate::error::{Error, Result};
use crate::metrics::METRICS;

/// S3's least part: each upload holds the part being filled and
/// `PARTS_IN_FLIGHT` more, so the part size is most of its memory (8 MiB
/// parts held 39 MiB over idle, BENCHMARKS.md).
const MIN_PART_SIZE: u64 = 5 << 20;
/// S3 allows 10,000 parts; leave headroom.
const MAX_PARTS: u64 = 9_000;

#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
    signer: Option<Arc<dyn Signer>>,
    /// The S3 API beyond object_store's, when static credentials allow it.
    sdk: Option<Arc<s3::S3Sdk>>,
    part_size: usize,
    /// The directory of a local store, for its free space.
    local_root: Option<std::path::PathBuf>,
    /// Recently presigned URLs, by what they were signed for.
    presigned: Arc<TtlCache<String, Url>>,
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
                    sdk: None,
                    part_size,
                    local_root: Some(root.clone()),
                    presigned: presign::cache(),
                })
            }
            StorageConfig::S3(s3cfg) => {
                let parts = s3::open(s3cfg)?;
                if parts.sdk.is_none() {
                    tracing::warn!(
                        "no static S3 credentials: packages over 5 GiB cannot be stored (server-side copy needs them), and unfinished multipart uploads are not collected"
                    );
                }
                Ok(Self {
                    store: parts.store,
                    signer: Some(parts.signer),
                    sdk: parts.sdk.map(Arc::new),
                    part_size,
                    local_root: None,
                    presigned: presign::cache(),
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

    /// The objects in `area` as the store lists them, a page at a time: what
    /// walks a whole area holds no more of it than the page it is on.
    pub fn list_stream(&self, area: Area) -> BoxStream<'static, Result<ObjectInfo>> {
        use futures::StreamExt;
        self.store
            .list(Some(&area.path()))
            .map(|meta| {
                let meta = meta?;
                Ok(ObjectInfo {
                    path: meta.location,
                    size: meta.size,
                    last_modified: meta.last_modified,
                })
            })
            .boxed()
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
}
