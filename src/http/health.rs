//! Kubernetes probes and Prometheus, without authentication: `/healthz` (the
//! process answers), `/readyz` (the database and the store answer too) and
//! `/metrics`.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;

use super::envelope::Envelope;
use super::error::ApiResult;
use crate::app::AppState;
use crate::metrics::METRICS;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

async fn healthz() -> Envelope<Health> {
    Envelope::ok(Health { status: "UP" })
}

async fn metrics() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        METRICS.render(),
    )
}

/// 503 with the failing dependency named when the database or the store is unreachable.
async fn readyz(State(state): State<AppState>) -> ApiResult<Envelope<Health>> {
    state.packages.check_ready().await?;
    Ok(Envelope::ok(Health { status: "READY" }))
}
