//! Writing objects other than an upload's way to its content key
//! (`stage.rs`): the parts of resumable uploads, and the files depot makes.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use object_store::{ObjectStoreExt, WriteMultipart};

use super::parts::Parts;
use super::{BlobStore, Path};
use crate::error::{Error, Result};

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

impl BlobStore {
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
        let mut parts = Parts::new(self.part_size);
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
                parts.write(&mut writer, &chunk).await?;
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
        parts.flush(&mut writer);
        writer.finish().await?;
        Ok(Written { len, cut })
    }

    /// Writes `body` to a new object at `path`, for a file depot makes
    /// itself (a repository's metadata): one PUT when it ends within a part,
    /// where a multipart upload would take three requests; a multipart
    /// upload past that, one part in flight while the next fills, so memory
    /// stays at two parts however large the file (object_store's default
    /// would keep eight in flight). Nothing is left on failure. Answers the
    /// length.
    pub async fn write_whole<S>(&self, path: &Path, mut body: S) -> Result<u64>
    where
        S: Stream<Item = Result<Bytes>> + Unpin,
    {
        let mut writer = object_store::buffered::BufWriter::with_capacity(
            self.store.clone(),
            path.clone(),
            self.part_size,
        )
        .with_max_concurrency(1);
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
}

#[cfg(test)]
mod tests {
    //! The bound on what writing a large metadata file holds: parts in flight.

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use async_trait::async_trait;
    use futures::stream::BoxStream;
    use object_store::memory::InMemory;
    use object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
        PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
    };

    use super::*;

    /// A real in-memory store that counts the parts being uploaded at once.
    #[derive(Debug, Default)]
    struct Counting {
        inner: InMemory,
        now: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    }

    impl std::fmt::Display for Counting {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "Counting({})", self.inner)
        }
    }

    #[derive(Debug)]
    struct CountingUpload {
        inner: Box<dyn MultipartUpload>,
        now: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    }

    #[async_trait]
    impl MultipartUpload for CountingUpload {
        fn put_part(&mut self, data: PutPayload) -> UploadPart {
            let (now, most) = (self.now.clone(), self.most.clone());
            let part = self.inner.put_part(data);
            Box::pin(async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(n, Ordering::SeqCst);
                // A slow store: parts would pile up if nothing held them back.
                tokio::time::sleep(Duration::from_millis(5)).await;
                let done = part.await;
                now.fetch_sub(1, Ordering::SeqCst);
                done
            })
        }
        async fn complete(&mut self) -> object_store::Result<PutResult> {
            self.inner.complete().await
        }
        async fn abort(&mut self) -> object_store::Result<()> {
            self.inner.abort().await
        }
    }

    #[async_trait]
    impl ObjectStore for Counting {
        async fn put_opts(
            &self,
            location: &Path,
            payload: PutPayload,
            opts: PutOptions,
        ) -> object_store::Result<PutResult> {
            self.inner.put_opts(location, payload, opts).await
        }
        async fn put_multipart_opts(
            &self,
            location: &Path,
            opts: PutMultipartOptions,
        ) -> object_store::Result<Box<dyn MultipartUpload>> {
            Ok(Box::new(CountingUpload {
                inner: self.inner.put_multipart_opts(location, opts).await?,
                now: self.now.clone(),
                most: self.most.clone(),
            }))
        }
        async fn get_opts(
            &self,
            location: &Path,
            options: GetOptions,
        ) -> object_store::Result<GetResult> {
            self.inner.get_opts(location, options).await
        }
        fn delete_stream(
            &self,
            locations: BoxStream<'static, object_store::Result<Path>>,
        ) -> BoxStream<'static, object_store::Result<Path>> {
            self.inner.delete_stream(locations)
        }
        fn list(
            &self,
            prefix: Option<&Path>,
        ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
            self.inner.list(prefix)
        }
        async fn list_with_delimiter(
            &self,
            prefix: Option<&Path>,
        ) -> object_store::Result<ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }
        async fn copy_opts(
            &self,
            from: &Path,
            to: &Path,
            options: CopyOptions,
        ) -> object_store::Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }

    #[tokio::test]
    async fn a_large_metadata_file_holds_one_part_in_flight() {
        const PART: usize = 64 * 1024;
        let counting = Arc::new(Counting::default());
        let store = BlobStore {
            store: counting.clone(),
            signer: None,
            sdk: None,
            part_size: PART,
            local_root: None,
            presigned: super::super::presign::cache(),
        };
        // Sixteen parts' worth, sent faster than the store takes them.
        let piece = Bytes::from(vec![7u8; 4096]);
        let body = futures::stream::iter((0..16 * PART / 4096).map(move |_| Ok(piece.clone())));
        let path = Path::from("repos/test/large");
        let len = store.write_whole(&path, body).await.unwrap();
        assert_eq!(len, 16 * PART as u64);
        let most = counting.most.load(Ordering::SeqCst);
        assert_eq!(most, 1, "{most} parts were in flight at once");
        let stored = counting
            .inner
            .get(&path)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(stored.len(), 16 * PART);
    }
}
