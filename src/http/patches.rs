//! StarlingX's patch API (sw-patch's controller, port 5487), mounted twice
//! as StarlingX mounts it: under `/v1/…` and `/patch/…`. `{ids}` is a
//! slash-joined list. Answers keep StarlingX's shapes: `{"pd": …}` for
//! `query`, `{info, warning, error}` strings for changes; a refusal by the
//! patch rules is `200` with `error` set (what sw-patch's client reads) and
//! depot's stable `code`. Viewers read, managers change, admins add releases.

use axum::extract::{DefaultBodyLimit, Request};
use axum::response::{IntoResponse, Json, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use super::body::idle_limited;
use super::envelope::total_count;
use super::error::{ApiError, Code};
use super::{multipart, packages};
use crate::app::AppState;
use crate::domain::patches::{PatchInfo, Reply, Show};
use crate::domain::window::Window;
use crate::error::Error;

mod hosts;
mod routes;

pub fn router() -> OpenApiRouter<AppState> {
    routes::router()
        .layer(DefaultBodyLimit::disable())
        .merge(hosts::router())
}

/// The answer of a change, as StarlingX gives it.
#[derive(Serialize, ToSchema, Default)]
pub(super) struct PatchResult {
    /// What was done, a line each.
    info: String,
    warning: String,
    /// Why (part of) the call was refused; empty when it was not.
    error: String,
    /// depot's error code when `error` is set (90040–90044).
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u32>,
}

impl From<Reply> for PatchResult {
    fn from(r: Reply) -> Self {
        Self {
            info: r.info,
            warning: r.warning,
            error: r.error,
            code: None,
        }
    }
}

/// A domain result as StarlingX answers it: a patch refusal is 200 with
/// `error`; anything else (database down, not permitted) the envelope.
pub(super) fn answer(result: crate::error::Result<Value>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(e) => refusal(e),
    }
}

fn refusal(e: Error) -> Response {
    let api = ApiError::from(e);
    match api.code {
        Code::PatchVerification
        | Code::PatchInvalid
        | Code::PatchCommitted
        | Code::PatchState
        | Code::PatchUnknown
        | Code::HostsInstalling => {
            tracing::info!(code = api.code as u32, message = %api.message, "patch call refused");
            let mut error = api.message;
            error.push('\n');
            Json(PatchResult {
                error,
                code: Some(api.code as u32),
                ..PatchResult::default()
            })
            .into_response()
        }
        _ => api.into_response(),
    }
}

pub(super) fn reply(result: crate::error::Result<Reply>) -> Response {
    answer(result.and_then(|r| to_value(PatchResult::from(r))))
}

fn to_value(v: impl Serialize) -> crate::error::Result<Value> {
    serde_json::to_value(v).map_err(Error::internal)
}

/// `{ids}`: slash-joined, each a patch id.
pub(super) fn ids(path: &str) -> Result<Vec<String>, ApiError> {
    let ids: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if ids.is_empty() || ids.len() > MAX_IDS {
        return Err(ApiError::bad_request(format!(
            "name 1 to {MAX_IDS} patches, slash-joined"
        )));
    }
    Ok(ids)
}

/// Patches one call may name.
const MAX_IDS: usize = 256;

