//! `GET`/`HEAD /api/v2/files/sys-package/{fileName}`: the `downloadUrl`.
//! depot streams the object itself, with ranges and conditional requests; a
//! request that asks (`?redirect=1`) may get a 302 to a presigned URL instead.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{PackageViewer, Require};
use super::error::ApiError;
use super::error::ApiResult;
use super::extract::{PathParam, QueryParams};
use super::openapi::Errors;
use super::regions::{REGION_HEADER, RegionHint};
use crate::app::AppState;
use crate::domain::downloads::{
    Answer, Download, DownloadRequest, Opened, Served, parse_redirect_param,
};
use crate::metrics::METRICS;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(download))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DownloadQuery {
    /// `1` asks for a 302 to a presigned URL of the object store instead of
    /// the bytes, for clients that follow redirects without sending their
    /// credentials on (`curl -L`, dnf, python-requests). Honoured with S3 and
    /// `--download-redirect on-request` (its default), never for wget or
    /// Ansible; otherwise the bytes are served.
    redirect: Option<String>,
    /// The region to download from (as the `X-Depot-Region` header): served
    /// from there once the package is replicated to it, from a region that
    /// has it until then. Default: the region whose client networks hold
    /// the client's address, else the replica's `--region`, else home.
    #[allow(dead_code)]
    region: Option<String>,
}

/// Download a package by file name: the `downloadUrl` of SoftwarePackageMeta.
/// The answer is the bytes, with ranges and conditional requests; with S3, a
/// request that asks (`?redirect=1`) gets a 302 to a presigned URL instead.
#[utoipa::path(
    method(get, head),
    path = "/api/v2/files/sys-package/{file_name}",
    tag = "packages",
    params(
        ("file_name" = String, Path, example = "oceanbase-ce-4.2.1.1-101000012023111012.el7.x86_64.rpm", description = "The package's file name"),
        ("Range" = Option<String>, Header, description = "One byte range (`bytes=0-99`), proxy mode"),
        ("If-None-Match" = Option<String>, Header, description = "The SHA-1 ETag held, proxy mode"),
        ("X-Depot-Region" = Option<String>, Header, description = "The region to download from (regions only)"),
        DownloadQuery,
    ),
    responses(
        (status = 200, description = "The package", content(
            (String = "application/x-rpm"),
            (String = "application/x-sh"),
            (String = "text/x-python"),
            (String = "application/octet-stream"),
        ), headers(
            ("ETag" = String, description = "The SHA-1, quoted"),
            ("Content-Disposition" = String, description = "attachment; filename=…"),
            ("X-Depot-Region" = String, description = "The region whose store served (regions only)"),
        )),
        (status = 206, description = "The requested range"),
        (status = 302, description = "Where to get it, when asked (`redirect=1`): a presigned URL of the store, valid for --presign-ttl",
            headers(("Location" = String, description = "The presigned URL"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 416, description = "The range lies outside the package"),
        Errors,
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn download(
    _: Require<PackageViewer>,
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    region: RegionHint,
    PathParam(file_name): PathParam<String>,
    QueryParams(query): QueryParams<DownloadQuery>,
) -> ApiResult<Response> {
    let wants_redirect = match query.redirect.as_deref() {
        None => false,
        Some(value) => parse_redirect_param(value).map_err(ApiError::bad_request)?,
    };
    answer(
        &state,
        &method,
        &headers,
        region,
        &file_name,
        wants_redirect,
    )
    .await
}

/// A package download, by the download rules: also what a public yum
/// repository's `Packages/` answers (`http/repos.rs`).
pub(super) async fn answer(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    region: RegionHint,
    file_name: &str,
    wants_redirect: bool,
) -> ApiResult<Response> {
    let values = |name| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok().map(String::from))
    };
    let request = DownloadRequest {
        head: *method == Method::HEAD,
        range: values(header::RANGE).next(),
        if_none_match: values(header::IF_NONE_MATCH).collect(),
        wants_redirect,
        user_agent: values(header::USER_AGENT).next(),
        region: region.0,
    };
    let Opened { download, region } = state.downloads.open(file_name, &request).await?;
    let mut response = match download {
        Download::Redirect(url) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, url.to_string()),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
        )
            .into_response(),
        Download::Served(served) => served_response(served),
    };
    if let Some(value) = region.and_then(|r| HeaderValue::from_str(&r).ok()) {
        response.headers_mut().insert(REGION_HEADER, value);
    }
    Ok(response)
}

fn served_response(served: Served) -> Response {
    let mut headers = HeaderMap::new();
    let mut put = |name, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put(header::ETAG, &served.etag);
    put(header::ACCEPT_RANGES, "bytes");
    put(header::CONTENT_DISPOSITION, &served.content_disposition);
    put(header::CONTENT_TYPE, served.content_type);
    let size = served.size;
    let (status, body) = match served.answer {
        Answer::NotModified => return (StatusCode::NOT_MODIFIED, headers).into_response(),
        Answer::Unsatisfiable => {
            put(header::CONTENT_RANGE, &format!("bytes */{size}"));
            return (StatusCode::RANGE_NOT_SATISFIABLE, headers).into_response();
        }
        Answer::Whole(body) => {
            put(header::CONTENT_LENGTH, &size.to_string());
            (StatusCode::OK, body)
        }
        Answer::Partial(range, body) => {
            put(
                header::CONTENT_LENGTH,
                &(range.end - range.start).to_string(),
            );
            put(
                header::CONTENT_RANGE,
                &format!("bytes {}-{}/{size}", range.start, range.end - 1),
            );
            (StatusCode::PARTIAL_CONTENT, body)
        }
    };
    match body {
        None => (status, headers).into_response(),
        // Counted as they go out: a download cut short counts what was sent.
        Some(stream) => {
            let counted = stream.inspect_ok(|chunk| {
                METRICS.downloaded_bytes.inc_by(chunk.len() as u64);
            });
            (status, headers, Body::from_stream(counted)).into_response()
        }
    }
}
