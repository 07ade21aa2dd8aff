//! All digests of an upload, computed on blocking threads beside the network
//! and store I/O, in lanes: the file's MD5 in one, SHA-1, SHA-256 and BLAKE3
//! in another (with SHA-NI these three together cost about one MD5), and an
//! RPM's own digests (`rpm`: its payload's SHA-256, and its signed part's
//! MD5 where its SHA-256 digests do not cover it or where asked for), in a
//! third. The wall-clock cost is the slowest lane's, not the sum,
//! while there are cores for them.
//!
//! A lane holds a thread only while it hashes a batch: each batch is one
//! short blocking job that takes the lane's state and hands it back. No
//! thread waits for a slow client, and all uploads together run at most
//! `HASHING_JOBS` jobs, so hashing can never take the blocking threads that
//! file I/O needs.

mod announced;
mod rpm;

use std::sync::Arc;

use bytes::Bytes;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

pub use announced::{Announced, hex_digest};
use rpm::SignedMd5;
pub use rpm::rpm_signature_end;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    pub sha1: String,
    pub md5: String,
    pub sha256: String,
    pub blake3: String,
    /// For an RPM: where its signature header ends, the MD5 of everything
    /// after it (main header + payload), which the signature's MD5 tag
    /// covers, and the SHA-256 of the payload.
    pub rpm_signed: Option<SignedPart>,
}

/// How much of an RPM's own digests an upload computes (`SignedPart`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignedPartMd5 {
    /// The payload's SHA-256 and the signed part's MD5, always: obshell
    /// reports the MD5.
    Compute,
    /// The payload's SHA-256, and the signed part's MD5 only where the RPM
    /// has no SHA-256 digests covering the same bytes: an extra MD5 pass is
    /// a sixth of an upload's CPU.
    UnlessCovered,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedPart {
    pub offset: u64,
    /// `None` when left off (`SignedPartMd5::UnlessCovered`).
    pub md5: Option<String>,
    /// The SHA-256 of the payload (what follows the main header), which an
    /// RPM's PAYLOADDIGEST carries; `None` when the main header is not one.
    pub payload_sha256: Option<String>,
}

/// Hashers that run together, one batch at a time.
trait Lane: Send + 'static {
    type Out: Send + 'static;
    fn update(&mut self, data: &[u8]);
    fn finish(self) -> Self::Out;
}

#[derive(Default)]
struct FileMd5(Md5);

impl Lane for FileMd5 {
    type Out = String;

    fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    fn finish(self) -> String {
        hex::encode(self.0.finalize())
    }
}

#[derive(Default)]
struct Shas {
    sha1: Sha1,
    sha256: Sha256,
    blake3: blake3::Hasher,
}

impl Lane for Shas {
    type Out = (String, String, String);

    fn update(&mut self, data: &[u8]) {
        self.sha1.update(data);
        self.sha256.update(data);
        self.blake3.update(data);
    }

    fn finish(self) -> Self::Out {
        (
            hex::encode(self.sha1.finalize()),
            hex::encode(self.sha256.finalize()),
            self.blake3.finalize().to_hex().to_string(),
        )
    }
}

/// Chunks are handed to the lanes in batches of about this many bytes: network
/// chunks can be small, and each hand-over costs a job per lane.
const BATCH_BYTES: usize = 256 << 10;
/// Hashing jobs running at once, over all uploads: enough to keep every core
/// busy, far below tokio's blocking-thread limit (512).
const HASHING_JOBS: usize = 16;
static HASHING: Semaphore = Semaphore::const_new(HASHING_JOBS);

type Batch = Arc<Vec<Bytes>>;

/// A lane between batches (its state), or hashing one (the job that will
/// hand its state back). One batch at a time per lane: the next waits for it,
/// which also bounds the memory an upload holds.
enum Running<L> {
    Idle(L),
    Hashing(JoinHandle<L>),
    /// A job panicked; `finish` reports it.
    Failed,
}

impl<L: Lane> Running<L> {
    async fn take(&mut self) -> Option<L> {
        match std::mem::replace(self, Running::Failed) {
            Running::Idle(lane) => Some(lane),
            Running::Hashing(job) => job.await.ok(),
            Running::Failed => None,
        }
    }

    async fn feed(&mut self, batch: Batch) {
        let Some(mut lane) = self.take().await else {
            return;
        };
        let permit = HASHING
            .acquire()
            .await
            .expect("the semaphore is never closed");
        *self = Running::Hashing(tokio::task::spawn_blocking(move || {
            let _permit = permit;
            for chunk in batch.iter() {
                lane.update(chunk);
            }
            lane
        }));
    }

    async fn finish(mut self) -> std::io::Result<L::Out> {
        match self.take().await {
            Some(lane) => Ok(lane.finish()),
            None => Err(std::io::Error::other("a hashing job failed")),
        }
    }
}

/// Feeds chunks to the lanes, a batch at a time.
pub struct Digester {
    md5: Running<FileMd5>,
    shas: Running<Shas>,
    signed: Running<SignedMd5>,
    batch: Vec<Bytes>,
    batched: usize,
}

