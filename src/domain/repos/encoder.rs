//! A metadata file being written: gzip members one after the other (the
//! head, each chunk's, the tail), the XML they hold and the compressed bytes
//! both digested on the way, the compressed bytes taken a page at a time.

use bytes::Bytes;
use chrono::Utc;
use sha2::{Digest, Sha256};

use super::chunks::{inflate, member};
use super::repomd::{DataFile, Kind};

/// One file being written.
pub(super) struct Encoder {
    pub(super) kind: Kind,
    out: Vec<u8>,
    open: Sha256,
    open_size: u64,
    stored: Sha256,
    size: u64,
}

impl Encoder {
    pub(super) fn new(kind: Kind, packages: usize) -> Self {
        let mut encoder = Self {
            kind,
            out: Vec::new(),
            open: Sha256::new(),
            open_size: 0,
            stored: Sha256::new(),
            size: 0,
        };
        encoder
            .append(&member(&kind.head(packages)))
            .expect("a member just compressed inflates");
        encoder
    }

    /// Appends `gzip`, gzip members; what they hold is inflated for the
    /// open-checksum (one pass, a buffer at a time).
    /// Nothing is appended when they do not inflate.
    pub(super) fn append(&mut self, gzip: &[u8]) -> std::io::Result<()> {
        let mut open = self.open.clone();
        let mut open_size = self.open_size;
        inflate(gzip, |xml| {
            open.update(xml);
            open_size += xml.len() as u64;
        })?;
        (self.open, self.open_size) = (open, open_size);
        self.stored.update(gzip);
        self.size += gzip.len() as u64;
        self.out.extend_from_slice(gzip);
        Ok(())
    }

    /// The compressed bytes appended since the last take.
    pub(super) fn take(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.out))
    }

    pub(super) fn finish(mut self) -> (DataFile, Bytes) {
        self.append(&member(self.kind.tail()))
            .expect("a member just compressed inflates");
        let file = DataFile {
            kind: self.kind,
            sha256: hex::encode(self.stored.finalize()),
            size: self.size,
            open_sha256: hex::encode(self.open.finalize()),
            open_size: self.open_size,
            timestamp: Utc::now().timestamp(),
        };
        (file, Bytes::from(self.out))
    }
}

/// A file listing no package (the empty repository's), whole.
pub(super) fn empty_file(kind: Kind) -> (DataFile, Vec<u8>) {
    let mut encoder = Encoder::new(kind, 0);
    let mut bytes = encoder.take().to_vec();
    let (mut file, tail) = encoder.finish();
    bytes.extend_from_slice(&tail);
    // Always the same bytes, so always the same repomd.xml.
    file.timestamp = 0;
    (file, bytes)
}
