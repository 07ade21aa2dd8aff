//! Hosts: the agents' report (`POST …/host_report`, depot's own call: JSON
//! in, the host entry and whether to install out), and StarlingX's
//! `query_hosts`, `host_install_async/{host}`, `drop_host/{host}`. Agents
//! report with a manager's token (a report moves patch states and holds
//! apply and remove back while it says `installing`); viewers read.

use std::net::IpAddr;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::routes::twice;
use super::{PatchResult, answer, reply};
use crate::app::AppState;
use crate::domain::patches::currency::label;
use crate::domain::patches::metadata::Nevra;
use crate::domain::patches::{HostReport, HostStatus, Reported};
use crate::domain::window::Window;
use crate::http::audit::Unremarkable;
use crate::http::auth::{PackageManager, PackageViewer, Require};
use crate::http::envelope::total_count;
use crate::http::error::ApiError;
use crate::http::extract::{PathParam, QueryParams, with_body_limit};
use crate::http::forwarded;
use crate::http::openapi::Errors;

/// A report's body: 16,384 packages of ~100 bytes each, with room.
pub const MAX_REPORT: usize = 4 << 20;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(with_body_limit(routes!(host_report_v1), MAX_REPORT))
        .routes(with_body_limit(routes!(host_report_patch), MAX_REPORT))
        .routes(routes!(query_hosts_v1))
        .routes(routes!(query_hosts_patch))
        .routes(routes!(host_install_v1))
        .routes(routes!(host_install_patch))
        .routes(routes!(host_install_force_v1))
        .routes(routes!(host_install_force_patch))
        .routes(routes!(host_install_sync_v1))
        .routes(routes!(host_install_sync_patch))
        .routes(routes!(drop_host_v1))
        .routes(routes!(drop_host_patch))
}

/// One installed package, as `rpm -q` names its parts.
#[derive(Deserialize, ToSchema)]
pub(super) struct InstalledPackage {
    name: String,
    /// Empty or absent: none.
    #[serde(default)]
    epoch: String,
    version: String,
    release: String,
    arch: String,
}

/// What an agent reports.
#[derive(Deserialize, ToSchema)]
pub(super) struct HostReportBody {
    hostname: String,
    /// The host's address; the client's when absent.
    #[serde(default)]
    ip: String,
    /// `controller`, `worker`, `storage`, …
    personality: String,
    #[serde(default)]
    subfunctions: Vec<String>,
    /// The host's release (a release depot knows).
    sw_version: String,
    /// `idle`, `installing`, `install-failed`.
    state: String,
    /// Everything installed (at most 16,384).
    installed: Vec<InstalledPackage>,
    /// This report ends an install (done or failed): the request is served.
    #[serde(default)]
    finished: bool,
}

/// The client's address (behind trusted proxies, theirs).
pub(super) struct ClientIp(Option<IpAddr>);

impl<S> FromRequestParts<S> for ClientIp
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        Ok(Self(forwarded::client_ip(
            forwarded::peer(&parts.extensions),
            &parts.headers,
            &state.settings.trusted_proxies,
        )))
    }
}

/// A host as StarlingX's `query_hosts` lists it (and depot's
/// `install_requested`).
fn entry(h: &HostStatus) -> Value {
    let c = &h.currency;
    let installed: Map<String, Value> = c
        .installed
        .iter()
        .map(|n| (n.name.clone(), Value::String(n.evr())))
        .collect();
    json!({
        "ip": h.ip,
        "hostname": h.hostname,
        "patch_current": c.current(),
        "secs_since_ack": h.secs_since_ack,
        "patch_failed": h.state == "install-failed",
        // A report is always detailed: what depot knows is never stale.
        "stale_details": false,
        "installed": installed,
        "to_remove": c.to_remove.iter().map(label).collect::<Vec<_>>(),
        "missing_pkgs": c.missing.iter().map(label).collect::<Vec<_>>(),
        "duplicated_pkgs": c.duplicated,
        "nodetype": h.personality,
        "subfunctions": h.subfunctions,
        "sw_version": h.sw_version,
        "state": h.state,
        "requires_reboot": h.requires_reboot(),
        "allow_insvc_patching": h.allow_insvc_patching,
        "interim_state": h.interim,
        "install_requested": h.install_requested,
    })
}

