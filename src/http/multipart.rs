//! Reading an upload's multipart body with what comes before the file bounded.
//! Everything a client sends before the `file` field's bytes — a preamble
//! without a boundary, field headers, other fields — is read whole by the
//! multipart parser while it looks for the next boundary, so it is limited
//! to `BEFORE_FILE`; the file itself is limited while it streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{FromRequest, Multipart, Request};
use bytes::Bytes;
use futures::{Stream, StreamExt};

/// Bytes read before the file field's data: the framing of a few fields,
/// with room for a client that sends its first chunk large.
pub const BEFORE_FILE: u64 = 1 << 20;

/// Bytes the multipart parser takes from the connection at one poll. It
/// reads on until the connection has nothing ready, copying all of it into
/// its buffer: behind a fast client that was the socket's whole receive
/// buffer (megabytes) on top of the parts being written.
const BURST: usize = 256 << 10;

/// Disarms the bound once the file field is reached.
#[derive(Clone, Default)]
pub struct Preamble {
    read: Arc<AtomicU64>,
    reached_file: Arc<AtomicBool>,
}

impl Preamble {
    /// The file field is reached: its bytes are bounded by the upload limit.
    pub fn reached_file(&self) {
        self.reached_file.store(true, Ordering::Relaxed);
    }
}

/// The request's multipart body, with the part before the file bounded.
pub async fn bounded(request: Request) -> (Result<Multipart, MultipartRejection>, Preamble) {
    let preamble = Preamble::default();
    let watch = preamble.clone();
    let (parts, body) = request.into_parts();
    let body = body.into_data_stream().map(move |chunk| {
        let chunk = chunk?;
        if !watch.reached_file.load(Ordering::Relaxed) {
            let read = watch.read.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            if read + chunk.len() as u64 > BEFORE_FILE {
                return Err(axum::Error::new(format!(
                    "more than {BEFORE_FILE} bytes before the `file` field's data"
                )));
            }
        }
        Ok(chunk)
    });
    let request = Request::from_parts(parts, Body::from_stream(in_bursts(body, BURST)));
    (Multipart::from_request(request, &()).await, preamble)
}

/// `inner`, but after `burst` bytes in a row it answers `Pending` once (and
/// wakes its task at once, so nothing stalls): a reader that reads until
/// `Pending` then takes no more than `burst` (and a chunk) at a time.
fn in_bursts<S, E>(mut inner: S, burst: usize) -> impl Stream<Item = Result<Bytes, E>>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let mut taken = 0;
    futures::stream::poll_fn(move |cx| {
        if taken >= burst {
            taken = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let next = inner.poll_next_unpin(cx);
        match &next {
            Poll::Ready(Some(Ok(chunk))) => taken += chunk.len(),
            Poll::Pending => taken = 0,
            Poll::Ready(_) => {}
        }
        next
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::task::{Context, Wake, Waker};

    use super::*;

    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn a_reader_that_drains_what_is_ready_gets_a_burst_at_a_time() {
        const CHUNK: usize = 16 << 10;
        // 4 MiB, every chunk ready at once: a client faster than depot.
        let chunks = (0..256).map(|_| Ok::<_, ()>(Bytes::from(vec![7u8; CHUNK])));
        let mut stream = std::pin::pin!(in_bursts(futures::stream::iter(chunks), 64 << 10));
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let (mut total, mut bursts) = (0, 0);
        loop {
            // What a reader such as multer's takes in one go: all until Pending.
            let mut drained = 0;
            let ended = loop {
                match stream.as_mut().poll_next(&mut cx) {
                    Poll::Ready(Some(Ok(chunk))) => drained += chunk.len(),
                    Poll::Ready(None) => break true,
                    Poll::Ready(Some(Err(()))) => unreachable!(),
                    Poll::Pending => break false,
                }
            };
            assert!(drained <= 64 << 10, "{drained} bytes in one go");
            total += drained;
            if ended {
                break;
            }
            bursts += 1;
        }
        assert_eq!(total, 256 * CHUNK, "every byte arrives");
        assert_eq!(bursts, 64);
        assert_eq!(
            wakes.0.load(Ordering::Relaxed),
            bursts,
            "each pause wakes the reader, or the upload would stall"
        );
    }
}
