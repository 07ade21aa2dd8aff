//! obshell's upgrade-package API: `/api/v1/upgrade/package`.

use axum::extract::rejection::StringRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, Request, State};
use chrono::SecondsFormat;
use entity::{package, upgrade_package};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{PackageManager, PackageViewer, Require};
use super::envelope::{Body, Envelope, NoData};
use super::error::{ApiError, ApiResult};
use super::extract::{PathParam, QueryParams, with_body_limit};
use super::openapi::Errors;
use super::packages::{UploadForm, receive};
use crate::app::AppState;
use crate::domain::packages::{Origin, Submission};
use crate::domain::query::split_values;
use crate::domain::upgrade::chunk_count;
use crate::domain::upgrade_plan::{RoutePlan, RouteRequest};
use crate::error::Error;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(list))
        .routes(routes!(remove))
        .routes(with_body_limit(
            routes!(route_stored, route_posted),
            MAX_DEP_YAML,
        ))
        // Upload bodies are limited while they stream; the route's YAML above keeps its own limit.
        .layer(DefaultBodyLimit::disable())
}

/// The largest dependency YAML `POST /api/v1/upgrade/route` reads (the
/// real ones are a few KiB).
const MAX_DEP_YAML: usize = 1 << 20;

/// UpgradePkgInfo, spelled on the wire as the seed's sample response spells it
/// (obshell's Go clients match keys regardless of case).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UpgradePkgInfo {
    pkg_id: i64,
    name: String,
    version: String,
    release_distribution: String,
    distribution: String,
    release: String,
    architecture: String,
    size: i64,
    payload_size: i64,
    chunk_count: u64,
    md5: String,
    upgrade_dep_yaml: String,
    gmt_modify: String,
}

impl UpgradePkgInfo {
    fn new(u: upgrade_package::Model, p: package::Model, chunk_size: u64) -> Self {
        Self {
            pkg_id: p.id,
            name: p.name,
            version: p.version,
            distribution: p.operating_system,
            release: p.build_number,
            release_distribution: p.release,
            architecture: p.architecture,
            size: u.installed_size,
            chunk_count: chunk_count(u.payload_size as u64, chunk_size),
            payload_size: u.payload_size,
            md5: u.md5,
            upgrade_dep_yaml: u.upgrade_dep_yaml,
            gmt_modify: u.gmt_modify.to_rfc3339_opts(SecondsFormat::Millis, false),
        }
    }
}

/// UpgradePkgInfo as current obshell lists it: its `bo.UpgradePkgInfo` JSON
/// tags are snake_case (the Python SDK reads `pkg_id`, `md5`, …), while its
/// upload answer keeps the Go field names (the seed's sample).
#[derive(Serialize, ToSchema)]
pub struct ListedUpgradePkg {
    pkg_id: i64,
    name: String,
    version: String,
    release_distribution: String,
    distribution: String,
    release: String,
    architecture: String,
    size: i64,
    payload_size: i64,
    chunk_count: u64,
    md5: String,
    upgrade_dep_yaml: String,
    gmt_modify: String,
}

impl From<UpgradePkgInfo> for ListedUpgradePkg {
    fn from(p: UpgradePkgInfo) -> Self {
        Self {
            pkg_id: p.pkg_id,
            name: p.name,
            version: p.version,
            release_distribution: p.release_distribution,
            distribution: p.distribution,
            release: p.release,
            architecture: p.architecture,
            size: p.size,
            payload_size: p.payload_size,
            chunk_count: p.chunk_count,
            md5: p.md5,
            upgrade_dep_yaml: p.upgrade_dep_yaml,
            gmt_modify: p.gmt_modify,
        }
    }
}

