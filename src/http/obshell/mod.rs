//! obshell's side of depot: the handshake its SDKs make before anything else
//! (`/api/v1/info`, `/api/v1/secret`), its auth headers (`auth`), and a clear
//! refusal of the obshell operations depot does not have. The upgrade-package
//! calls themselves are in `http/upgrades.rs`.

pub mod auth;

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{Method, Uri};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::envelope::{Body, Envelope};
use super::error::{ApiError, ApiResult};
use super::extract::BaseUrl;
use super::openapi::Errors;
use crate::app::AppState;
use crate::error::Error;

pub use auth::middleware;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(info))
        .routes(routes!(secret))
}

/// The obshell version whose upgrade-package API depot answers as (the SDKs
/// compare it: 4.2.3 and later speak v2 auth).
const OBSHELL_VERSION: &str = "4.3.0.0";

/// The agent status obshell's `/api/v1/info` answers, as far as depot has one.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AgentInfo {
    /// Not `SINGLE`: a SINGLE agent needs no password, and the SDKs would send none.
    identity: &'static str,
    /// The obshell version depot answers as.
    version: &'static str,
    /// The first is what the SDKs choose: v2 (`X-OCS-Header`); v1 when told.
    supported_auth: [&'static str; 2],
    /// No agent password: the SDKs send `X-OCS-Header`, not `X-OCS-Agent-Header`.
    security: bool,
    is_obproxy_agent: bool,
    ip: String,
    port: u16,
    pid: u32,
    /// Running.
    state: u8,
    /// When this server started, Unix nanoseconds.
    start_at: i64,
    home_path: &'static str,
    ob_version: &'static str,
    architecture: &'static str,
    zone: &'static str,
    /// What actually answers: depot, and its version.
    depot_version: &'static str,
}

/// When this process started serving (the first info asked).
fn started_at() -> i64 {
    static STARTED: OnceLock<i64> = OnceLock::new();
    *STARTED.get_or_init(|| chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default())
}

/// The host and port clients reach depot under.
fn ip_and_port(base: &BaseUrl) -> (String, u16) {
    url::Url::parse(base.as_str())
        .ok()
        .map(|u| {
            (
                u.host_str()
                    .unwrap_or_default()
                    .trim_matches(['[', ']'])
                    .to_string(),
                u.port_or_known_default().unwrap_or_default(),
            )
        })
        .unwrap_or_default()
}

/// obshell's handshake (no authentication): what the SDKs read to choose
/// their auth. depot answers as an obshell agent of a cluster that speaks
/// v2 and v1 auth.
#[utoipa::path(
    get,
    path = "/api/v1/info",
    tag = "obshell",
    responses((status = 200, description = "The agent status obshell's SDKs read", body = Body<AgentInfo>)),
)]
async fn info(base: BaseUrl) -> Envelope<AgentInfo> {
    let (ip, port) = ip_and_port(&base);
    Envelope::ok(AgentInfo {
        identity: "CLUSTER AGENT",
        version: OBSHELL_VERSION,
        supported_auth: ["v2", "v1"],
        security: false,
        is_obproxy_agent: false,
        ip,
        port,
        pid: std::process::id(),
        state: 2,
        start_at: started_at(),
        home_path: "",
        ob_version: "",
        architecture: std::env::consts::ARCH,
        zone: "",
        depot_version: env!("CARGO_PKG_VERSION"),
    })
}

#[derive(Serialize, ToSchema)]
struct Secret {
    ip: String,
    port: u16,
    /// Base64 of the PKCS#1 DER RSA public key obshell's auth headers are
    /// encrypted to.
    public_key: String,
}

/// The RSA public key for obshell's auth headers (no authentication); the
/// same on every replica (it is kept in the database).
#[utoipa::path(
    get,
    path = "/api/v1/secret",
    tag = "obshell",
    responses((status = 200, description = "The public key", body = Body<Secret>), Errors),
)]
async fn secret(State(state): State<AppState>, base: BaseUrl) -> ApiResult<Envelope<Secret>> {
    let (ip, port) = ip_and_port(&base);
    Ok(Envelope::ok(Secret {
        ip,
        port,
        public_key: state.obshell.public_key().await?,
    }))
}

/// Whether an unknown path is one of obshell's (`/api/v1/…`).
pub fn is_obshell_path(uri: &Uri) -> bool {
    uri.path().starts_with("/api/v1/")
}

/// The answer to an obshell operation depot does not have (an operation on
/// a cluster), instead of a 404 that reads as "no server here".
pub fn refuse(method: &Method, uri: &Uri) -> ApiError {
    let path: String = uri.path().chars().take(128).collect();
    Error::NotObshell(format!(
        "depot is a package repository, not an obshell agent: of obshell's API it serves only \
         the upgrade packages (POST /api/v1/upgrade/package, GET /api/v1/upgrade/package/info, \
         DELETE /api/v1/upgrade/package/{{id}}) and the handshake (/api/v1/info, /api/v1/secret); \
         {method} {path} is an operation on a cluster: send it to the cluster's obshell"
    ))
    .into()
}
