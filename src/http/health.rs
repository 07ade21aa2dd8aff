//! Kubernetes probes and Prometheus, without authentication: `/healthz` (the
//! process answers), `/readyz` (the database and the store answer too) and
//! `/metrics`.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{Body, Envelope};
use super::error::ApiResult;
use super::openapi::Errors;
use crate::app::AppState;
use crate::domain::liveness::check_alive;
use crate::metrics::METRICS;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

#[derive(Serialize, ToSchema)]
struct Health {
    /// `UP` or `READY`.
    status: &'static str,
}

/// Liveness (Kubernetes' liveness probe): the process answers and can still
/// run blocking work (file I/O, hashing); 503 when it cannot, so that it is
/// restarted rather than left hanging.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "Alive", body = Body<Health>), Errors),
)]
async fn healthz() -> ApiResult<Envelope<Health>> {
    check_alive().await?;
    Ok(Envelope::ok(Health { status: "UP" }))
}

/// Prometheus metrics, in the text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "The metrics", content_type = "text/plain", body = String)),
)]
async fn metrics() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        METRICS.render(),
    )
}

/// Readiness: the database and the store answer too (Kubernetes' readiness
/// probe); 503 with the failing dependency named when one does not.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses((status = 200, description = "Ready", body = Body<Health>), Errors),
)]
async fn readyz(State(state): State<AppState>) -> ApiResult<Envelope<Health>> {
    state.packages.check_ready().await?;
    Ok(Envelope::ok(Health { status: "READY" }))
}
