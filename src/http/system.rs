//! `/api/v2/time` (obd's liveness check, no authentication) and `/api/v2/info`.

use chrono::{Local, SecondsFormat};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{Body, Envelope};
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

/// The server's name and version.
#[utoipa::path(
    get,
    path = "/api/v2/info",
    tag = "operations",
    responses((status = 200, description = "Name and version", body = Body<Info>)),
)]
async fn info() -> Envelope<Info> {
    Envelope::ok(Info {
        name: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
    })
}
