//! Per-request context: the trace id every envelope carries, and the start
//! time its `duration` is measured from. Set by one middleware, read where
//! responses are rendered.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

#[derive(Clone, Debug)]
pub struct RequestContext {
    pub trace_id: String,
    pub started: Instant,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

impl RequestContext {
    /// The current request's context (a fresh one outside any request).
    pub fn current() -> Self {
        CONTEXT.try_with(Clone::clone).unwrap_or_else(|_| Self {
            trace_id: new_trace_id(),
            started: Instant::now(),
        })
    }
}

/// Which server answered: the pod or host name.
pub fn server_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| gethostname::gethostname().to_string_lossy().into_owned())
}

/// A W3C trace id (32 hex digits), so that logs, envelopes and traces agree.
fn new_trace_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The trace id of an incoming W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`).
fn trace_id_from_parent(value: &str) -> Option<String> {
    let mut parts = value.split('-');
    let (_version, trace_id) = (parts.next()?, parts.next()?);
    let valid = trace_id.len() == 32
        && trace_id.bytes().all(|b| b.is_ascii_hexdigit())
        && trace_id.bytes().any(|b| b != b'0');
    valid.then(|| trace_id.to_ascii_lowercase())
}

pub async fn middleware(req: Request, next: Next) -> Response {
    let trace_id = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(trace_id_from_parent)
        .unwrap_or_else(new_trace_id);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().clone();
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    // Named by route template, not the raw path, to keep cardinality low.
    let span = tracing::info_span!("request", %method, %route, %trace_id);
    let context = RequestContext {
        trace_id: trace_id.clone(),
        started: Instant::now(),
    };
    let mut response = CONTEXT
        .scope(context, next.run(req))
        .instrument(span.clone())
        .await;
    if let Ok(v) = HeaderValue::from_str(&trace_id) {
        response.headers_mut().insert("x-trace-id", v);
    }
    // A refused upload leaves its body unread, and the server then closes the
    // connection: say so, or clients reuse it and their next request fails.
    if has_body && (response.status().is_client_error() || response.status().is_server_error()) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), "answered"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_honoured_when_valid() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            trace_id_from_parent(&format!("00-{id}-00f067aa0ba902b7-01")).as_deref(),
            Some(id)
        );
        assert_eq!(
            trace_id_from_parent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(trace_id_from_parent("garbage"), None);
        assert_eq!(new_trace_id().len(), 32);
    }
}
