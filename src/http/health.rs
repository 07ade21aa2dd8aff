//! Kubernetes probes and Prometheus, without authentication: `/healthz` (the
//! process answers), `/readyz` (the database and the store answer too) and
//! `/metrics`.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{Body, Envelope};
use super::error::{ApiError, ApiResult};
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

/// Prometheus metrics, in the text exposition format. Open, unless depot
/// runs with `--metrics-token`: then only `Authorization: Bearer <token>`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "The metrics", content_type = "text/plain", body = String), Errors),
    security((), ("metrics" = [])),
)]
async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    if let Some(token) = &state.settings.metrics_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !presented.is_some_and(|p| same_secret(p, token.expose())) {
            return Err(ApiError::not_authenticated());
        }
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        METRICS.render(),
    ))
}

/// Compares digests, not the secrets, so that the time taken says nothing
/// of how much of a guess was right.
fn same_secret(presented: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    Sha256::digest(presented.as_bytes()) == Sha256::digest(expected.as_bytes())
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
