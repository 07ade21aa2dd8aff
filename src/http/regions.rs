//! Regions: `GET /api/v2/regions` (configuration and replication status per
//! region), adding and removing regions and a sync (admins), and the
//! `RegionHint` every download route reads: `X-Depot-Region`, `?region=`,
//! and the client's address (behind trusted proxies, `X-Forwarded-For`'s).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{PackageViewer, Require, UserAdmin};
use super::envelope::{Body, Envelope, NoData};
use super::error::ApiResult;
use super::extract::{PathParam, QueryParams, with_body_limit};
use super::forwarded;
use super::openapi::Errors;
use crate::app::AppState;
use crate::domain::regions::select::Hint;
use crate::domain::regions::{NewRegion, RegionStatus, SyncReport};

/// The header a download names its region with, and its answer the region
/// that served it.
pub const REGION_HEADER: &str = "x-depot-region";

/// A region's configuration is small.
const MAX_REGION_REQUEST: usize = 16 << 10;

/// Longest region name read from a request; longer ones name no region.
const MAX_NAME: usize = 63;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(with_body_limit(routes!(list, add), MAX_REGION_REQUEST))
        .routes(routes!(remove))
        .routes(routes!(sync))
}

/// Where a download's client is: what it asked for, and its address.
pub struct RegionHint(pub Hint);

impl<S> FromRequestParts<S> for RegionHint
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let header = parts
            .headers
            .get(REGION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let query = parts.uri.query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "region")
                .map(|(_, v)| v.into_owned())
        });
        let explicit = header
            .or(query)
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty() && r.len() <= MAX_NAME);
        let client = forwarded::client_ip(
            forwarded::peer(&parts.extensions),
            &parts.headers,
            &state.settings.trusted_proxies,
        );
        Ok(Self(Hint { explicit, client }))
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RegionInfo {
    name: String,
    /// `s3://BUCKET[/PREFIX]` or `file://PATH`.
    storage_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    s3_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    s3_public_endpoint: Option<String>,
    /// Client networks served from this region.
    cidrs: Vec<String>,
    home: bool,
    /// Where the answering replica takes the store's keys from:
    /// `environment` (`DEPOT_REGION_<NAME>_…`), `database` (plaintext
    /// there), or `replica` (its own `AWS_*`).
    credentials: String,
    /// The answering replica's own store is this region's.
    local: bool,
    /// Blobs verified present.
    present: u64,
    /// Blobs waiting for a copy (including those being copied).
    pending: u64,
    copying: u64,
    /// Blobs whose last copy failed; retried with backoff, forever.
    failed: u64,
    present_bytes: u64,
    pending_bytes: u64,
    /// Seconds the oldest blob not yet present has waited.
    #[serde(skip_serializing_if = "Option::is_none")]
    oldest_pending_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_error_time: Option<String>,
}

impl From<RegionStatus> for RegionInfo {
    fn from(s: RegionStatus) -> Self {
        Self {
            cidrs: s
                .cidrs
                .split(',')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect(),
            name: s.name,
            storage_url: s.storage_url,
            s3_endpoint: s.s3_endpoint,
            s3_public_endpoint: s.s3_public_endpoint,
            home: s.home,
            credentials: s.credentials.to_string(),
            local: s.local,
            present: s.present,
            pending: s.pending + s.copying,
            copying: s.copying,
            failed: s.failed,
            present_bytes: s.present_bytes,
            pending_bytes: s.pending_bytes,
            oldest_pending_seconds: s.oldest_pending_seconds,
            last_error: s.last_error,
            last_error_time: s
                .last_error_at
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, false)),
        }
    }
}

/// The regions, each with its replication status: present, pending and
/// failed blobs, bytes, the oldest pending blob's wait, the last error.
#[utoipa::path(
    get,
    path = "/api/v2/regions",
    tag = "regions",
    responses((status = 200, description = "The regions", body = Body<Vec<RegionInfo>>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn list(
    _: Require<PackageViewer>,
    State(state): State<AppState>,
) -> ApiResult<Envelope<Vec<RegionInfo>>> {
    let status = state.regions.status().await?;
    Ok(Envelope::ok(status.into_iter().map(Into::into).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddRegion {
    name: String,
    /// `s3://BUCKET[/PREFIX]` or `file://PATH`.
    storage_url: String,
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    /// The endpoint presigned URLs name, as agents in the region reach it.
    s3_public_endpoint: Option<String>,
    /// The store's credentials; default: the replicas' own (`AWS_*`).
    /// Kept in the database, never shown.
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    /// Client networks served from this region (`10.20.0.0/16`).
    #[serde(default)]
    cidrs: Vec<String>,
    /// Make it the home region (the first region is home anyway).
    #[serde(default)]
    home: bool,
}

/// Add a region. Every stored package is queued for replication to it.
#[utoipa::path(
    post,
    path = "/api/v2/regions",
    tag = "regions",
    request_body = AddRegion,
    responses((status = 200, description = "The region", body = Body<RegionInfo>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn add(
    _: Require<UserAdmin>,
    State(state): State<AppState>,
    body: Result<Json<AddRegion>, JsonRejection>,
) -> ApiResult<Envelope<RegionInfo>> {
    let Json(body) = body?;
    let name = body.name.clone();
    state
        .regions
        .add(NewRegion {
            name: body.name,
            storage_url: body.storage_url,
            s3_endpoint: body.s3_endpoint,
            s3_region: body.s3_region,
            s3_public_endpoint: body.s3_public_endpoint,
            access_key_id: body.access_key_id,
            secret_access_key: body.secret_access_key,
            cidrs: body.cidrs.join(","),
            home: body.home,
        })
        .await?;
    tracing::info!(region = %name, "region added");
    let status = state.regions.status().await?;
    let added = status.into_iter().find(|s| s.name == name);
    Ok(Envelope(added.map(Into::into)))
}

/// Remove a region: depot stops serving from and replicating to it; the
/// objects in its store stay. The home region goes only when it is the last.
#[utoipa::path(
    delete,
    path = "/api/v2/regions/{name}",
    tag = "regions",
    params(("name" = String, Path)),
    responses((status = 200, description = "Removed", body = Body<NoData>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn remove(
    _: Require<UserAdmin>,
    State(state): State<AppState>,
    PathParam(name): PathParam<String>,
) -> ApiResult<Envelope<NoData>> {
    state.regions.remove(&name).await?;
    tracing::info!(region = %name, "region removed");
    Ok(Envelope::empty())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SyncQuery {
    /// `true`: read every present copy back and check its digest, not only its size.
    verify: Option<bool>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct SyncInfo {
    backfilled: u64,
    retried: u64,
    checked: u64,
    drifted: u64,
    unreachable: Vec<String>,
}

impl From<SyncReport> for SyncInfo {
    fn from(r: SyncReport) -> Self {
        Self {
            backfilled: r.backfilled,
            retried: r.retried,
            checked: r.checked,
            drifted: r.drifted,
            unreachable: r.unreachable,
        }
    }
}

/// Reconcile now: queue what a region lacks, retry failed copies at once,
/// and check every present copy against its store.
#[utoipa::path(
    post,
    path = "/api/v2/regions/sync",
    tag = "regions",
    params(SyncQuery),
    responses((status = 200, description = "What the sync found", body = Body<SyncInfo>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn sync(
    _: Require<UserAdmin>,
    State(state): State<AppState>,
    QueryParams(query): QueryParams<SyncQuery>,
) -> ApiResult<Envelope<SyncInfo>> {
    let report = state.regions.sync(query.verify.unwrap_or(false)).await?;
    Ok(Envelope::ok(report.into()))
}
