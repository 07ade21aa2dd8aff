//! `/api/v2/uploads/`: resumable uploads over the tus 1.0.0 protocol (core,
//! creation, creation-with-upload, termination, expiration, checksum), plus
//! `GET` of an upload for the package it became. The handlers are here; the
//! protocol's headers are read and written in `tus`.

mod tus;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use super::auth::{PackageManager, Require};
use super::body::idle_limited;
use super::envelope::{self, Envelope};
use super::error::{ApiError, ApiResult, Code};
use super::extract::{BaseUrl, PathParam};
use super::openapi::Errors;
use super::packages::SoftwarePackageMeta;
use crate::app::AppState;
use crate::domain::audit::Receipt;
use crate::domain::uploads::{Appended, ChecksumAlgorithm};
use crate::domain::users::User;
use crate::error::Error;
pub use tus::PACKAGE_ID;
use tus::{
    OFFSET_OCTET_STREAM, TUS_EXTENSIONS, TUS_VERSION, check_version, content_type_is_offset_stream,
    header_u64, http_date, parse_checksum, parse_metadata, progress_headers, put,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(with_trailing_slash(routes!(create, options)))
        .routes(routes!(show, head, patch, terminate, options_upload))
        .layer(DefaultBodyLimit::disable())
        .layer(map_response(tus::tus_resumable))
}

/// Serves the same handlers at each path and at that path with a trailing
/// slash (tus clients are often given the endpoint with one), both described
/// by the handlers' one `#[utoipa::path]`. The copies' operation ids end in
/// `_slash`, for every operation id to stay unique.
fn with_trailing_slash(
    (schemas, mut paths, handlers): UtoipaMethodRouter<AppState>,
) -> UtoipaMethodRouter<AppState> {
    let slashed: Vec<_> = paths
        .paths
        .iter()
        .map(|(path, item)| {
            let mut item = item.clone();
            for operation in operations(&mut item) {
                if let Some(id) = &mut operation.operation_id {
                    id.push_str("_slash");
                }
            }
            (format!("{path}/"), item)
        })
        .collect();
    // `OpenApiRouter::routes` routes `handlers` at every path listed.
    paths.paths.extend(slashed);
    (schemas, paths, handlers)
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    let PathItem {
        get,
        put,
        post,
        delete,
        options,
        head,
        patch,
        trace,
        query,
        additional_operations,
        ..
    } = item;
    [get, put, post, delete, options, head, patch, trace, query]
        .into_iter()
        .flatten()
        .chain(additional_operations.values_mut())
}

/// What the server supports (tus discovery); no authentication, as tus
/// clients probe first.
#[utoipa::path(
    options,
    path = "/api/v2/uploads",
    tag = "uploads",
    responses((status = 204, description = "The server's tus capabilities", headers(
        ("Tus-Version" = String), ("Tus-Extension" = String),
        ("Tus-Max-Size" = u64), ("Tus-Checksum-Algorithm" = String),
    ))),
)]
async fn options(State(state): State<AppState>) -> Response {
    let algorithms = ChecksumAlgorithm::ALL
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(",");
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    put(headers, "tus-version", TUS_VERSION);
    put(headers, "tus-extension", TUS_EXTENSIONS);
    put(
        headers,
        "tus-max-size",
        &state.uploads.max_size().to_string(),
    );
    put(headers, "tus-checksum-algorithm", &algorithms);
    response
}

/// The same, for one upload.
#[utoipa::path(
    options,
    path = "/api/v2/uploads/{id}",
    tag = "uploads",
    params(("id" = String, Path, description = "The upload's id")),
    responses((status = 204, description = "The server's tus capabilities")),
)]
async fn options_upload(state: State<AppState>) -> Response {
    options(state).await
}

/// The headers of a tus creation request, for the description (the handler
/// reads them itself).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
struct CreationHeaders {
    /// Must be 1.0.0.
    #[param(rename = "Tus-Resumable", example = "1.0.0")]
    tus_resumable: String,
    /// The package's size in bytes.
    #[param(rename = "Upload-Length")]
    upload_length: u64,
    /// `filename BASE64` (required), and optionally `type`, `sha1`, `sha256`,
    /// `blake3` (hex digests; a BLAKE3 lets depot write the file once, under
    /// its content key), each `KEY BASE64`, comma-separated.
    #[param(rename = "Upload-Metadata")]
    upload_metadata: String,
}

