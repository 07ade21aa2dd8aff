//! All digests of an upload, computed in one pass on a blocking thread so the
//! hashing runs beside the network and store I/O rather than between them.

use bytes::Bytes;
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    pub sha1: String,
    pub md5: String,
    pub sha256: String,
    pub blake3: String,
    /// For an RPM: where its signature header ends, and the MD5 of everything
    /// after it (main header + payload), which the signature's MD5 tag covers.
    pub rpm_signed: Option<SignedPart>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedPart {
    pub offset: u64,
    pub md5: String,
}

/// Lead (96) + the signature header's 16-byte intro.
const RPM_PREFIX: usize = 112;

/// Where an RPM's signature header ends, from its first 112 bytes; `None`
/// when they are not an RPM's.
pub fn rpm_signature_end(prefix: &[u8]) -> Option<u64> {
    let prefix = prefix.get(..RPM_PREFIX)?;
    if prefix[..4] != [0xed, 0xab, 0xee, 0xdb] || prefix[96..100] != [0x8e, 0xad, 0xe8, 0x01] {
        return None;
    }
    let entries = u64::from(u32::from_be_bytes(prefix[104..108].try_into().ok()?));
    let data = u64::from(u32::from_be_bytes(prefix[108..112].try_into().ok()?));
    // The signature header is padded to a multiple of 8 bytes.
    Some(RPM_PREFIX as u64 + entries * 16 + data + (8 - data % 8) % 8)
}

/// MD5 of the bytes after the RPM signature, found while streaming.
#[derive(Default)]
struct SignedMd5 {
    prefix: Vec<u8>,
    /// Decided once the prefix is complete: `Some(None)` for a non-RPM.
    offset: Option<Option<u64>>,
    position: u64,
    md5: Md5,
}

impl SignedMd5 {
    fn update(&mut self, data: &[u8]) {
        if self.offset.is_none() {
            let take = (RPM_PREFIX - self.prefix.len()).min(data.len());
            self.prefix.extend_from_slice(&data[..take]);
            if self.prefix.len() == RPM_PREFIX {
                self.offset = Some(rpm_signature_end(&self.prefix));
            }
        }
        // The offset is at least 112, so it is known before the stream reaches it.
        if let Some(Some(offset)) = self.offset {
            let end = self.position + data.len() as u64;
            if end > offset {
                let from = offset.saturating_sub(self.position) as usize;
                self.md5.update(&data[from..]);
            }
        }
        self.position += data.len() as u64;
    }

    fn finish(self) -> Option<SignedPart> {
        let offset = self.offset.flatten().filter(|o| *o <= self.position)?;
        Some(SignedPart {
            offset,
            md5: hex::encode(self.md5.finalize()),
        })
    }
}

#[derive(Default)]
struct Hashers {
    sha1: Sha1,
    md5: Md5,
    sha256: Sha256,
    blake3: blake3::Hasher,
    signed: SignedMd5,
}

impl Hashers {
    fn update(&mut self, data: &[u8]) {
        self.sha1.update(data);
        self.md5.update(data);
        self.sha256.update(data);
        self.blake3.update(data);
        self.signed.update(data);
    }

    fn finish(self) -> Digests {
        Digests {
            sha1: hex::encode(self.sha1.finalize()),
            md5: hex::encode(self.md5.finalize()),
            sha256: hex::encode(self.sha256.finalize()),
            blake3: self.blake3.finalize().to_hex().to_string(),
            rpm_signed: self.signed.finish(),
        }
    }
}

/// Feeds chunks to a hashing thread through a small bounded queue.
pub struct Digester {
    tx: mpsc::Sender<Bytes>,
    task: JoinHandle<Digests>,
}

impl Digester {
    pub fn start() -> Self {
        // A few chunks in flight keep both sides busy without holding much memory.
        let (tx, mut rx) = mpsc::channel::<Bytes>(8);
        let task = tokio::task::spawn_blocking(move || {
            let mut hashers = Hashers::default();
            while let Some(chunk) = rx.blocking_recv() {
                hashers.update(&chunk);
            }
            hashers.finish()
        });
        Self { tx, task }
    }

    pub async fn update(&self, chunk: Bytes) {
        // The receiver only goes away if the hashing thread panicked; `finish` reports that.
        let _ = self.tx.send(chunk).await;
    }

    pub async fn finish(self) -> std::io::Result<Digests> {
        drop(self.tx);
        self.task.await.map_err(std::io::Error::other)
    }
}

/// Digests of a byte slice, for tests and small inputs.
pub fn digest_bytes(data: &[u8]) -> Digests {
    let mut hashers = Hashers::default();
    hashers.update(data);
    hashers.finish()
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
            let digester = Digester::start();
            for piece in bytes.chunks(chunk) {
                digester.update(Bytes::copy_from_slice(piece)).await;
            }
            let signed = digester.finish().await.unwrap().rpm_signed.unwrap();
            assert_eq!(
                (signed.offset, signed.md5.as_str()),
                (144, expected.as_str()),
                "chunks of {chunk}"
            );
        }
        // Shorter than its own signature: nothing to report.
        assert_eq!(digest_bytes(&fake_rpm(140)).rpm_signed, None);
    }

    #[tokio::test]
    async fn streamed_chunks_match_one_shot() {
        let digester = Digester::start();
        for chunk in [&b"ab"[..], b"", b"c"] {
            digester.update(Bytes::copy_from_slice(chunk)).await;
        }
        assert_eq!(digester.finish().await.unwrap(), digest_bytes(b"abc"));
    }
}
