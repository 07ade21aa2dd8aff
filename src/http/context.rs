//! Per-request context: the trace id every envelope carries, and the start
//! time its `duration` is measured from. Set by one middleware, read where
//! responses are rendered; the same middleware counts requests for `/metrics`.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::error::Code;
use crate::domain::audit::Actor;
use crate::metrics::METRICS;

#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The trace the request belongs to, as the envelope and the exported
    /// spans say it: the client's when it sent a `traceparent`.
    pub trace_id: String,
    /// This request's own id, never chosen by a client: its audit event's
    /// trace id (the same as `trace_id` unless the client sent one).
    pub request_id: String,
    /// The trace id the client sent, kept as the link to its trace.
    pub trace_link: Option<String>,
    pub started: Instant,
    /// Who the request authenticated as (or tried to), for the audit log.
    pub actor: Arc<Mutex<Option<Actor>>>,
}

tokio::task_local! {
    static CONTEXT: RequestContext;
}

impl RequestContext {
    /// The current request's context (a fresh one outside any request).
    pub fn current() -> Self {
        CONTEXT.try_with(Clone::clone).unwrap_or_else(|_| {
            let trace_id = new_trace_id();
            Self {
                request_id: trace_id.clone(),
                trace_id,
                trace_link: None,
                started: Instant::now(),
                actor: Arc::default(),
            }
        })
    }

    /// Records who the current request acts for.
    pub fn set_actor(actor: Actor) {
        let _ = CONTEXT.try_with(|c| *c.actor.lock().expect("not poisoned") = Some(actor));
    }

    pub fn actor(&self) -> Option<Actor> {
        self.actor.lock().expect("not poisoned").clone()
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

/// A W3C `traceparent`: trace id, parent span id, flags.
type Traceparent = (String, String, u8);

/// The parts of a `traceparent`, when it is valid.
fn parse_traceparent(value: &str) -> Option<Traceparent> {
    let mut parts = value.trim().split('-');
    let (_version, trace_id, span_id) = (parts.next()?, parts.next()?, parts.next()?);
    let flags = parts
        .next()
        .and_then(|f| u8::from_str_radix(f, 16).ok())
        .unwrap_or(1);
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0')
    };
    (hex(trace_id, 32) && hex(span_id, 16)).then(|| {
        (
            trace_id.to_ascii_lowercase(),
            span_id.to_ascii_lowercase(),
            flags,
        )
    })
}

/// The request's trace id: the client's (`traceparent`), else the one
/// OpenTelemetry gave the span when traces are exported, else a new one. So
/// the envelope's `traceId` always names the exported trace.
fn trace_id_of(span: &tracing::Span, parent: Option<Traceparent>) -> String {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    if let Some((trace_id, span_id, flags)) = &parent {
        if let (Ok(t), Ok(s)) = (TraceId::from_hex(trace_id), SpanId::from_hex(span_id)) {
            // The client's sampling decision stands.
            let flags = TraceFlags::new(*flags);
            let remote = SpanContext::new(t, s, flags, true, TraceState::default());
            // Fails only without the OpenTelemetry layer, where it does not matter.
            let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
        }
        return trace_id.clone();
    }
    let exported = span.context().span().span_context().trace_id();
    if exported != TraceId::INVALID {
        return exported.to_string();
    }
    new_trace_id()
}

pub async fn middleware(req: Request, next: Next) -> Response {
    let parent = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_traceparent);
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
    let span = tracing::info_span!(
        "request",
        %method,
        %route,
        trace_id = tracing::field::Empty,
        request_id = tracing::field::Empty
    );
    let trace_link = parent.as_ref().map(|(trace_id, _, _)| trace_id.clone());
    let trace_id = trace_id_of(&span, parent);
    span.record("trace_id", trace_id.as_str());
    // A client names its trace, not this request: another request may carry
    // the same trace id, and the audit log must tell them apart.
    let request_id = match &trace_link {
        Some(_) => new_trace_id(),
        None => trace_id.clone(),
    };
    span.record("request_id", request_id.as_str());
    let started = Instant::now();
    let context = RequestContext {
        trace_id: trace_id.clone(),
        request_id,
        trace_link,
        started,
        actor: Arc::default(),
    };
    let upload = has_body && is_upload(&method, &route);
    let _in_flight = upload.then(InFlight::start);
    let mut response = CONTEXT
        .scope(context, next.run(req))
        .instrument(span.clone())
        .await;
    record(&method, &route, &response, started.elapsed(), upload);
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

/// The routes that receive packages.
fn is_upload(method: &Method, route: &str) -> bool {
    matches!(
        (method.as_str(), route),
        ("POST", "/api/v2/software-packages")
            | ("POST", "/api/v2/files/uploadFile")
            | ("POST", "/api/v1/upgrade/package")
            | ("POST", "/api/v2/uploads")
            | ("POST", "/api/v2/uploads/")
            | ("PATCH", "/api/v2/uploads/{id}")
    )
}

/// Counts an upload in flight for as long as it lives (a dropped request too).
struct InFlight;

impl InFlight {
    fn start() -> Self {
        METRICS.uploads_in_flight.inc();
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        METRICS.uploads_in_flight.dec();
    }
}

fn record(
    method: &Method,
    route: &str,
    response: &Response,
    took: std::time::Duration,
    upload: bool,
) {
    let status = response.status();
    let method = super::audit::method_name(method);
    METRICS
        .requests
        .with_label_values(&[method, route, status.as_str()])
        .inc();
    METRICS
        .request_seconds
        .with_label_values(&[method, route])
        .observe(took.as_secs_f64());
    let code = response.extensions().get::<Code>().copied();
    // Not failures of an upload: no credentials (or too many wrong ones), and
    // a resumable upload's offset conflict (the client resumes from HEAD).
    let counted = !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
        && !matches!(
            code,
            Some(Code::UploadOffsetConflict | Code::TooManyAttempts)
        );
    if upload && counted && (status.is_client_error() || status.is_server_error()) {
        let cause = code.map_or("UNKNOWN", Code::name);
        METRICS.uploads_failed.with_label_values(&[cause]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_honoured_when_valid() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(
            parse_traceparent(&format!("00-{id}-00f067aa0ba902b7-01")),
            Some((id.to_string(), "00f067aa0ba902b7".to_string(), 1))
        );
        assert_eq!(
            parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(parse_traceparent("garbage"), None);
        assert_eq!(new_trace_id().len(), 32);
    }
}
