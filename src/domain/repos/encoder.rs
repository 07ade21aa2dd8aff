//! A metadata file being written: its XML into gzip, both digested on the
//! way, the compressed bytes taken a page at a time.

use std::io::Write;

use bytes::Bytes;
use chrono::Utc;
use flate2::{Compression, GzBuilder, write::GzEncoder};
use sha2::{Digest, Sha256};

use super::repomd::{DataFile, Kind};

/// One file being written: the XML into gzip, both digested on the way.
pub(super) struct Encoder {
    pub(super) kind: Kind,
    gzip: GzEncoder<Vec<u8>>,
    open: Sha256,
    open_size: u64,
    stored: Sha256,
    size: u64,
}

impl Encoder {
    pub(super) fn new(kind: Kind, packages: usize) -> Self {
        let mut encoder = Self {
            kind,
            // No name and a zero mtime: the same XML always makes the same bytes.
            gzip: GzBuilder::new().write(Vec::new(), Compression::default()),
            open: Sha256::new(),
            open_size: 0,
            stored: Sha256::new(),
            size: 0,
        };
        encoder.write(&kind.head(packages));
        encoder
    }

    pub(super) fn write(&mut self, xml: &str) {
        self.open.update(xml.as_bytes());
        self.open_size += xml.len() as u64;
        self.gzip
            .write_all(xml.as_bytes())
            .expect("writing to memory");
    }

    /// The compressed bytes so far.
    pub(super) fn take(&mut self) -> Bytes {
        let chunk = std::mem::take(self.gzip.get_mut());
        self.stored.update(&chunk);
        self.size += chunk.len() as u64;
        Bytes::from(chunk)
    }

    pub(super) fn finish(mut self) -> (DataFile, Bytes) {
        self.write(self.kind.tail());
        let rest = self.gzip.finish().expect("writing to memory");
        self.stored.update(&rest);
        self.size += rest.len() as u64;
        let file = DataFile {
            kind: self.kind,
            sha256: hex::encode(self.stored.finalize()),
            size: self.size,
            open_sha256: hex::encode(self.open.finalize()),
            open_size: self.open_size,
            timestamp: Utc::now().timestamp(),
        };
        (file, Bytes::from(rest))
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