async fn host_report(
    state: &AppState,
    ip: ClientIp,
    body: Result<Json<HostReportBody>, JsonRejection>,
) -> Response {
    let body = match body {
        Ok(Json(body)) => body,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let report = HostReport {
        hostname: body.hostname,
        ip: if body.ip.is_empty() {
            ip.0.map(|a| a.to_string()).unwrap_or_default()
        } else {
            body.ip
        },
        personality: body.personality,
        subfunctions: body.subfunctions,
        sw_version: body.sw_version,
        state: body.state,
        installed: body
            .installed
            .into_iter()
            .map(|p| Nevra {
                name: p.name,
                epoch: p.epoch,
                version: p.version,
                release: p.release,
                arch: p.arch,
            })
            .collect(),
        finished: body.finished,
    };
    match state.patches.report(report).await {
        Ok(Reported { host: h, changed }) => {
            // An agent installing has the request already.
            let install = h.install_requested && h.state != "installing";
            let mut response =
                Json(json!({ "install": install, "host": entry(&h) })).into_response();
            // A heartbeat is not a change for the audit log; a host's
            // first report, a new state or new packages are.
            if !changed {
                response.extensions_mut().insert(Unremarkable);
            }
            response
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

twice! {
    /// An agent's report: the host, its state and what it has installed.
    /// The answer is its `query_hosts` entry, and `install`: whether to
    /// install (`missing_pkgs`) and remove (`to_remove`) now.
    post [host_report_v1 = "/v1/host_report", host_report_patch = "/patch/host_report"]
    (request_body = HostReportBody, responses((status = 200, description = "`install` and `host`", body = Object), Errors),)
    (_: Require<PackageManager>, State(state): State<AppState>, ip: ClientIp, body: Result<Json<HostReportBody>, JsonRejection>) {
        host_report(&state, ip, body).await
    }
}

twice! {
    /// The hosts, each against its release's patches (`{"data": [...]}`).
    get [query_hosts_v1 = "/v1/query_hosts", query_hosts_patch = "/patch/query_hosts"]
    (params(Paging), responses((status = 200, description = "`data`: one entry per host", body = Object,
        headers(("x-total-count" = u64, description = "How many hosts there are"))), Errors),)
    (_: Require<PackageViewer>, State(state): State<AppState>, QueryParams(q): QueryParams<Paging>) {
        query_hosts(&state, q).await
    }
}

/// depot's paging of `query_hosts`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct Paging {
    /// With `size`: one page (1-based) of the hosts by name, and
    /// `X-Total-Count`. Without either, every host (StarlingX's answer).
    #[param(minimum = 1)]
    page: Option<u64>,
    /// Hosts per page (default 25 when `page` is given).
    #[param(minimum = 1, maximum = 500)]
    size: Option<u64>,
}

async fn query_hosts(state: &AppState, q: Paging) -> Response {
    let window = match Window::new(q.page, q.size) {
        Ok(window) => window,
        Err(e) => return ApiError::bad_request(e).into_response(),
    };
    let hosts = match window {
        Some(window) => state.patches.hosts_page(window).await,
        None => state.patches.hosts().await.map(|all| {
            let total = all.len() as u64;
            (all, total)
        }),
    };
    match hosts {
        Ok((hosts, total)) => (
            total_count(total),
            answer(Ok(
                json!({ "data": hosts.iter().map(entry).collect::<Vec<_>>() }),
            )),
        )
            .into_response(),
        Err(e) => answer(Err(e)),
    }
}

twice! {
    /// Ask a host's agent to install (and remove) what its release's patches want.
    post [host_install_v1 = "/v1/host_install_async/{host}", host_install_patch = "/patch/host_install_async/{host}"]
    (params(("host" = String, Path, description = "The host name")), responses((status = 200, description = "info, warning, error", body = PatchResult), Errors),)
    (_: Require<PackageManager>, State(state): State<AppState>, PathParam(host): PathParam<String>) {
        reply(state.patches.host_install(&host).await)
    }
}

twice! {
    /// `sw-patch host-install-async --force`: the same request. StarlingX's
    /// agent refuses an unforced install on an unlocked host; depot knows no
    /// locks, and its agent installs when asked either way.
    post [host_install_force_v1 = "/v1/host_install_async/{host}/force", host_install_force_patch = "/patch/host_install_async/{host}/force"]
    (params(("host" = String, Path, description = "The host name")), responses((status = 200, description = "info, warning, error", body = PatchResult), Errors),)
    (_: Require<PackageManager>, State(state): State<AppState>, PathParam(host): PathParam<String>) {
        reply(state.patches.host_install(&host).await)
    }
}

twice! {
    /// The synchronous install StarlingX retired: its answer, `error`
    /// "Deprecated: Use host_install_async".
    post [host_install_sync_v1 = "/v1/host_install/{host}", host_install_sync_patch = "/patch/host_install/{host}"]
    (params(("host" = String, Path, description = "The host name")), responses((status = 200, description = "`error`: use host_install_async", body = PatchResult), Errors),)
    (_: Require<PackageManager>, PathParam(_host): PathParam<String>) {
        Json(PatchResult {
            info: String::new(),
            warning: String::new(),
            error: "Deprecated: Use host_install_async".into(),
            code: None,
        })
        .into_response()
    }
}

twice! {
    /// Forget a host (its agent's next report brings it back).
    post [drop_host_v1 = "/v1/drop_host/{host}", drop_host_patch = "/patch/drop_host/{host}"]
    (params(("host" = String, Path, description = "The host name")), responses((status = 200, description = "info, warning, error", body = PatchResult), Errors),)
    (_: Require<PackageManager>, State(state): State<AppState>, PathParam(host): PathParam<String>) {
        reply(state.patches.drop_host(&host).await)
    }
}