/// Upload an upgrade package (obshell's call): an RPM whose payload may carry
/// the upgrade dependency YAML. The same content again answers the stored one.
#[utoipa::path(
    post,
    path = "/api/v1/upgrade/package",
    tag = "upgrades",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 200, description = "UpgradePkgInfo", body = Body<UpgradePkgInfo>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn upload(
    Require(user, _): Require<PackageManager>,
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<Envelope<UpgradePkgInfo>> {
    let upload = Submission {
        origin: Origin::UpgradeApi,
        ..Submission::default()
    };
    let ingested = receive(&state, &user, request, upload).await?;
    let details = ingested
        .upgrade
        .ok_or_else(|| Error::internal("an upgrade upload recorded no upgrade details"))?;
    let chunk_size = state.settings.upgrade_chunk_size;
    Ok(Envelope::ok(UpgradePkgInfo::new(
        details,
        ingested.package,
        chunk_size,
    )))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UpgradeListQuery {
    /// depot's: only the upgrade package of this package id (an empty list
    /// when it is not one); the console's details read just theirs.
    #[serde(rename = "pkgId")]
    #[param(rename = "pkgId")]
    pkg_id: Option<i64>,
}

/// Every upgrade package, in current obshell's snake_case keys.
#[utoipa::path(
    get,
    path = "/api/v1/upgrade/package/info",
    tag = "upgrades",
    params(UpgradeListQuery),
    responses((status = 200, description = "UpgradePkgInfo of each", body = Body<Vec<ListedUpgradePkg>>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn list(
    _: Require<PackageViewer>,
    State(state): State<AppState>,
    QueryParams(query): QueryParams<UpgradeListQuery>,
) -> ApiResult<Envelope<Vec<ListedUpgradePkg>>> {
    let chunk_size = state.settings.upgrade_chunk_size;
    let rows = match query.pkg_id {
        Some(id) => state.packages.upgrade(id).await?.into_iter().collect(),
        None => state.packages.upgrades().await?,
    };
    Ok(Envelope::ok(
        rows.into_iter()
            .map(|(u, p)| UpgradePkgInfo::new(u, p, chunk_size).into())
            .collect(),
    ))
}

/// Delete an upgrade package (by its pkgId).
#[utoipa::path(
    delete,
    path = "/api/v1/upgrade/package/{id}",
    tag = "upgrades",
    params(("id" = i64, Path, example = 1, description = "The package's pkgId")),
    responses((status = 200, description = "Deleted", body = Body<NoData>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn remove(
    _: Require<PackageManager>,
    State(state): State<AppState>,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Envelope<NoData>> {
    state.packages.delete_upgrade(id).await?;
    tracing::info!(id, "upgrade package deleted");
    Ok(Envelope::empty())
}

/// A planned route and what depot has of the packages it needs.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteAnswer {
    from: String,
    to: String,
    /// Every version on the way, start and target included.
    hops: Vec<String>,
    /// The start, the versions whose binaries must be installed on the way, the target.
    binary_route: Vec<String>,
    /// The stored package whose dependency YAML was planned on.
    yaml_source: Option<YamlSource>,
    packages: Vec<NeededPackage>,
    /// File names (or patterns, `*` for an unknown build) to upload.
    missing: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct YamlSource {
    pkg_id: i64,
    file_name: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct NeededPackage {
    version: String,
    architecture: String,
    distribution: String,
    available: bool,
    pkg_id: Option<i64>,
    file_name: String,
}

impl From<RoutePlan> for RouteAnswer {
    fn from(plan: RoutePlan) -> Self {
        let packages: Vec<NeededPackage> = plan
            .needs
            .into_iter()
            .map(|n| NeededPackage {
                version: n.version.to_string(),
                architecture: n.architecture,
                distribution: n.distribution,
                available: n.found.is_some(),
                pkg_id: n.found.as_ref().map(|p| p.id),
                file_name: n
                    .found
                    .map(|p| p.file_name)
                    .or(n.missing_file_name)
                    .unwrap_or_default(),
            })
            .collect();
        Self {
            from: plan.route.from.to_string(),
            to: plan.route.to.to_string(),
            hops: plan.route.hops.iter().map(ToString::to_string).collect(),
            binary_route: plan
                .route
                .binary_route
                .iter()
                .map(ToString::to_string)
                .collect(),
            yaml_source: plan.source.map(|p| YamlSource {
                pkg_id: p.id,
                file_name: p.file_name,
            }),
            missing: packages
                .iter()
                .filter(|p| !p.available)
                .map(|p| p.file_name.clone())
                .collect(),
            packages,
        }
    }
}

/// The query of a route request, for the description (the handlers parse the
/// raw query, for repeated and comma-separated values).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct RouteParams {
    /// The installed version (`4.2.1.0`, or with its build: `4.2.1.0-100000102023092807`).
    #[param(example = "4.2.1.0")]
    from: String,
    /// The version to reach.
    #[param(example = "4.2.1.1")]
    to: String,
    /// The package name (default: the YAML source's, else `oceanbase-ce`).
    name: Option<String>,
    /// Architectures whose packages to look for (repeated or comma-separated).
    #[param(example = json!(["x86_64"]))]
    architecture: Option<Vec<String>>,
    /// Distributions whose packages to look for (repeated or comma-separated).
    #[param(example = json!(["el7"]))]
    distribution: Option<Vec<String>>,
}

/// `from`, `to`, `name`, and repeated or comma-separated `architecture` and `distribution`.
fn route_request(query: Option<&str>, yaml: Option<String>) -> Result<RouteRequest, ApiError> {
    let mut req = RouteRequest {
        yaml,
        ..RouteRequest::default()
    };
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let values = || split_values(&value);
        match key.as_ref() {
            "from" => req.from = value.trim().to_string(),
            "to" => req.to = value.trim().to_string(),
            "name" => req.name = Some(value.trim().to_string()).filter(|n| !n.is_empty()),
            "architecture" => req.architectures.extend(values()),
            "distribution" => req.distributions.extend(values()),
            _ => {}
        }
    }
    if req.from.is_empty() || req.to.is_empty() {
        return Err(ApiError::bad_request(
            "give the versions to upgrade between: ?from=A.B.C.D&to=A.B.C.D",
        ));
    }
    Ok(req)
}

/// Plan an upgrade route (the shortest path in the dependency graph) with the
/// dependency YAML of the newest stored package of the target version, and
/// say which packages on it are stored and which are missing.
#[utoipa::path(
    get,
    path = "/api/v1/upgrade/route",
    tag = "upgrades",
    params(RouteParams),
    responses((status = 200, description = "The route", body = Body<RouteAnswer>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn route_stored(
    _: Require<PackageViewer>,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> ApiResult<Envelope<RouteAnswer>> {
    let req = route_request(query.as_deref(), None)?;
    let plan = state.packages.plan_upgrade(req).await?;
    Ok(Envelope::ok(plan.into()))
}

/// Plan an upgrade route with the dependency YAML given in the body.
#[utoipa::path(
    post,
    path = "/api/v1/upgrade/route",
    tag = "upgrades",
    params(RouteParams),
    request_body(content = String, content_type = "application/yaml", description = "An upgrade dependency YAML (oceanbase_upgrade_dep.yml)"),
    responses((status = 200, description = "The route", body = Body<RouteAnswer>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn route_posted(
    _: Require<PackageViewer>,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    yaml: Result<String, StringRejection>,
) -> ApiResult<Envelope<RouteAnswer>> {
    let yaml = yaml?;
    let req = route_request(query.as_deref(), Some(yaml))?;
    let plan = state.packages.plan_upgrade(req).await?;
    Ok(Envelope::ok(plan.into()))
}
