//! `GET /api/v2/diagnostics`: `depot doctor`'s checks, from a running server.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Require, UserAdmin};
use super::envelope::{Body, Envelope};
use super::error::ApiResult;
use super::openapi::Errors;
use crate::app::AppState;
use crate::domain::doctor::{Check, Status, diagnose, overall};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(diagnostics))
}

#[derive(Serialize, ToSchema)]
struct Diagnostics {
    /// The worst of the checks.
    status: Status,
    checks: Vec<Check>,
}

/// `depot doctor`'s checks, run by this replica: database, migrations, store
/// probe, clock skew, free space, uploads, orphans, missing objects. Each is
/// OK, WARN or FAIL, with a remedy.
#[utoipa::path(
    get,
    path = "/api/v2/diagnostics",
    tag = "operations",
    responses((status = 200, description = "The checks", body = Body<Diagnostics>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
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
