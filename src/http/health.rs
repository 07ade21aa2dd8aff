//! Kubernetes probes, without authentication: `/healthz` (the process
//! answers) and `/readyz` (the database and the store answer too).

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;

use super::envelope::Envelope;
use super::error::ApiResult;
use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

async fn healthz() -> Envelope<Health> {
    Envelope::ok(Health { status: "UP" })
}

/// 503 with the failing dependency named when the database or the store is unreachable.
async fn readyz(State(state): State<AppState>) -> ApiResult<Envelope<Health>> {
    state.packages.check_ready().await?;
    Ok(Envelope::ok(Health { status: "READY" }))
}
