//! A metadata file being written: gzip members one after the other (the
//! head, each chunk's, the tail). Its bytes go to the store as soon as they
//! are known; its two digests (of the XML, the open-checksum, and of the
//! compressed bytes) are computed by a thread of its own (a `Lane`) behind
//! them, so that storing the file and hashing it overlap: hashing every
//! byte of the XML is a publication's largest CPU cost, and storing it its
//! largest wait.

use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::chunks::member;
use super::memo::Remembered;
use super::repomd::{DataFile, Kind};
use crate::error::{Error, Result};

/// Pieces a lane may be behind by: each is a page of chunks the memory
/// holds anyway, or a head or a tail.
const BEHIND: usize = 4;

/// What a lane digests, in the file's order.
enum Piece {
    /// A member depot compressed here (the head, the tail) and its XML.
    Text(Bytes, String),
    /// Consecutive chunks; this lane's file's part of each.
    Chunks(Arc<Vec<Arc<Remembered>>>),
}

/// One file's digests, computed on a thread of their own.
pub(super) struct Lane {
    pub(super) kind: Kind,
    pieces: mpsc::Sender<Piece>,
    digests: tokio::task::JoinHandle<DataFile>,
}

impl Lane {
    pub(super) fn start(kind: Kind) -> Self {
        let (pieces, mut rx) = mpsc::channel(BEHIND);
        let digests = tokio::task::spawn_blocking(move || {
            let mut d = Digests::new(kind);
            while let Some(piece) = rx.blocking_recv() {
                match piece {
                    Piece::Text(gzip, xml) => d.push(&gzip, xml.as_bytes()),
                    Piece::Chunks(chunks) => {
                        for chunk in chunks.iter() {
                            let (gzip, xml) = part(kind, chunk);
                            d.push(gzip, xml.as_bytes());
                        }
                    }
                }
            }
            d.finish()
        });
        Self {
            kind,
            pieces,
            digests,
        }
    }

    /// The file's head (its root element, with the package count):
    /// answers its bytes.
    pub(super) async fn head(&self, packages: usize) -> Result<Bytes> {
        self.text(self.kind.head(packages)).await
    }

    /// The file's tail: answers its bytes.
    pub(super) async fn tail(&self) -> Result<Bytes> {
        self.text(self.kind.tail().to_string()).await
    }

    async fn text(&self, xml: String) -> Result<Bytes> {
        let gzip = Bytes::from(member(&xml));
        self.send(Piece::Text(gzip.clone(), xml)).await?;
        Ok(gzip)
    }

    /// Appends `chunks`: answers the bytes they add to this file.
    pub(super) async fn chunks(&self, chunks: Arc<Vec<Arc<Remembered>>>) -> Result<Bytes> {
        let size = chunks.iter().map(|c| part(self.kind, c).0.len()).sum();
        let mut out = Vec::with_capacity(size);
        for chunk in chunks.iter() {
            out.extend_from_slice(part(self.kind, chunk).0);
        }
        self.send(Piece::Chunks(chunks)).await?;
        Ok(Bytes::from(out))
    }

    async fn send(&self, piece: Piece) -> Result<()> {
        self.pieces
            .send(piece)
            .await
            .map_err(|_| Error::internal("a metadata file's hashing thread stopped"))
    }

    /// The file as repomd.xml describes it, once every piece is digested.
    pub(super) async fn finish(self) -> Result<DataFile> {
        drop(self.pieces);
        self.digests.await.map_err(Error::internal)
    }
}

/// `kind`'s part of `chunk`: its gzip member and the XML it holds.
fn part(kind: Kind, chunk: &Remembered) -> (&[u8], &str) {
    let (c, t) = (&chunk.compressed, &chunk.texts);
    match kind {
        Kind::Primary => (&c.primary, &t.primary),
        Kind::Filelists => (&c.filelists, &t.filelists),
        Kind::Other | Kind::Group => (&c.other, &t.other),
    }
}

/// A file's checksum and open-checksum, and both sizes, as they grow.
struct Digests {
    kind: Kind,
    open: Sha256,
    open_size: u64,
    stored: Sha256,
    size: u64,
}

impl Digests {
    fn new(kind: Kind) -> Self {
        Self {
            kind,
            open: Sha256::new(),
            open_size: 0,
            stored: Sha256::new(),
            size: 0,
        }
    }

    /// Appends `gzip`, gzip members holding `xml` (which the caller
    /// knows: it compressed them, or inflated them once and remembers).
    fn push(&mut self, gzip: &[u8], xml: &[u8]) {
        self.open.update(xml);
        self.open_size += xml.len() as u64;
        self.stored.update(gzip);
        self.size += gzip.len() as u64;
    }

    fn finish(self) -> DataFile {
        DataFile {
            kind: self.kind,
            sha256: hex::encode(self.stored.finalize()),
            size: self.size,
            open_sha256: hex::encode(self.open.finalize()),
            open_size: self.open_size,
            timestamp: Utc::now().timestamp(),
        }
    }
}

/// A file listing no package (the empty repository's), whole.
pub(super) fn empty_file(kind: Kind) -> (DataFile, Vec<u8>) {
    let mut d = Digests::new(kind);
    let mut bytes = Vec::new();
    for xml in [kind.head(0).as_str(), kind.tail()] {
        let gzip = member(xml);
        d.push(&gzip, xml.as_bytes());
        bytes.extend_from_slice(&gzip);
    }
    let mut file = d.finish();
    // Always the same bytes, so always the same repomd.xml.
    file.timestamp = 0;
    (file, bytes)
}
