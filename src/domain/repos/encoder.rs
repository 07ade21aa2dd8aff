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
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::chunks::member;
use super::memo::Remembered;
use super::repomd::{DataFile, Kind};
use crate::error::{Error, Result};

/// Bytes (XML and gzip) a lane may be behind by. Measured in bytes, not
/// pieces, and large enough for a 10,000-package repository's largest file,
/// so that the producer (and the store's PUT, which starts when it ends)
/// does not wait for hashing; past it, memory stays bounded however large
/// the repository (most of it is the memory's chunks, held anyway).
const BEHIND: usize = 16 << 20;

/// What a lane digests, in the file's order.
enum Piece {
    /// A member depot compressed here (the head, the tail) and its XML.
    Text(Bytes, String),
    /// Consecutive chunks; this lane's file's part of each.
    Chunks(Arc<Vec<Arc<Remembered>>>),
}

impl Piece {
    /// What it holds of this lane's file, gzip and XML.
    fn bytes(&self, kind: Kind) -> usize {
        match self {
            Piece::Text(gzip, xml) => gzip.len() + xml.len(),
            Piece::Chunks(chunks) => chunks
                .iter()
                .map(|c| {
                    let (gzip, xml) = part(kind, c);
                    gzip.len() + xml.len()
                })
                .sum(),
        }
    }
}

/// One file's digests, computed on a thread of their own.
pub(super) struct Lane {
    pub(super) kind: Kind,
    /// Each piece with its share of `BEHIND`, released once digested.
    pieces: mpsc::UnboundedSender<(Piece, OwnedSemaphorePermit)>,
    behind: Arc<Semaphore>,
    /// `BEHIND`, or a test's.
    limit: usize,
    digests: tokio::task::JoinHandle<DataFile>,
}

impl Lane {
    pub(super) fn start(kind: Kind) -> Self {
        Self::with_bound(kind, BEHIND)
    }

    fn with_bound(kind: Kind, behind: usize) -> Self {
        let (pieces, mut rx) = mpsc::unbounded_channel::<(Piece, OwnedSemaphorePermit)>();
        let digests = tokio::task::spawn_blocking(move || {
            let mut d = Digests::new(kind);
            while let Some((piece, _permit)) = rx.blocking_recv() {
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
            behind: Arc::new(Semaphore::new(behind)),
            limit: behind,
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

    /// Queues `piece` once the lane is less than `BEHIND` behind (a piece
    /// larger than that waits for an empty queue).
    async fn send(&self, piece: Piece) -> Result<()> {
        let stopped = || Error::internal("a metadata file's hashing thread stopped");
        let weight = piece.bytes(self.kind).clamp(1, self.limit);
        let permit = self
            .behind
            .clone()
            .acquire_many_owned(u32::try_from(weight).unwrap_or(u32::MAX))
            .await
            .map_err(|_| stopped())?;
        self.pieces.send((piece, permit)).map_err(|_| stopped())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::repos::chunks::{Compressed, Texts};

    fn chunk(xml: &str) -> Arc<Remembered> {
        let texts = Texts {
            primary: xml.to_string(),
            ..Texts::default()
        };
        Arc::new(Remembered::new(
            Compressed {
                primary: member(xml),
                filelists: member(""),
                other: member(""),
            },
            texts,
        ))
    }

    /// Pieces far larger than the bound go through one at a time (the
    /// clamp: without it they would wait forever), and the digests are those
    /// of the whole file.
    #[tokio::test]
    async fn pieces_larger_than_the_bound_pass_and_the_whole_file_is_digested() {
        let lane = Lane::with_bound(Kind::Primary, 64);
        let mut gzip = Vec::new();
        gzip.extend_from_slice(&lane.head(3).await.unwrap());
        let parts: Vec<_> = ["<package>a</package>", "<package>b</package>"]
            .iter()
            .map(|xml| chunk(&xml.repeat(50)))
            .collect();
        for _ in 0..3 {
            gzip.extend_from_slice(&lane.chunks(Arc::new(parts.clone())).await.unwrap());
        }
        gzip.extend_from_slice(&lane.tail().await.unwrap());
        let file = lane.finish().await.unwrap();

        let mut xml = Vec::new();
        super::super::chunks::inflate(&gzip, |b| xml.extend_from_slice(b)).unwrap();
        assert_eq!(file.sha256, hex::encode(Sha256::digest(&gzip)));
        assert_eq!(file.size, gzip.len() as u64);
        assert_eq!(file.open_sha256, hex::encode(Sha256::digest(&xml)));
        assert_eq!(file.open_size, xml.len() as u64);
        let xml = String::from_utf8(xml).unwrap();
        assert!(xml.starts_with(&Kind::Primary.head(3)) && xml.ends_with(Kind::Primary.tail()));
        assert_eq!(xml.matches("<package>a</package>").count(), 150);
    }

    /// With its hashing thread stalled (the runtime's one blocking thread
    /// is busy), a lane takes pieces up to its bound and no more: the next
    /// waits until hashing resumes, and then every piece is digested.
    #[test]
    fn a_stalled_hashing_thread_holds_the_producer_at_the_bound() {
        use futures::FutureExt;

        const BOUND: usize = 4096;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        runtime.block_on(async {
            let (resume, stalled) = std::sync::mpsc::channel::<()>();
            let blocker = tokio::task::spawn_blocking(move || stalled.recv());
            let lane = Lane::with_bound(Kind::Primary, BOUND);
            let piece = Arc::new(vec![chunk(&"<package>x</package>".repeat(20))]);
            let weight = Piece::Chunks(piece.clone()).bytes(Kind::Primary);
            assert!(weight < BOUND / 4, "several pieces fit under the bound");

            let mut queued = 0;
            while let Some(sent) = lane.chunks(piece.clone()).now_or_never() {
                sent.unwrap();
                queued += weight;
                assert!(queued <= BOUND, "{queued} bytes queued past the bound");
            }
            assert!(
                queued + weight > BOUND,
                "stopped at {queued} bytes, short of the bound"
            );
            let mut waiting = Box::pin(lane.chunks(piece.clone()));
            for _ in 0..10 {
                assert!(futures::poll!(&mut waiting).is_pending());
                tokio::task::yield_now().await;
            }

            resume.send(()).unwrap();
            waiting.await.unwrap();
            blocker.await.unwrap().unwrap();
            let pieces = queued / weight + 1;
            let file = lane.finish().await.unwrap();
            let xml = &piece[0].texts.primary;
            assert_eq!(file.open_size, (pieces * xml.len()) as u64);
        });
    }
}
