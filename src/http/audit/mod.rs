//! The audit trail of the HTTP API: every change (a mutating request) and
//! every refused attempt (401, 403) is recorded after it is answered
//! (`record`); and `GET /api/v2/audit-events` to read it back.

mod record;

use axum::extract::State;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Require, UserAdmin};
use super::envelope::{Body, Envelope, PageInfo, Paged};
use super::error::{ApiError, ApiResult};
use super::extract::QueryParams;
use super::openapi::Errors;
use crate::app::AppState;
use crate::domain::audit::Filter;
pub(crate) use record::method_name;
pub use record::{Unremarkable, middleware};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// A user name.
    actor: Option<String>,
    /// `package.upload`, `package.delete`, `token.create`, … or `METHOD /route`.
    action: Option<String>,
    /// From this time on (RFC 3339).
    since: Option<String>,
    /// Before this time (RFC 3339).
    until: Option<String>,
    /// 1-based page number (default 1).
    page: Option<u64>,
    /// Page size, 1 to 1000 (default 50).
    size: Option<u64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AuditEventMeta {
    id: i64,
    /// When it happened (the first request, for an aggregated event).
    time: String,
    /// The user, or the name a failed login tried.
    actor: String,
    /// The token used, or the known (revoked, expired) token a refused attempt presented.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_id: Option<i64>,
    /// The start of the bearer token a refused attempt presented (`depot_AbCd…`), never the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_hint: Option<String>,
    action: String,
    /// The request's path (clipped); `unknown route: …` for paths depot has no route for.
    target: String,
    /// `success`, `refused` (4xx), `failed` (5xx), `stored` (the client hung
    /// up, the package was stored anyway) or `shed` (a summary of events the
    /// log could not keep up with).
    outcome: String,
    status: i32,
    /// The peer's address; `CLIENT (via PROXY)` behind a trusted proxy.
    address: String,
    /// The request's own id (its trace id, unless the client sent a `traceparent`).
    trace_id: String,
    /// The trace id the client sent in `traceparent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_link: Option<String>,
    /// Requests this event stands for: more than 1 for refused attempts
    /// aggregated per source and minute, and for a summary of shed events.
    count: i64,
    /// The last of those requests (RFC 3339), when more than one.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_time: Option<String>,
    /// The package an upload stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    package: Option<AuditPackage>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AuditPackage {
    id: i64,
    file_name: String,
    sha1: String,
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, false)
}

fn parse_time(name: &str, value: Option<&str>) -> ApiResult<Option<DateTime<Utc>>> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| ApiError::bad_request(format!("{name} must be an RFC 3339 time: {e}")))
        })
        .transpose()
}

/// The audit log, newest first: every change, and the refused attempts
/// (aggregated per source and minute).
#[utoipa::path(
    get,
    path = "/api/v2/audit-events",
    tag = "operations",
    params(ListQuery),
    responses((status = 200, description = "A page of events", body = Body<Paged<AuditEventMeta>>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn list(
    _: Require<UserAdmin>,
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Envelope<Paged<AuditEventMeta>>> {
    let page = query.page.unwrap_or(1).max(1);
    let size = query.size.unwrap_or(50);
    if !(1..=1000).contains(&size) {
        return Err(ApiError::bad_request("size must be between 1 and 1000"));
    }
    let filter = Filter {
        actor: query.actor,
        action: query.action,
        since: parse_time("since", query.since.as_deref())?,
        until: parse_time("until", query.until.as_deref())?,
    };
    let (rows, total) = state.audit.list(&filter, page, size).await?;
    Ok(Envelope::ok(Paged {
        contents: rows
            .into_iter()
            .map(|e| AuditEventMeta {
                id: e.id,
                time: time(e.at),
                actor: e.actor,
                token_id: e.token_id,
                token_hint: e.token_hint,
                action: e.action,
                target: e.target,
                outcome: e.outcome,
                status: e.status,
                address: e.address,
                trace_id: e.trace_id,
                trace_link: e.trace_link,
                count: e.count,
                last_time: e.last_at.map(time),
                package: e.package_id.map(|id| AuditPackage {
                    id,
                    file_name: e.package_file.unwrap_or_default(),
                    sha1: e.package_sha1.unwrap_or_default(),
                }),
            })
            .collect(),
        page: PageInfo {
            number: page,
            size,
            total_elements: total,
            total_pages: total.div_ceil(size),
        },
    }))
}
