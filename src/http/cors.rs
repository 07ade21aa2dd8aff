//! CORS: pages on the origins of `--cors-origin` (a web console, an Uppy or
//! tus-js-client page hosted elsewhere) may call the API from a browser.
//!
//! Preflights are answered here, outside everything else: before
//! authentication (a browser sends no credentials with them), the audit log
//! and the router, so every route, even an unknown one, has one. Credentials
//! mode is not allowed: pages send a token or a password in `Authorization`
//! themselves, so the browser's own stored credentials (cookies, a Basic
//! login it remembers) never ride along on a cross-origin call.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::CorsOrigin;

/// What a page may send: authentication, tus's headers, conditional and
/// ranged downloads, and a trace to join.
const ALLOWED: &[&str] = &[
    "authorization",
    "content-type",
    "tus-resumable",
    "upload-length",
    "upload-offset",
    "upload-metadata",
    "upload-checksum",
    "upload-concat",
    "upload-defer-length",
    "x-http-method-override",
    "x-requested-with",
    "range",
    "if-none-match",
    "traceparent",
    "tracestate",
];

/// What a page may read of an answer besides the CORS-safelisted headers.
const EXPOSED: &[&str] = &[
    "location",
    "upload-offset",
    "upload-length",
    "upload-expires",
    "upload-metadata",
    "tus-resumable",
    "tus-version",
    "tus-extension",
    "x-total-count",
    "tus-max-size",
    "tus-checksum-algorithm",
    "depot-package-id",
    "x-trace-id",
    "retry-after",
    "etag",
    "content-range",
    "content-disposition",
];

/// How long a browser may reuse a preflight's answer.
const MAX_AGE: Duration = Duration::from_secs(3600);

/// The CORS rules for `origins`; `None` when there are none (no CORS headers at all).
pub fn layer(origins: &[CorsOrigin]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.contains(&CorsOrigin::Any) {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(&o.to_string()).ok()),
        )
    };
    let names = |list: &[&'static str]| {
        list.iter()
            .map(|h| HeaderName::from_static(h))
            .collect::<Vec<_>>()
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers(names(ALLOWED))
            .expose_headers(names(EXPOSED))
            .max_age(MAX_AGE),
    )
}

/// Applies `cors` to a request: a preflight is answered at once; any other
/// request goes on and its answer gets the CORS headers. tower-http answers
/// every `OPTIONS` as a preflight, so a tus discovery request (`OPTIONS`
/// without `Access-Control-Request-Method`) bypasses it to reach its route.
pub async fn middleware(State(cors): State<CorsLayer>, request: Request, next: Next) -> Response {
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if request.method() == Method::OPTIONS && !preflight {
        return next.run(request).await;
    }
    let mut next = Some(next);
    let inner = tower::service_fn(move |request: Request| {
        let next = next.take().expect("a oneshot service is called once");
        async move { Ok::<_, Infallible>(next.run(request).await) }
    });
    match cors.layer(inner).oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
