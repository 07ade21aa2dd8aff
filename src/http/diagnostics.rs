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
use crate::domain::doctor::{self, overall};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(diagnostics))
}

#[derive(Serialize, ToSchema)]
struct Diagnostics {
    /// The worst of the checks.
    status: Status,
    checks: Vec<Check>,
}

#[derive(Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
enum Status {
    Ok,
    Warn,
    Fail,
}

impl From<doctor::Status> for Status {
    fn from(status: doctor::Status) -> Self {
        match status {
            doctor::Status::Ok => Self::Ok,
            doctor::Status::Warn => Self::Warn,
            doctor::Status::Fail => Self::Fail,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct Check {
    name: &'static str,
    status: Status,
    /// What was found.
    detail: String,
    /// What to do, when something is wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    remedy: Option<String>,
}

impl From<doctor::Check> for Check {
    fn from(check: doctor::Check) -> Self {
        Self {
            name: check.name,
            status: check.status.into(),
            detail: check.detail,
            remedy: check.remedy,
        }
    }
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
    let checks = state.doctor.run().await;
    Ok(Envelope::ok(Diagnostics {
        status: overall(&checks).into(),
        checks: checks.into_iter().map(Check::from).collect(),
    }))
}
