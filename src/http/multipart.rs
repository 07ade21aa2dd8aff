//! Reading an upload's multipart body with what comes before the file bounded.
//! Everything a client sends before the `file` field's bytes — a preamble
//! without a boundary, field headers, other fields — is read whole by the
//! multipart parser while it looks for the next boundary, so it is limited
//! to `BEFORE_FILE`; the file itself is limited while it streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{FromRequest, Multipart, Request};
use futures::StreamExt;

/// Bytes read before the file field's data: the framing of a few fields,
/// with room for a client that sends its first chunk large.
pub const BEFORE_FILE: u64 = 1 << 20;

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
    let request = Request::from_parts(parts, Body::from_stream(body));
    (Multipart::from_request(request, &()).await, preamble)
}
