//! `GET /api/v2/diagnostics`: `depot doctor`'s checks, from a running server.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;

use super::auth::{Require, UserAdmin};
use super::envelope::Envelope;
use super::error::ApiResult;
use crate::app::AppState;
use crate::domain::doctor::{Check, Status, diagnose, overall};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v2/diagnostics", get(diagnostics))
}

#[derive(Serialize)]
struct Diagnostics {
    /// The worst of the checks.
    status: Status,
    checks: Vec<Check>,
}

async fn diagnostics(
    _: Require<UserAdmin>,
    State(state): State<AppState>,
) -> ApiResult<Envelope<Diagnostics>> {
    let checks = diagnose(
        state.packages.db(),
        state.packages.store(),
        &state.collector,
    )
    .await;
    Ok(Envelope::ok(Diagnostics {
        status: overall(&checks),
        checks,
    }))
}
