//! The OCP response envelope every answer is wrapped in.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{Local, SecondsFormat};
use serde::Serialize;
use utoipa::ToSchema;

use super::context::{RequestContext, server_name};

/// The envelope on the wire; also the schema of every JSON answer in the
/// OpenAPI description (`Body_SoftwarePackageMeta`, …).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Body<T> {
    /// The answer; absent on errors and on answers without data (DELETE).
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
    successful: bool,
    /// When the answer was made, RFC 3339 in the server's time zone.
    timestamp: String,
    /// Milliseconds the request took.
    duration: u64,
    /// The HTTP status, repeated.
    status: u16,
    /// The request's trace id: it is in depot's log lines and traces.
    trace_id: String,
    /// The host name of the replica that answered.
    server: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody>,
}

#[derive(Serialize, Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// A stable number; the README lists them all.
    pub code: u32,
    /// The code's name: obshell's envelope carries it beside the number.
    pub err_code: &'static str,
    /// What went wrong and what to do about it.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
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
    let ctx = RequestContext::current();
    let body = Body {
        successful: error.is_none(),
        data,
        timestamp: Local::now().to_rfc3339_opts(SecondsFormat::Millis, false),
        duration: ctx.started.elapsed().as_millis() as u64,
        status: status.as_u16(),
        trace_id: ctx.trace_id,
        server: server_name(),
        error,
    };
    (status, Json(body)).into_response()
}

/// `page` of a paged list.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    pub number: u64,
    pub size: u64,
    pub total_elements: u64,
    pub total_pages: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Paged<T> {
    pub contents: Vec<T>,
    pub page: PageInfo,
}
