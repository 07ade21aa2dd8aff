//! The middleware that records audit events. A change (an authenticated
//! mutating request) is its own event; refused attempts (401, 403, requests
//! for routes that do not exist, requests that never authenticated) are
//! aggregated per source and kind by the audit log, so that a flood of them
//! costs a few rows, not one per request.

use crate::http::auth::Credentials;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use chrono::Utc;

use crate::app::AppState;
use crate::domain::audit::{AuditLog, Event, PresentedToken, Receipt, StoredPackage};
use crate::http::context::RequestContext;
use crate::http::forwarded;

/// Put in a response's extensions by a handler whose request changed
/// nothing worth an event (an agent's heartbeat): it is not recorded.
#[derive(Clone, Copy, Debug)]
pub struct Unremarkable;

/// Characters of an unknown path kept in its event.
const UNKNOWN_PREFIX: usize = 32;

/// The action a request is, by method and route template.
fn action(method: &Method, route: Option<&str>) -> String {
    let Some(route) = route else {
        return format!("{} unknown route", method_name(method));
    };
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
        ("POST", "/ui/session") => "session.start",
        ("DELETE", "/ui/session") => "session.end",
        ("POST", "/api/v2/regions") => "region.add",
        ("DELETE", "/api/v2/regions/{name}") => "region.remove",
        ("POST", "/api/v2/regions/sync") => "region.sync",
        ("POST", r) => patch_action(r).unwrap_or(""),
        _ => "",
    };
    if named.is_empty() {
        format!("{} {route}", method_name(method))
    } else {
        named.to_string()
    }
}

/// StarlingX's patch calls, under `/v1/` and `/patch/` alike.
fn patch_action(route: &str) -> Option<&'static str> {
    let call = route
        .strip_prefix("/v1/")
        .or_else(|| route.strip_prefix("/patch/"))?;
    let name = call.split('/').next()?;
    Some(match name {
        "upload" => "patch.upload",
        "apply" => "patch.apply",
        "remove" => "patch.remove",
        "delete" => "patch.delete",
        "commit" => "patch.commit",
        "commit_dry_run" => "patch.commit-dry-run",
        "init_release" => "patch.release-add",
        "del_release" => "patch.release-delete",
        "show" => "patch.show",
        "is_applied" => "patch.is-applied",
        "is_available" => "patch.is-available",
        "host_report" => "patch.host-report",
        "host_install_async" => "patch.host-install",
        "drop_host" => "patch.host-drop",
        _ => return None,
    })
}

/// Any token is a method to hyper: only the standard ones are named (in
/// audit events and metric labels alike).
pub(crate) fn method_name(method: &Method) -> &str {
    match *method {
        Method::GET
        | Method::HEAD
        | Method::POST
        | Method::PUT
        | Method::PATCH
        | Method::DELETE
        | Method::OPTIONS => method.as_str(),
        _ => "OTHER",
    }
}

/// What the log keeps of the path: all of it (clipped by the log) for a
/// route depot has, a short sanitized start of it for one it has not.
fn target(route: Option<&str>, path: &str) -> String {
    if route.is_some() {
        return path.to_string();
    }
    let start: String = path
        .chars()
        .take(UNKNOWN_PREFIX)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "/-._~%".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect();
    let more = if path.chars().count() > UNKNOWN_PREFIX {
        "…"
    } else {
        ""
    };
    format!("unknown route: {start}{more}")
}

/// Whether a request belongs in the audit log.
fn audited(method: &Method, route: Option<&str>, status: StatusCode) -> bool {
    let changes = matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE)
        // Planning a route reads only.
        && route != Some("/api/v1/upgrade/route");
    changes || matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
}

/// Whether an audited request is a change, recorded on its own, rather than
/// a refused attempt, aggregated: it reached a route, authenticated, was
/// permitted and either was answered or stored what it sent.
fn is_change(route_known: bool, authenticated: bool, status: u16, stored: bool) -> bool {
    stored || (route_known && authenticated && !matches!(status, 401 | 403 | CLIENT_CLOSED))
}

/// The bearer token a request presents, named without its secret.
fn presented_token(value: &HeaderValue) -> Option<PresentedToken> {
    match Credentials::parse(value)? {
        Credentials::Bearer(secret) => Some(PresentedToken::new(&secret)),
        Credentials::Basic { .. } => None,
    }
}

pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let peer = forwarded::peer(req.extensions());
    let address = forwarded::client_address(peer, req.headers(), &state.settings.trusted_proxies);
    let receipt = Receipt::default();
    let mut pending = Pending {
        audit: state.audit.clone(),
        context: RequestContext::current(),
        target: target(route.as_deref(), req.uri().path()),
        authorization: req.headers().get(header::AUTHORIZATION).cloned(),
        receipt: receipt.clone(),
        method,
        route,
        address,
        done: false,
    };
    let response = receipt.scope(next.run(req)).await;
    if response.extensions().get::<Unremarkable>().is_some() {
        pending.done = true;
    } else {
        pending.finish(response.status());
    }
    response
}

