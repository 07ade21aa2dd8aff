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
}

#[derive(Default)]
struct Hashers {
    sha1: Sha1,
    md5: Md5,
    sha256: Sha256,
    blake3: blake3::Hasher,
}

impl Hashers {
    fn update(&mut self, data: &[u8]) {
        self.sha1.update(data);
        self.md5.update(data);
        self.sha256.update(data);
        self.blake3.update(data);
    }

    fn finish(self) -> Digests {
        Digests {
            sha1: hex::encode(self.sha1.finalize()),
            md5: hex::encode(self.md5.finalize()),
            sha256: hex::encode(self.sha256.finalize()),
            blake3: self.blake3.finalize().to_hex().to_string(),
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
