//! Per-request checksums (tus `Upload-Checksum`): the digest of one PATCH's
//! bytes, computed as they stream by and compared once the body has ended.

use std::sync::{Arc, Mutex};

use sha2::digest::DynDigest;

/// A per-request checksum (tus `Upload-Checksum`).
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    pub expected: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Sha1,
    Sha256,
    Md5,
}

impl ChecksumAlgorithm {
    pub const ALL: &[Self] = &[Self::Sha1, Self::Sha256, Self::Md5];

    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Md5 => "md5",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }

    fn hasher(self) -> Box<dyn DynDigest + Send> {
        match self {
            Self::Sha1 => Box::new(sha1::Sha1::default()),
            Self::Sha256 => Box::new(sha2::Sha256::default()),
            Self::Md5 => Box::new(md5::Md5::default()),
        }
    }
}

impl Checksum {
    /// A digest to feed the request's bytes to; clones feed the same one.
    pub(super) fn start(&self) -> Running {
        Running(Arc::new(Mutex::new(self.algorithm.hasher())))
    }
}

/// The digest of a request's bytes so far.
#[derive(Clone)]
pub(super) struct Running(Arc<Mutex<Box<dyn DynDigest + Send>>>);

impl Running {
    pub(super) fn update(&self, chunk: &[u8]) {
        self.0.lock().expect("not poisoned").update(chunk);
    }

    /// Whether the bytes fed so far have the checksum's digest.
    pub(super) fn matches(&self, checksum: &Checksum) -> bool {
        let actual = self.0.lock().expect("not poisoned").finalize_reset();
        *actual == *checksum.expected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for algorithm in ChecksumAlgorithm::ALL {
            assert_eq!(ChecksumAlgorithm::parse(algorithm.name()), Some(*algorithm));
        }
        assert_eq!(ChecksumAlgorithm::parse("crc32"), None);
    }

    #[test]
    fn the_digest_covers_every_chunk() {
        use sha2::Digest;
        let expected = sha2::Sha256::digest(b"hello world").to_vec();
        let checksum = Checksum {
            algorithm: ChecksumAlgorithm::Sha256,
            expected,
        };
        let running = checksum.start();
        running.clone().update(b"hello ");
        running.update(b"world");
        assert!(running.matches(&checksum));
        let short = checksum.start();
        short.update(b"hello");
        assert!(!short.matches(&checksum));
    }
}
