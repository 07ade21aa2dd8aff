//! The audit trail of the HTTP API: every change (a mutating request) and
//! every refused attempt (401, 403) is recorded after it is answered; and
//! `GET /api/v2/audit-events` to read it back.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Require, UserAdmin};
use super::context::RequestContext;
use super::envelope::{Body, Envelope, PageInfo, Paged};
use super::error::{ApiError, ApiResult};
use super::extract::QueryParams;
use super::openapi::Errors;
use crate::app::AppState;
use crate::domain::audit::{AuditLog, Event, Filter};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// The action a request is, by method and route template.
fn action(method: &Method, route: &str) -> String {
    let named = match (method.as_str(), route) {
        ("POST", "/api/v2/software-packages") => "package.upload",
        ("POST", "/api/v2/files/uploadFile") => "package.upload",
        ("DELETE", "/api/v2/software-packages/{id}") => "package.delete",
        ("POST", "/api/v1/upgrade/package") => "upgrade-package.upload",
        ("DELETE", "/api/v1/upgrade/package/{id}") => "upgrade-package.delete",
        ("POST", "/api/v2/uploads" | "/api/v2/uploads/") => "upload.create",
        ("PATCH", "/api/v2/uploads/{id}") => "upload.append",
        ("DELETE", "/api/v2/uploads/{id}") => "upload.terminate",
        ("POST", "/api/v2/tokens") => "token.create",
        ("DELETE", "/api/v2/tokens/{id}") => "token.revoke",
        _ => "",
    };
    if named.is_empty() {
        format!("{} {route}", method.as_str())
    } else {
        named.to_string()
    }
}

/// Whether a request belongs in the audit log.
fn audited(method: &Method, route: &str, status: StatusCode) -> bool {
    let changes = matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
        // Planning a route reads only.
        && route != "/api/v1/upgrade/route";
    changes || matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
}

pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let target = req.uri().path().to_string();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    // Behind a proxy the peer is the proxy: keep what it says it forwarded too.
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let address = match (peer, forwarded) {
        (Some(peer), Some(client)) => format!("{client} (via {peer})"),
        (Some(peer), None) => peer,
        (None, Some(client)) => client,
        (None, None) => String::new(),
    };
    let mut pending = Pending {
        audit: state.audit.clone(),
        context: RequestContext::current(),
        method,
        route,
        target,
        address,
    };
    let response = next.run(req).await;
    pending.finish(response.status());
    response
}

/// An event to record once the request ends, however it ends: the write
/// happens in a task of its own, so that it neither delays the answer nor is
/// lost when the client hangs up (hyper then drops the request's future).
struct Pending {
    audit: AuditLog,
    context: RequestContext,
    method: Method,
    route: String,
    target: String,
    address: String,
}

/// Recorded for a change whose client went away before the answer.
const CLIENT_CLOSED: u16 = 499;

impl Pending {
    fn finish(&mut self, status: StatusCode) {
        if audited(&self.method, &self.route, status) {
            self.record(status.as_u16());
        }
        // Recorded: nothing for `drop` to do.
        self.method = Method::GET;
        self.route.clear();
    }

    fn record(&self, status: u16) {
        let event = Event {
            at: Utc::now(),
            actor: self.context.actor().unwrap_or_default(),
            action: action(&self.method, &self.route),
            target: self.target.clone(),
            status,
            address: self.address.clone(),
            trace_id: self.context.trace_id.clone(),
        };
        let audit = self.audit.clone();
        tokio::spawn(async move {
            if let Err(e) = audit.record(event).await {
                tracing::error!(error = %e, "recording an audit event failed");
            }
        });
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // Still here: the request was cancelled before it was answered.
        if !self.route.is_empty() && audited(&self.method, &self.route, StatusCode::OK) {
            self.record(CLIENT_CLOSED);
        }
    }
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
    time: String,
    actor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_id: Option<i64>,
    action: String,
    target: String,
    outcome: String,
    status: i32,
    address: String,
    trace_id: String,
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

/// The audit log, newest first: every change and every refused attempt.
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
                time: e.at.to_rfc3339_opts(SecondsFormat::Millis, false),
                actor: e.actor,
                token_id: e.token_id,
                action: e.action,
                target: e.target,
                outcome: e.outcome,
                status: e.status,
                address: e.address,
                trace_id: e.trace_id,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_named() {
        assert_eq!(
            action(&Method::DELETE, "/api/v2/software-packages/{id}"),
            "package.delete"
        );
        assert_eq!(
            action(&Method::PATCH, "/api/v2/uploads/{id}"),
            "upload.append"
        );
        assert_eq!(action(&Method::POST, "/api/v2/other"), "POST /api/v2/other");
    }

    #[test]
    fn what_is_audited() {
        assert!(audited(
            &Method::POST,
            "/api/v2/software-packages",
            StatusCode::OK
        ));
        assert!(audited(
            &Method::GET,
            "/api/v2/software-packages",
            StatusCode::UNAUTHORIZED
        ));
        assert!(!audited(
            &Method::GET,
            "/api/v2/software-packages",
            StatusCode::OK
        ));
        assert!(!audited(
            &Method::POST,
            "/api/v1/upgrade/route",
            StatusCode::OK
        ));
    }
}