/// An event to record once the request ends, however it ends: the audit
/// log writes it off the request path, so that it neither delays the answer
/// nor is lost when the client hangs up (hyper then drops the request's
/// future, and `drop` records it).
struct Pending {
    audit: AuditLog,
    context: RequestContext,
    method: Method,
    route: Option<String>,
    target: String,
    address: String,
    /// Read only to name a refused token.
    authorization: Option<HeaderValue>,
    /// What the request stored, reported by ingest.
    receipt: Receipt,
    done: bool,
}

/// Recorded for a change whose client went away before the answer.
const CLIENT_CLOSED: u16 = 499;

impl Pending {
    fn finish(&mut self, status: StatusCode) {
        self.done = true;
        if audited(&self.method, self.route.as_deref(), status) {
            self.record(status.as_u16(), self.receipt.stored());
        }
    }

    fn record(&self, status: u16, package: Option<StoredPackage>) {
        let actor = self.context.actor();
        let authenticated = actor.is_some() && status != 401;
        let change = is_change(
            self.route.is_some(),
            authenticated,
            status,
            package.is_some(),
        );
        // A token that authenticated is named by its id; one refused, by its start.
        let presented = self
            .authorization
            .as_ref()
            .filter(|_| actor.as_ref().is_none_or(|a| a.token.is_none()))
            .and_then(presented_token);
        let event = Event {
            at: Utc::now(),
            actor: actor.unwrap_or_default(),
            action: action(&self.method, self.route.as_deref()),
            target: self.target.clone(),
            status,
            address: self.address.clone(),
            trace_id: self.context.request_id.clone(),
            trace_link: self.context.trace_link.clone(),
            presented,
            package,
        };
        if change {
            self.audit.record(event);
        } else {
            self.audit.refused(event);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // Not finished: the request was cancelled before it was answered.
        if self.done || !audited(&self.method, self.route.as_deref(), StatusCode::OK) {
            return;
        }
        if !self.receipt.is_storing() {
            self.record(CLIENT_CLOSED, self.receipt.stored());
            return;
        }
        // Storing goes on without the client: the event says what it stored.
        let pending = Pending {
            audit: self.audit.clone(),
            context: self.context.clone(),
            method: self.method.clone(),
            route: self.route.take(),
            target: std::mem::take(&mut self.target),
            address: std::mem::take(&mut self.address),
            authorization: self.authorization.take(),
            receipt: self.receipt.clone(),
            done: true,
        };
        tokio::spawn(async move {
            let stored = pending.receipt.settled().await;
            pending.record(CLIENT_CLOSED, stored);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_named() {
        let route = Some("/api/v2/software-packages/{id}");
        assert_eq!(action(&Method::DELETE, route), "package.delete");
        assert_eq!(
            action(&Method::PATCH, Some("/api/v2/uploads/{id}")),
            "upload.append"
        );
        assert_eq!(
            action(&Method::POST, Some("/api/v2/other")),
            "POST /api/v2/other"
        );
        assert_eq!(action(&Method::POST, None), "POST unknown route");
        let odd = Method::from_bytes(b"X-FLOOD-1234").unwrap();
        assert_eq!(action(&odd, None), "OTHER unknown route");
    }

    #[test]
    fn unknown_paths_are_not_kept_verbatim() {
        assert_eq!(
            target(
                Some("/api/v2/software-packages/{id}"),
                "/api/v2/software-packages/7"
            ),
            "/api/v2/software-packages/7"
        );
        assert_eq!(
            target(None, "/wp-login.php"),
            "unknown route: /wp-login.php"
        );
        let long = format!("/{}", "a".repeat(5000));
        let kept = target(None, &long);
        assert!(kept.len() < 60, "{kept}");
        assert!(kept.ends_with('…'));
        assert_eq!(target(None, "/x<script>"), "unknown route: /x?script?");
    }

    #[test]
    fn what_is_audited() {
        let packages = Some("/api/v2/software-packages");
        assert!(audited(&Method::POST, packages, StatusCode::OK));
        assert!(audited(&Method::GET, packages, StatusCode::UNAUTHORIZED));
        assert!(!audited(&Method::GET, packages, StatusCode::OK));
        assert!(!audited(
            &Method::POST,
            Some("/api/v1/upgrade/route"),
            StatusCode::OK
        ));
        assert!(audited(&Method::POST, None, StatusCode::NOT_FOUND));
    }

    #[test]
    fn what_is_a_change() {
        assert!(is_change(true, true, 200, false));
        assert!(is_change(true, true, 409, false));
        assert!(is_change(true, true, 503, false));
        assert!(!is_change(true, true, 403, false));
        assert!(!is_change(true, false, 401, false));
        assert!(!is_change(false, false, 404, false));
        assert!(!is_change(true, true, CLIENT_CLOSED, false));
        assert!(is_change(true, true, CLIENT_CLOSED, true));
    }
}
