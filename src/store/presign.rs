//! Presigned URLs: agents fetch objects from the store itself.

use std::sync::Arc;
use std::time::Duration;

use object_store::signer::SignedUrlOptions;
use url::Url;

use super::{BlobKey, BlobStore, Method};
use crate::cache::TtlCache;
use crate::error::{Error, Result};

/// A presigned URL is handed out again for this part of its lifetime (at most
/// `MAX_PRESIGN_REUSE`): signing costs more than the rest of a redirect, and
/// every holder still gets at least 90% of the lifetime asked for.
const PRESIGN_REUSE_FRACTION: u32 = 10;
const MAX_PRESIGN_REUSE: Duration = Duration::from_secs(60);
const MAX_PRESIGNED: usize = 10_000;

pub(super) fn cache() -> Arc<TtlCache<String, Url>> {
    Arc::new(TtlCache::new(MAX_PRESIGN_REUSE, MAX_PRESIGNED))
}

impl BlobStore {
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