/// A patch as `query` and `show` describe it (StarlingX's field names).
fn describe(p: &PatchInfo) -> Value {
    let m = &p.metadata;
    let mut v = Map::new();
    for (k, val) in [
        ("status", &m.status),
        ("unremovable", &m.unremovable),
        ("sw_version", &m.sw_version),
        ("summary", &m.summary),
        ("description", &m.description),
        ("install_instructions", &m.install_instructions),
        ("warnings", &m.warnings),
        ("apply_active_release_only", &m.apply_active_release_only),
        ("reboot_required", &m.reboot_required),
        ("repostate", &p.repostate),
        ("patchstate", &p.patchstate),
    ] {
        v.insert(k.into(), Value::String(val.clone()));
    }
    v.insert("requires".into(), json!(m.requires));
    for (personality, packages) in &m.personalities {
        v.insert(format!("personality-{personality}"), json!(packages));
    }
    Value::Object(v)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct QueryParamsIn {
    /// all (default), available, applied, committed
    show: Option<String>,
    /// Only the patches of this release.
    release: Option<String>,
    /// depot's: with `size`, one page (1-based) of the patches by id, and
    /// `X-Total-Count`. Without either, every patch (StarlingX's answer).
    #[param(minimum = 1)]
    page: Option<u64>,
    /// Patches per page (default 25 when `page` is given).
    #[param(minimum = 1, maximum = 500)]
    size: Option<u64>,
}

pub(super) async fn query(state: &AppState, q: QueryParamsIn) -> Response {
    let window = match Window::new(q.page, q.size) {
        Ok(window) => window,
        Err(e) => return ApiError::bad_request(e).into_response(),
    };
    let result = async {
        let show = Show::parse(q.show.as_deref().unwrap_or_default())?;
        let release = q.release.as_deref();
        let (patches, total) = match window {
            Some(window) => state.patches.query_page(show, release, window).await?,
            None => {
                let all = state.patches.query(show, release).await?;
                let total = all.len() as u64;
                (all, total)
            }
        };
        let pd: Map<String, Value> = patches
            .iter()
            .map(|p| (p.metadata.id.clone(), describe(p)))
            .collect();
        Ok((json!({ "pd": pd }), total))
    };
    match result.await {
        Ok((value, total)) => (total_count(total), Json(value)).into_response(),
        Err(e) => refusal(e),
    }
}

pub(super) async fn show(state: &AppState, ids: Vec<String>) -> Response {
    let result = async {
        let (found, unknown) = state.patches.show(&ids).await?;
        let metadata: Map<String, Value> = found
            .iter()
            .map(|p| (p.metadata.id.clone(), describe(p)))
            .collect();
        let contents: Map<String, Value> = found
            .iter()
            .map(|p| (p.metadata.id.clone(), json!(p.contents)))
            .collect();
        let error: String = unknown
            .iter()
            .map(|id| format!("{id} is unrecognized\n"))
            .collect();
        Ok(json!({ "metadata": metadata, "contents": contents, "error": error }))
    };
    answer(result.await)
}

pub(super) async fn commit(state: &AppState, ids: Vec<String>, dry_run: bool) -> Response {
    let result = async {
        let report = state.patches.commit(&ids, dry_run).await?;
        let mut v = to_value(PatchResult::from(report.reply))?;
        v["patches"] = json!(report.patches);
        v["sz"] = json!(report.freed);
        Ok(v)
    };
    answer(result.await)
}

pub(super) async fn dependencies(state: &AppState, ids: Vec<String>, recursive: bool) -> Response {
    let result = async {
        let patches = state.patches.dependencies(&ids, recursive).await?;
        Ok(json!({ "patches": patches, "error": "" }))
    };
    answer(result.await)
}

pub(super) async fn is_in(state: &AppState, ids: Vec<String>, states: &[&str]) -> Response {
    answer(state.patches.is_in(&ids, states).await.map(Value::Bool))
}

pub(super) async fn upload(state: &AppState, user: &str, request: Request) -> Response {
    match receive(state, user, request).await {
        Ok(reply) => Json(PatchResult::from(reply)).into_response(),
        Err(ReceiveError::Api(e)) => e.into_response(),
        Err(ReceiveError::Domain(e)) => refusal(e),
    }
}

/// Why a patch upload failed: before the domain (the envelope), or there.
pub(super) enum ReceiveError {
    Api(ApiError),
    Domain(Error),
}

impl From<ApiError> for ReceiveError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

/// Streams the multipart `file` field (`<ID>.patch`) into the patch reader,
/// under the same slots, size limit and idle timeout as package uploads.
async fn receive(state: &AppState, user: &str, request: Request) -> Result<Reply, ReceiveError> {
    let limit = state.settings.max_upload_size;
    let idle = state.settings.upload_idle_timeout;
    let announced = packages::announced_length(request.headers());
    let slot = state
        .packages
        .admit(user, announced, limit)
        .map_err(|e| ReceiveError::Api(e.into()))?;
    let (multipart, preamble) = multipart::bounded(request).await;
    let mut multipart = multipart.map_err(ApiError::from)?;
    let result = async {
        while let Some(field) = tokio::time::timeout(idle, multipart.next_field())
            .await
            .map_err(|_| {
                ApiError::from(Error::UploadStalled {
                    secs: idle.as_secs(),
                })
            })?
            .map_err(packages::malformed)?
        {
            if field.name() != Some("file") {
                continue;
            }
            preamble.reached_file();
            let name = field.file_name().map(str::to_string);
            let body = idle_limited(field, idle);
            return state
                .patches
                .upload(slot, body, name, limit)
                .await
                .map_err(ReceiveError::Domain);
        }
        Err(ApiError::bad_request("the multipart body has no `file` field").into())
    }
    .await;
    if result.is_err() {
        packages::linger(&mut multipart).await;
    }
    result
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ReleaseParams {
    /// The base repository: a distribution tag of depot's RPMs (`el7`).
    base: Option<String>,
}

pub(super) async fn init_release(state: &AppState, name: String, p: ReleaseParams) -> Response {
    let result = async {
        let base = p
            .base
            .filter(|b| !b.is_empty())
            .ok_or_else(|| Error::invalid("name the release's base repository: ?base=el7"))?;
        let release = state.patches.add_release(&name, &base).await?;
        let r = Reply {
            info: format!(
                "Release {} added, base repository {}\n",
                release.name, release.base_os
            ),
            ..Reply::default()
        };
        to_value(PatchResult::from(r))
    };
    answer(result.await)
}

pub(super) async fn del_release(state: &AppState, name: String) -> Response {
    let result = async {
        state.patches.delete_release(&name).await?;
        let r = Reply {
            info: format!("Release {name} deleted\n"),
            ..Reply::default()
        };
        to_value(PatchResult::from(r))
    };
    answer(result.await)
}

pub(super) async fn releases(state: &AppState) -> Response {
    let result = async {
        let rows = state.patches.releases().await?;
        let list: Vec<Value> = rows
            .into_iter()
            .map(|r| json!({ "release": r.name, "base": r.base_os }))
            .collect();
        Ok(json!({ "releases": list }))
    };
    answer(result.await)
}
