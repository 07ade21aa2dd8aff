//! The parts of a multipart write, copied out of the chunks the bytes
//! arrive in into buffers of the part's size that the write reuses.
//!
//! Why copy: a chunk is a slice of its reader's buffer, which the multipart
//! parser grows by doubling (a 4 MiB buffer seen under massif), so parts
//! made of chunks kept such buffers whole, several times their own length.
//! Why reuse: copying into fresh memory for every part cost a page fault a
//! page (1 CPU-s/GiB more, by hand); a reused buffer is faulted in once.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use object_store::WriteMultipart;

use crate::error::Result;

/// Parts uploaded concurrently: bounds a write's memory to the part being
/// filled and these, whatever the size. Two keep a store on the same
/// network busy (four were no faster into Garage or s3s-fs, depot being
/// CPU-bound, and held 26–30 MiB per upload against 3–8 MiB, BENCHMARKS.md).
pub(super) const PARTS_IN_FLIGHT: usize = 2;

type Free = Arc<Mutex<Vec<Vec<u8>>>>;

/// One write's parts: the one being filled, and the buffers of those sent
/// that have come back.
pub(super) struct Parts {
    size: usize,
    filling: Vec<u8>,
    free: Free,
    /// Buffers allocated: at most `PARTS_IN_FLIGHT` + 1, whatever the size.
    allocated: usize,
}

/// A part's buffer on its way to the store; back to its write's free list
/// once the store is done with it.
struct Pooled {
    buf: Vec<u8>,
    home: Free,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        if let Ok(mut free) = self.home.lock() {
            free.push(buf);
        }
    }
}

impl Parts {
    /// For a writer made with `WriteMultipart::new_with_chunk_size(_, size)`.
    pub fn new(size: usize) -> Self {
        Self {
            size,
            filling: Vec::new(),
            free: Arc::default(),
            allocated: 0,
        }
    }

    /// Copies `chunk` into parts, handing each full one to `writer`; waits
    /// for a part in flight to finish before it fills another past the bound.
    pub async fn write(&mut self, writer: &mut WriteMultipart, mut chunk: &[u8]) -> Result<()> {
        while !chunk.is_empty() {
            if self.filling.capacity() == 0 {
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                self.filling = self.buffer();
            }
            let n = (self.size - self.filling.len()).min(chunk.len());
            self.filling.extend_from_slice(&chunk[..n]);
            chunk = &chunk[n..];
            if self.filling.len() == self.size {
                self.flush(writer);
            }
        }
        Ok(())
    }

    /// Hands what is being filled to `writer`: a whole part is sent at once,
    /// a last, shorter one by `writer.finish()`. Call it before that.
    pub fn flush(&mut self, writer: &mut WriteMultipart) {
        if self.filling.is_empty() {
            return;
        }
        let buf = std::mem::take(&mut self.filling);
        writer.put(Bytes::from_owner(Pooled {
            buf,
            home: self.free.clone(),
        }));
    }

    fn buffer(&mut self) -> Vec<u8> {
        let returned = self.free.lock().ok().and_then(|mut free| free.pop());
        returned.unwrap_or_else(|| {
            self.allocated += 1;
            Vec::with_capacity(self.size)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::ObjectStoreExt;
    use object_store::local::LocalFileSystem;
    use object_store::path::Path;

    use super::*;

    #[tokio::test]
    async fn a_long_write_reuses_a_bounded_set_of_buffers() {
        const PART: usize = 64 << 10;
        // A store that lets a part go once written, as S3 clients do once
        // answered (InMemory keeps every part until the end).
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let path = Path::from("object");
        let upload = store.put_multipart(&path).await.unwrap();
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut parts = Parts::new(PART);
        // 40.5 parts, in chunks that straddle the parts' boundaries.
        let data: Vec<u8> = (0..PART * 81 / 2).map(|i| (i % 251) as u8).collect();
        for chunk in data.chunks(7_000) {
            parts.write(&mut writer, chunk).await.unwrap();
        }
        parts.flush(&mut writer);
        writer.finish().await.unwrap();

        let stored = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert!(stored == data, "the object is the bytes written, in order");
        assert!(
            parts.allocated <= PARTS_IN_FLIGHT + 1,
            "{} buffers for 41 parts",
            parts.allocated
        );
    }
}
