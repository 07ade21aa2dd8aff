//! A metadata file being written: gzip members one after the other (the
//! head, each chunk's, the tail), the XML they hold and the compressed bytes
//! both digested on the way, the compressed bytes taken a page at a time.
//! Each of a publication's three files is written on a thread of its own.

use bytes::Bytes;
use chrono::Utc;
use sha2::{Digest, Sha256};

use super::chunks::member;
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
        encoder.push_text(&kind.head(packages));
        encoder
    }

    /// Appends `gzip`, gzip members holding `xml` (which the caller
    /// knows: it compressed them, or inflated them once and remembers).
    pub(super) fn push(&mut self, gzip: &[u8], xml: &[u8]) {
        self.open.update(xml);
        self.open_size += xml.len() as u64;
        self.stored.update(gzip);
        self.size += gzip.len() as u64;
        self.out.extend_from_slice(gzip);
    }

    fn push_text(&mut self, xml: &str) {
        self.push(&member(xml), xml.as_bytes());
    }

    /// The compressed bytes appended since the last take.
    pub(super) fn take(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.out))
    }

    pub(super) fn finish(mut self) -> (DataFile, Bytes) {
        self.push_text(self.kind.tail());
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
