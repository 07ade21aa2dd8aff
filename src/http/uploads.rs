//! `/api/v2/uploads/`: resumable uploads over the tus 1.0.0 protocol (core,
//! creation, creation-with-upload, termination, expiration, checksum), plus
//! `GET` of an upload for the package it became.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use tracing::Instrument;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{PackageManager, Require};
use super::body::idle_limited;
use super::envelope::{self, Envelope};
use super::error::{ApiError, ApiResult, Code};
use super::extract::{BaseUrl, PathParam};
use super::openapi::Errors;
use super::packages::SoftwarePackageMeta;
use crate::app::AppState;
use crate::domain::uploads::{Appended, Checksum, ChecksumAlgorithm, NewUpload};
use crate::domain::users::User;
use crate::error::Error;

const TUS_VERSION: &str = "1.0.0";
const TUS_EXTENSIONS: &str = "creation,creation-with-upload,termination,expiration,checksum";
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// The package a finished upload became (a depot extension of tus).
pub const PACKAGE_ID: &str = "depot-package-id";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, options))
        // tus clients are often given the endpoint with a trailing slash.
        .routes(routes!(create_slash, options_slash))
        .routes(routes!(show, head, patch, terminate, options_upload))
        .layer(DefaultBodyLimit::disable())
        .layer(map_response(tus_resumable))
}

async fn tus_resumable(mut response: Response) -> Response {
    response.headers_mut().insert(
        HeaderName::from_static("tus-resumable"),
        HeaderValue::from_static(TUS_VERSION),
    );
    response
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

/// The same, under the endpoint with a trailing slash.
#[utoipa::path(
    options,
    path = "/api/v2/uploads/",
    tag = "uploads",
    responses((status = 204, description = "The server's tus capabilities")),
)]
async fn options_slash(state: State<AppState>) -> Response {
    options(state).await
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
    /// each `KEY BASE64`, comma-separated.
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
    caller: Require<PackageManager>,
    state: State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    start(caller, state, base, headers, body).await
}

/// The same, under the endpoint with a trailing slash.
#[utoipa::path(
    post,
    path = "/api/v2/uploads/",
    tag = "uploads",
    params(CreationHeaders),
    request_body(content = String, content_type = "application/offset+octet-stream", description = "Optionally, the first bytes"),
    responses(Created, Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn create_slash(
    caller: Require<PackageManager>,
    state: State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    start(caller, state, base, headers, body).await
}

async fn start(
    Require(user, _): Require<PackageManager>,
    State(state): State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    check_version(&headers)?;
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
    let appended =
        // The request's span goes along, for the trace id on the task's log lines.
        tokio::spawn(
            async move { uploads.append(&user, &id, offset, body, checksum).await }
                .instrument(tracing::Span::current()),
        )
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

fn progress_headers(out: &mut HeaderMap, appended: &Appended) {
    put(out, "upload-offset", &appended.offset.to_string());
    put(out, "upload-expires", &http_date(appended.expires_at));
    if let Some(package) = &appended.package {
        put(out, PACKAGE_ID, &package.id.to_string());
    }
}

fn put(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
        headers.insert(name, value);
    }
}

/// RFC 9110's IMF-fixdate, as `Upload-Expires` wants it.
fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn check_version(headers: &HeaderMap) -> ApiResult<()> {
    match headers.get("tus-resumable").map(HeaderValue::as_bytes) {
        Some(b"1.0.0") => Ok(()),
        other => {
            let said = other.map(String::from_utf8_lossy);
            Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                Code::TusVersionUnsupported,
                match said {
                    Some(v) => format!(
                        "tus version {v} is not supported; this server speaks {TUS_VERSION}"
                    ),
                    None => format!("Tus-Resumable: {TUS_VERSION} is required"),
                },
            ))
        }
    }
}

fn content_type_is_offset_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(OFFSET_OCTET_STREAM))
        })
}

fn header_u64(headers: &HeaderMap, name: &str) -> ApiResult<Option<u64>> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!("{name} must be a non-negative integer"))
                })
        })
        .transpose()
}

