//! The patch upload's plumbing: the request body as a `Read` for the
//! reading thread, its size limit, and each RPM streamed from that thread
//! into a staging object of the store (bounded channels both ways: memory
//! does not grow with the patch).

use std::io::{self, Read};

use bytes::Bytes;
use futures::StreamExt;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use super::archive::ReadError;
use crate::error::{Error, Result};
use crate::store::{Announced, BlobStore, Destination, SignedPartMd5, Staged};

/// Chunks in flight between the request, the reading thread and the store.
pub(super) const CHUNKS_IN_FLIGHT: usize = 4;
const CHUNK: usize = 256 << 10;

/// Streams one RPM of the patch into a staging object; runs on the reading
/// thread, which waits while the store takes its time (bounded channel).
pub(super) fn stage_rpm(
    handle: &Handle,
    store: &BlobStore,
    rpm: &mut dyn Read,
    limit: u64,
) -> Result<Staged> {
    let (tx, rx) = mpsc::channel::<Result<Bytes>>(CHUNKS_IN_FLIGHT);
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    })
    .boxed();
    let staging = {
        let store = store.clone();
        handle.spawn(async move {
            let announced = Announced::default();
            store
                .stage(
                    body,
                    limit,
                    SignedPartMd5::UnlessCovered,
                    &announced,
                    Destination::Staging,
                )
                .await
        })
    };
    let mut buf = vec![0u8; CHUNK];
    let read = loop {
        match rpm.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                if tx
                    .blocking_send(Ok(Bytes::copy_from_slice(&buf[..n])))
                    .is_err()
                {
                    // The staging ended early (an error): it says why.
                    break Ok(());
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(Error::UploadInterrupted(e.to_string())));
                break Err(e);
            }
        }
    };
    drop(tx);
    let staged = handle.block_on(staging).map_err(Error::internal)?;
    match (read, staged) {
        (Err(e), Ok(s)) => {
            handle.block_on(store.discard(&s));
            Err(io_error(e))
        }
        (Err(e), Err(_)) => Err(io_error(e)),
        (Ok(()), staged) => staged,
    }
}

/// What reading the body failed with: depot's own error when it was one
/// (the body's limit, a stalled client), else an interrupted upload.
fn io_error(e: io::Error) -> Error {
    match e.into_inner() {
        Some(inner) => match inner.downcast::<Error>() {
            Ok(error) => *error,
            Err(other) => Error::UploadInterrupted(other.to_string()),
        },
        None => Error::UploadInterrupted("the upload ended early".into()),
    }
}

pub(super) fn read_error(e: ReadError<Error>) -> Error {
    match e {
        ReadError::Malformed(m) => Error::PatchInvalid(format!("Invalid patch file: {m}")),
        ReadError::Io(e) => io_error(e),
        ReadError::Sink(e) => e,
    }
}

/// The request body, refused past `limit` bytes.
pub(super) struct Limited<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R> Limited<R> {
    pub(super) fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            left: limit,
            limit,
        }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.left.checked_sub(n as u64) {
            Some(left) => {
                self.left = left;
                Ok(n)
            }
            None => Err(io::Error::other(Error::UploadTooLarge {
                limit: self.limit,
            })),
        }
    }
}

/// The body's chunks as a `Read`, on the reading thread.
pub(super) struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ChannelReader {
    pub(super) fn new(rx: mpsc::Receiver<io::Result<Bytes>>) -> Self {
        Self {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
