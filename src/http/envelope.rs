//! The OCP response envelope every answer is wrapped in.

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Local, SecondsFormat};
use serde::Serialize;
use utoipa::ToSchema;

use super::context::{RequestContext, server_name};

// The shapes on the wire live in `api_types`, which the client reads too.
pub use crate::api_types::{Body, ErrorBody, PageInfo, Paged};

/// How many rows a list holds in all, beside one page of it (`page`,
/// `size`) in the list's own shape: the patches, the hosts, the tokens.
pub const TOTAL_COUNT: HeaderName = HeaderName::from_static("x-total-count");

pub fn total_count(total: u64) -> [(HeaderName, HeaderValue); 1] {
    [(TOTAL_COUNT, HeaderValue::from(total))]
}

/// The `data` of answers that have none.
#[derive(Serialize, ToSchema)]
pub struct NoData {}

/// A successful answer: `data` wrapped in the envelope.
pub struct Envelope<T>(pub Option<T>);

impl<T> Envelope<T> {
    pub fn ok(data: T) -> Self {
        Self(Some(data))
    }
}

impl Envelope<NoData> {
    /// The envelope without `data` (DELETE).
    pub fn empty() -> Self {
        Self(None)
    }
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        render(StatusCode::OK, self.0, None)
    }
}

pub fn render<T: Serialize>(
    status: StatusCode,
    data: Option<T>,
    error: Option<ErrorBody>,
) -> Response {
    (status, Json(body(status, data, error))).into_response()
}

/// The envelope of the current request's answer.
pub fn body<T>(status: StatusCode, data: Option<T>, error: Option<ErrorBody>) -> Body<T> {
    let ctx = RequestContext::current();
    Body {
        successful: error.is_none(),
        data,
        timestamp: Local::now().to_rfc3339_opts(SecondsFormat::Millis, false),
        duration: ctx.started.elapsed().as_millis() as u64,
        status: status.as_u16(),
        trace_id: ctx.trace_id,
        server: server_name().into(),
        error,
    }
}