/// `Upload-Metadata: key base64,key base64,…`: `filename` (required), and
/// optionally `type` (as the 2.4 call's parameter), `sha1` and `sha256`.
fn parse_metadata(headers: &HeaderMap, length: u64) -> ApiResult<NewUpload> {
    let raw = headers
        .get("upload-metadata")
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::bad_request("Upload-Metadata must be ASCII"))
        })
        .transpose()?
        .unwrap_or_default();
    let mut new = NewUpload {
        length,
        metadata: raw.to_string(),
        ..NewUpload::default()
    };
    let mut file_name = None;
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        let value = BASE64
            .decode(value.trim())
            .ok()
            .and_then(|v| String::from_utf8(v).ok())
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Upload-Metadata: the value of {key:?} is not base64 of UTF-8 text"
                ))
            })?;
        match key {
            "filename" | "name" => file_name = Some(value),
            // Browser clients (Uppy) send the MIME type as `type`: not ours to read.
            "type" if !value.trim().is_empty() && !value.contains('/') => {
                new.declared_type = Some(value.trim().parse().map_err(ApiError::bad_request)?)
            }
            "sha1" => new.sha1 = Some(hex_digest("sha1", &value, 40)?),
            "sha256" => new.sha256 = Some(hex_digest("sha256", &value, 64)?),
            // Other keys (tus clients add their own) are kept and echoed only.
            _ => {}
        }
    }
    new.file_name = file_name.ok_or_else(|| {
        ApiError::bad_request("Upload-Metadata must carry the file's name as `filename`")
    })?;
    Ok(new)
}

fn hex_digest(name: &str, value: &str, len: usize) -> ApiResult<String> {
    let value = value.trim();
    if value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(ApiError::bad_request(format!(
            "Upload-Metadata: {name} must be {len} hexadecimal digits"
        )))
    }
}

/// `Upload-Checksum: ALGORITHM BASE64` for the bytes of this one request.
fn parse_checksum(headers: &HeaderMap) -> ApiResult<Option<Checksum>> {
    let Some(value) = headers.get("upload-checksum") else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::bad_request("Upload-Checksum must be ASCII"))?;
    let (name, digest) = value.trim().split_once(' ').ok_or_else(|| {
        ApiError::bad_request("Upload-Checksum must be `ALGORITHM BASE64-DIGEST`")
    })?;
    let algorithm = ChecksumAlgorithm::parse(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "checksum algorithm {name:?} is not supported (sha1, sha256, md5)"
        ))
    })?;
    let expected = BASE64
        .decode(digest.trim())
        .map_err(|_| ApiError::bad_request("Upload-Checksum's digest is not base64"))?;
    Ok(Some(Checksum {
        algorithm,
        expected,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            put(&mut h, k, v);
        }
        h
    }

    #[test]
    fn metadata_is_decoded() {
        let meta = format!(
            "filename {},type {},sha1 {},other",
            BASE64.encode("a.rpm"),
            BASE64.encode("OB_SERVER_INSTALL_PACKAGE"),
            BASE64.encode("A".repeat(40))
        );
        let new = parse_metadata(&headers(&[("upload-metadata", &meta)]), 7).unwrap();
        assert_eq!(new.file_name, "a.rpm");
        assert_eq!(
            new.declared_type.unwrap().as_str(),
            "OB_SERVER_INSTALL_PACKAGE"
        );
        assert_eq!(new.sha1.unwrap(), "a".repeat(40));
        assert_eq!(new.metadata, meta);
        assert_eq!(new.length, 7);
    }

    #[test]
    fn bad_metadata_is_refused() {
        assert!(parse_metadata(&headers(&[]), 1).is_err());
        let bad = headers(&[("upload-metadata", "filename ***")]);
        assert!(parse_metadata(&bad, 1).is_err());
        let short = format!(
            "filename {},sha1 {}",
            BASE64.encode("a.sh"),
            BASE64.encode("abc")
        );
        assert!(parse_metadata(&headers(&[("upload-metadata", &short)]), 1).is_err());
    }

    #[test]
    fn checksums_and_versions() {
        let h = headers(&[("upload-checksum", "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=")]);
        let c = parse_checksum(&h).unwrap().unwrap();
        assert_eq!(c.algorithm, ChecksumAlgorithm::Sha1);
        assert_eq!(c.expected.len(), 20);
        assert!(parse_checksum(&headers(&[("upload-checksum", "crc32 AAAA")])).is_err());
        assert!(check_version(&headers(&[("tus-resumable", "1.0.0")])).is_ok());
        assert!(check_version(&headers(&[("tus-resumable", "0.2.2")])).is_err());
        assert!(check_version(&headers(&[])).is_err());
    }

    #[test]
    fn dates_are_imf_fixdate() {
        let at = DateTime::parse_from_rfc3339("2026-11-22T08:49:37Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(http_date(at), "Sun, 22 Nov 2026 08:49:37 GMT");
    }
}
