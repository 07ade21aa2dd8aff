//! Request bodies as streams, under the upload idle timeout.

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::error::Error;
use crate::metrics::METRICS;

/// `body`'s bytes, failing with `Stalled` when the client sends nothing for
/// `idle` (a hung client must not hold an upload open forever) and with
/// `Body` when the stream breaks.
pub fn idle_limited<S, E>(
    body: S,
    idle: Duration,
) -> impl Stream<Item = Result<Bytes, Error>> + Send + Unpin
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    Box::pin(futures::stream::unfold(
        Some(body),
        move |body| async move {
            let mut body = body?;
            match tokio::time::timeout(idle, body.next()).await {
                Err(_) => Some((
                    Err(Error::UploadStalled {
                        secs: idle.as_secs(),
                    }),
                    None,
                )),
                Ok(None) => None,
                Ok(Some(Ok(bytes))) => {
                    METRICS.uploaded_bytes.inc_by(bytes.len() as u64);
                    Some((Ok(bytes), Some(body)))
                }
                Ok(Some(Err(e))) => Some((Err(Error::UploadInterrupted(e.to_string())), None)),
            }
        },
    ))
}