impl Digester {
    /// `signed_part`: whether to compute the MD5 of an RPM's signed part
    /// even where its SHA-256 digests cover it (nothing for other files).
    pub fn start(signed_part: SignedPartMd5) -> Self {
        Self {
            md5: Running::Idle(FileMd5::default()),
            shas: Running::Idle(Shas::default()),
            signed: Running::Idle(SignedMd5::new(signed_part)),
            batch: Vec::new(),
            batched: 0,
        }
    }

    pub async fn update(&mut self, chunk: Bytes) {
        self.batched += chunk.len();
        self.batch.push(chunk);
        if self.batched >= BATCH_BYTES {
            self.flush().await;
        }
    }

    async fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        self.batched = 0;
        let batch: Batch = Arc::new(std::mem::take(&mut self.batch));
        self.md5.feed(batch.clone()).await;
        self.shas.feed(batch.clone()).await;
        self.signed.feed(batch).await;
    }

    pub async fn finish(mut self) -> std::io::Result<Digests> {
        self.flush().await;
        let rpm_signed = self.signed.finish().await?;
        let md5 = self.md5.finish().await?;
        let (sha1, sha256, blake3) = self.shas.finish().await?;
        Ok(Digests {
            sha1,
            md5,
            sha256,
            blake3,
            rpm_signed,
        })
    }
}

/// All digests of a byte slice (the signed part's too), for tests and small inputs.
pub fn digest_bytes(data: &[u8]) -> Digests {
    let mut md5 = FileMd5::default();
    let mut shas = Shas::default();
    let mut signed = SignedMd5::new(SignedPartMd5::Compute);
    md5.update(data);
    shas.update(data);
    signed.update(data);
    let (sha1, sha256, blake3) = shas.finish();
    Digests {
        sha1,
        md5: md5.finish(),
        sha256,
        blake3,
        rpm_signed: signed.finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests_of_abc() {
        let d = digest_bytes(b"abc");
        assert_eq!(d.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(d.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            d.blake3,
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
        assert_eq!(d.rpm_signed, None);
    }

    /// A fake RPM prefix: lead magic, signature intro with 1 entry and 13 data bytes.
    fn fake_rpm(total: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; total];
        bytes[..4].copy_from_slice(&[0xed, 0xab, 0xee, 0xdb]);
        bytes[96..100].copy_from_slice(&[0x8e, 0xad, 0xe8, 0x01]);
        bytes[104..108].copy_from_slice(&1u32.to_be_bytes());
        bytes[108..112].copy_from_slice(&13u32.to_be_bytes());
        for (i, b) in bytes.iter_mut().enumerate().skip(144) {
            *b = i as u8;
        }
        bytes
    }

    #[tokio::test]
    async fn the_signed_part_is_hashed_whatever_the_chunking() {
        // 112 + 16 + 13 + 3 padding = 144.
        let bytes = fake_rpm(1000);
        assert_eq!(rpm_signature_end(&bytes), Some(144));
        let expected = hex::encode(Md5::digest(&bytes[144..]));
        for chunk in [1, 7, 112, 113, 200, 1000] {
            let mut digester = Digester::start(SignedPartMd5::Compute);
            for piece in bytes.chunks(chunk) {
                digester.update(Bytes::copy_from_slice(piece)).await;
            }
            let signed = digester.finish().await.unwrap().rpm_signed.unwrap();
            assert_eq!(
                (signed.offset, signed.md5.as_deref()),
                (144, Some(expected.as_str())),
                "chunks of {chunk}"
            );
        }
        // Shorter than its own signature: nothing to report.
        assert_eq!(digest_bytes(&fake_rpm(140)).rpm_signed, None);
    }

    #[tokio::test]
    async fn an_uncovered_signed_part_is_hashed_across_batches() {
        // Several batches, in chunks that do not divide them; no SHA-256
        // tags, so the MD5 is computed even when it could be left off.
        let bytes = fake_rpm(3 * BATCH_BYTES + 12_345);
        let mut digester = Digester::start(SignedPartMd5::UnlessCovered);
        for piece in bytes.chunks(40_000) {
            digester.update(Bytes::copy_from_slice(piece)).await;
        }
        let streamed = digester.finish().await.unwrap();
        assert!(streamed.rpm_signed.as_ref().unwrap().md5.is_some());
        assert_eq!(streamed, digest_bytes(&bytes));
    }

    /// Many more uploads than hashing jobs: each still gets its own digests.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_uploads_share_a_few_hashing_jobs() {
        let bytes = Bytes::from(vec![7u8; BATCH_BYTES]);
        let mut digesters: Vec<_> = (0..HASHING_JOBS * 8)
            .map(|_| Digester::start(SignedPartMd5::Compute))
            .collect();
        for _ in 0..3 {
            for d in &mut digesters {
                d.update(bytes.clone()).await;
            }
        }
        let expected = digest_bytes(&bytes.repeat(3));
        for d in digesters {
            assert_eq!(d.finish().await.unwrap(), expected);
        }
    }

    #[tokio::test]
    async fn streamed_chunks_match_one_shot() {
        let mut digester = Digester::start(SignedPartMd5::Compute);
        for chunk in [&b"ab"[..], b"", b"c"] {
            digester.update(Bytes::copy_from_slice(chunk)).await;
        }
        assert_eq!(digester.finish().await.unwrap(), digest_bytes(b"abc"));
    }
}