/// The answer to a tus creation request.
#[derive(utoipa::IntoResponses)]
#[response(status = 201, description = "Created", headers(
    ("Location" = String, description = "The upload's URL"),
    ("Upload-Expires" = String, description = "When an unfinished upload is removed"),
    ("Upload-Offset" = u64, description = "Bytes stored, when the body carried some"),
    ("Depot-Package-Id" = i64, description = "The package, when the body finished the upload"),
))]
struct Created;

/// Create a resumable upload (tus creation, and creation-with-upload when the
/// body carries the first bytes). Its URL comes back in `Location`.
#[utoipa::path(
    post,
    path = "/api/v2/uploads",
    tag = "uploads",
    params(CreationHeaders),
    request_body(content = String, content_type = "application/offset+octet-stream", description = "Optionally, the first bytes"),
    responses(Created, Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn create(
    Require(user, _): Require<PackageManager>,
    State(state): State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    check_version(&headers)?;
    // Before the metadata: a partial upload carries no file name, and being
    // told so would hide the real reason.
    if headers.contains_key("upload-concat") {
        return Err(ApiError::bad_request(
            "Upload-Concat: the tus concatenation extension is not supported (Tus-Extension does not list it); send the file as one upload (tus-js-client and Uppy: parallelUploads 1)",
        ));
    }
    if headers.contains_key("upload-defer-length") {
        return Err(ApiError::bad_request(
            "Upload-Defer-Length is not supported: send Upload-Length",
        ));
    }
    let length = header_u64(&headers, "upload-length")?
        .ok_or_else(|| ApiError::bad_request("Upload-Length is required"))?;
    let new = parse_metadata(&headers, length)?;
    let upload = state.uploads.create(&user, new).await?;
    let location = format!("{}/api/v2/uploads/{}", base.as_str(), upload.id);

    // creation-with-upload: the first bytes may come with the POST.
    let appended = if content_type_is_offset_stream(&headers) {
        Some(append(&state, user, &upload.id, 0, &headers, body).await?)
    } else {
        None
    };
    let mut response = StatusCode::CREATED.into_response();
    let out = response.headers_mut();
    put(out, header::LOCATION.as_str(), &location);
    match appended {
        Some(appended) => progress_headers(out, &appended),
        None => put(out, "upload-expires", &http_date(upload.expires_at)),
    }
    Ok(response)
}

/// How far an upload has come (tus core): resume from `Upload-Offset`.
#[utoipa::path(
    head,
    path = "/api/v2/uploads/{id}",
    tag = "uploads",
    params(("id" = String, Path, description = "The upload's id")),
    responses(
        (status = 200, description = "The upload's state", headers(
            ("Upload-Offset" = u64), ("Upload-Length" = u64), ("Upload-Metadata" = String),
            ("Upload-Expires" = String), ("Depot-Package-Id" = i64, description = "Once finished"),
        )),
        Errors,
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn head(
    Require(user, _): Require<PackageManager>,
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> ApiResult<Response> {
    let upload = state.uploads.get(&user, &id).await?;
    let mut response = StatusCode::OK.into_response();
    let out = response.headers_mut();
    put(out, "upload-offset", &upload.received_bytes.to_string());
    put(out, "upload-length", &upload.length.to_string());
    if !upload.metadata.is_empty() {
        put(out, "upload-metadata", &upload.metadata);
    }
    put(out, "upload-expires", &http_date(upload.expires_at));
    put(out, header::CACHE_CONTROL.as_str(), "no-store");
    if let Some(id) = upload.package_id {
        put(out, PACKAGE_ID, &id.to_string());
    }
    Ok(response)
}

/// Append bytes at `Upload-Offset` (tus core). The last byte stores the
/// package, whose id comes back in `Depot-Package-Id`. A body cut short keeps
/// what arrived: ask with HEAD and go on from there.
#[utoipa::path(
    patch,
    path = "/api/v2/uploads/{id}",
    tag = "uploads",
    params(
        ("id" = String, Path, description = "The upload's id"),
        ("Tus-Resumable" = String, Header, example = "1.0.0", description = "Must be 1.0.0"),
        ("Upload-Offset" = u64, Header, description = "Where these bytes go: the offset HEAD answered"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha1|sha256|md5 BASE64` of this request's bytes"),
    ),
    request_body(content = String, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "Stored", headers(
            ("Upload-Offset" = u64), ("Upload-Expires" = String),
            ("Depot-Package-Id" = i64, description = "The package, once the last byte is stored"),
        )),
        Errors,
    ),
    security(("basic" = []), ("bearer" = [])),
)]
async fn patch(
    Require(user, _): Require<PackageManager>,
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    check_version(&headers)?;
    if !content_type_is_offset_stream(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::UnsupportedMediaType,
            format!("a PATCH must have Content-Type: {OFFSET_OCTET_STREAM}"),
        ));
    }
    let offset = header_u64(&headers, "upload-offset")?
        .ok_or_else(|| ApiError::bad_request("Upload-Offset is required"))?;
    let appended = append(&state, user, &id, offset, &headers, body).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    progress_headers(response.headers_mut(), &appended);
    Ok(response)
}

/// Streams a request body into the upload. The work runs in a task of its
/// own: when the client goes away, hyper drops this handler, and the bytes
/// that did arrive must still be committed for the client to resume from.
async fn append(
    state: &AppState,
    user: User,
    id: &str,
    offset: u64,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Appended> {
    let checksum = parse_checksum(headers)?;
    let uploads = state.uploads.clone();
    let body = idle_limited(body.into_data_stream(), state.settings.upload_idle_timeout);
    let id = id.to_string();
    // The request's span goes along (the trace id on the task's log lines),
    // and its audit receipt (the package the last PATCH stores).
    let append = async move { uploads.append(&user, &id, offset, body, checksum).await };
    let appended = tokio::spawn(Receipt::carry(append).instrument(tracing::Span::current()))
        .await
        .map_err(Error::internal)??;
    Ok(appended)
}

/// The package a finished upload became (a depot extension of tus).
#[utoipa::path(
    get,
    path = "/api/v2/uploads/{id}",
    tag = "uploads",
    params(("id" = String, Path, description = "The upload's id")),
    responses((status = 200, description = "The package", body = envelope::Body<SoftwarePackageMeta>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn show(
    Require(user, _): Require<PackageManager>,
    State(state): State<AppState>,
    base: BaseUrl,
    PathParam(id): PathParam<String>,
) -> ApiResult<Envelope<SoftwarePackageMeta>> {
    let package = state.uploads.package(&user, &id).await?;
    Ok(Envelope::ok(SoftwarePackageMeta::new(package, &base)))
}

/// Abandon an upload (tus termination): its bytes are removed.
#[utoipa::path(
    delete,
    path = "/api/v2/uploads/{id}",
    tag = "uploads",
    params(
        ("id" = String, Path, description = "The upload's id"),
        ("Tus-Resumable" = String, Header, example = "1.0.0", description = "Must be 1.0.0"),
    ),
    responses((status = 204, description = "Removed"), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn terminate(
    Require(user, _): Require<PackageManager>,
    State(state): State<AppState>,
    headers: HeaderMap,
    PathParam(id): PathParam<String>,
) -> ApiResult<StatusCode> {
    check_version(&headers)?;
    state.uploads.terminate(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every parser of the tus request headers, for the fuzzer (`http::fuzzing`).
#[cfg(fuzzing)]
pub(super) fn parse_request_headers(headers: &HeaderMap) {
    let _ = check_version(headers);
    let _ = content_type_is_offset_stream(headers);
    for name in ["upload-length", "upload-offset"] {
        let _ = header_u64(headers, name);
    }
    let _ = parse_metadata(headers, 0);
    let _ = parse_checksum(headers);
}
