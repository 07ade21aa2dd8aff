//! `/api/v2/time` (obd's liveness check, no authentication) and `/api/v2/info`.

use chrono::{Local, SecondsFormat};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::Json;
use axum::response::{IntoResponse, Response};

use axum::http::StatusCode;

use super::envelope::{Body, Envelope, body};
use crate::app::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(time))
        .routes(routes!(info))
}

/// The server's time (RFC 3339): obd's check that the server is up.
#[utoipa::path(
    get,
    path = "/api/v2/time",
    tag = "operations",
    responses((status = 200, description = "The server's time", body = Body<String>)),
)]
async fn time() -> Envelope<String> {
    Envelope::ok(Local::now().to_rfc3339_opts(SecondsFormat::Millis, false))
}

#[derive(Serialize, ToSchema)]
struct Info {
    name: &'static str,
    version: &'static str,
}

/// OCP answers `/api/v2/info` as a flat map, and obd reads it so
/// (`resp['buildVersion']`): these ride beside the envelope's fields.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct FlatInfo {
    #[serde(flatten)]
    envelope: Body<Info>,
    build_version: &'static str,
    /// When the binary was built, if the build said (`DEPOT_BUILD_TIME`).
    build_time: &'static str,
}

/// The server's name and version: in the envelope's `data`, and at the top
/// level as OCP's `buildVersion` and `buildTime` (what obd reads).
#[utoipa::path(
    get,
    path = "/api/v2/info",
    tag = "operations",
    responses((status = 200, description = "Name and version", body = FlatInfo)),
)]
async fn info() -> Response {
    let info = Info {
        name: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
    };
    let envelope = body(StatusCode::OK, Some(info), None);
    Json(FlatInfo {
        envelope,
        build_version: env!("CARGO_PKG_VERSION"),
        build_time: option_env!("DEPOT_BUILD_TIME").unwrap_or(""),
    })
    .into_response()
}
