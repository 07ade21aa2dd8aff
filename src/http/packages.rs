//! `/api/v2/software-packages`: list, get, upload, delete; and the OCP 2.4
//! upload call `/api/v2/files/uploadFile`.

use axum::debug_handler;
use axum::extract::{DefaultBodyLimit, Multipart, RawQuery, Request, State};
use axum::http::{HeaderMap, header};
use entity::package;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{PackageManager, PackageViewer, Require};
use super::body::idle_limited;
use super::envelope::{Body, Envelope, NoData, PageInfo, Paged};
use super::error::{ApiError, ApiResult};
use super::extract::{BaseUrl, PathParam, QueryParams};
use super::multipart::{self, Preamble};
use super::openapi::Errors;
use crate::app::AppState;
use crate::domain::admission::UploadSlot;
use crate::domain::classify::PackageType;
use crate::domain::packages::{Announced, Ingested, Submission, hex_digest};
use crate::domain::query::ListQuery;
use crate::domain::users::User;
use crate::error::Error;

// The shape on the wire lives in `api_types`, which the client reads too.
pub use crate::api_types::SoftwarePackageMeta;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, upload))
        .routes(routes!(show, remove))
        .routes(routes!(upload_file))
        // The upload limit is enforced while streaming (and up front from Content-Length).
        .layer(DefaultBodyLimit::disable())
}

/// The multipart body of an upload: the package in the `file` field (its
/// file name is the package's); other fields are ignored.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the body; the handlers stream it instead.
pub(super) struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

impl SoftwarePackageMeta {
    pub fn new(p: package::Model, base: &BaseUrl) -> Self {
        Self {
            download_url: base.download_url(&p.file_name),
            id: p.id,
            name: p.name,
            file_name: p.file_name,
            extension: p.extension,
            size: p.size,
            sha1: p.sha1,
            package_type: p.r#type,
            version: p.version,
            build_number: p.build_number,
            operating_system: p.operating_system,
            architecture: p.architecture,
            deletable: p.deletable,
            create_time: p
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
        }
    }
}

/// One package as its details show it: OCP's fields, and depot's digests
/// of the content and the key it is stored under.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SoftwarePackageDetails {
    #[serde(flatten)]
    meta: SoftwarePackageMeta,
    /// Lowercase hex.
    md5: String,
    /// Lowercase hex.
    sha256: String,
    /// The stored object's key (content-addressed: equal content, one object).
    content_key: String,
}

/// List software packages, filtered, sorted and paged as OCP does.
#[utoipa::path(
    get,
    path = "/api/v2/software-packages",
    tag = "packages",
    params(
        ("keyword" = Option<String>, Query, description = "Part of the name or file name"),
        ("fileName" = Option<String>, Query, description = "An exact file name"),
        ("type" = Option<Vec<String>>, Query, explode, description = "Package types (repeated or comma-separated)"),
        ("version" = Option<Vec<String>>, Query, explode, description = "Versions (repeated or comma-separated)"),
        ("operatingSystem" = Option<Vec<String>>, Query, explode, description = "Distributions; `alios` matches `alios7`, `alios8`"),
        ("architecture" = Option<Vec<String>>, Query, explode, description = "Architectures"),
        ("page" = Option<u64>, Query, minimum = 1, description = "1-based page number (default 1)"),
        ("size" = Option<u64>, Query, minimum = 1, maximum = 2000, description = "Page size (default 10)"),
        ("sort" = Option<String>, Query, description = "`FIELD,asc|desc`: id, name, fileName, version, type, operatingSystem, architecture, size, createTime"),
    ),
    responses((status = 200, description = "A page of packages", body = Body<Paged<SoftwarePackageMeta>>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn list(
    _: Require<PackageViewer>,
    State(state): State<AppState>,
    base: BaseUrl,
    RawQuery(query): RawQuery,
) -> ApiResult<Envelope<Paged<SoftwarePackageMeta>>> {
    let query =
        ListQuery::parse(query.as_deref().unwrap_or_default()).map_err(ApiError::bad_request)?;
    let (rows, total) = state.packages.list(&query).await?;
    Ok(Envelope::ok(Paged {
        contents: rows
            .into_iter()
            .map(|p| SoftwarePackageMeta::new(p, &base))
            .collect(),
        page: PageInfo {
            number: query.page,
            size: query.size,
            total_elements: total,
            total_pages: query.total_pages(total),
        },
    }))
}

/// One software package.
#[utoipa::path(
    get,
    path = "/api/v2/software-packages/{id}",
    tag = "packages",
    params(("id" = i64, Path, example = 1, description = "The package's id")),
    responses((status = 200, description = "The package, with its digests", body = Body<SoftwarePackageDetails>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn show(
    _: Require<PackageViewer>,
    State(state): State<AppState>,
    base: BaseUrl,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Envelope<SoftwarePackageDetails>> {
    let (package, blob) = state.packages.get_with_blob(id).await?;
    Ok(Envelope::ok(SoftwarePackageDetails {
        meta: SoftwarePackageMeta::new(package, &base),
        md5: blob.md5,
        sha256: blob.sha256,
        content_key: blob.key,
    }))
}

/// Upload a package (OCP 2.5): its type is inferred from the name and content.
/// The same content uploaded again answers the stored package.
#[utoipa::path(
    post,
    path = "/api/v2/software-packages",
    tag = "packages",
    params(Announcing),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 200, description = "The stored package", body = Body<SoftwarePackageMeta>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn upload(
    Require(user, _): Require<PackageManager>,
    State(state): State<AppState>,
    base: BaseUrl,
    QueryParams(announcing): QueryParams<Announcing>,
    request: Request,
) -> ApiResult<Envelope<SoftwarePackageMeta>> {
    let upload = Submission {
        announced: announcing.check()?,
        ..Submission::default()
    };
    let ingested = receive(&state, &user, request, upload).await?;
    Ok(Envelope::ok(SoftwarePackageMeta::new(
        ingested.package,
        &base,
    )))
}

/// Upload a package the OCP 2.4 way (`?type=FILE_TYPE`): the same pipeline
/// as the 2.5 call, with the type given by the caller (and checked against
/// the file); without `type`, it is inferred.
#[utoipa::path(
    post,
    path = "/api/v2/files/uploadFile",
    tag = "packages",
    params(("type" = Option<String>, Query, description = "The package type, e.g. OB_SERVER_INSTALL_PACKAGE"), Announcing),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 200, description = "The stored package", body = Body<SoftwarePackageMeta>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
#[debug_handler(state = AppState)]
async fn upload_file(
    Require(user, _): Require<PackageManager>,
    State(state): State<AppState>,
    base: BaseUrl,
    RawQuery(query): RawQuery,
    QueryParams(announcing): QueryParams<Announcing>,
    request: Request,
) -> ApiResult<Envelope<SoftwarePackageMeta>> {
    let declared =
        declared_type(query.as_deref().unwrap_or_default()).map_err(ApiError::bad_request)?;
    let upload = Submission {
        declared_type: declared,
        announced: announcing.check()?,
        ..Submission::default()
    };
    let ingested = receive(&state, &user, request, upload).await?;
    Ok(Envelope::ok(SoftwarePackageMeta::new(
        ingested.package,
        &base,
    )))
}

/// The `type` parameter of the 2.4 call; absent means "infer it", as in 2.5.
fn declared_type(query: &str) -> Result<Option<PackageType>, String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v.trim().parse())
        .transpose()
}

/// Digests a client may announce for the file it uploads (hex): a mismatch
/// stores nothing. With `blake3` (or a `sha256` of bytes depot holds) the
/// file is written once, under its content key, instead of staged and copied.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Announcing {
    /// The file's SHA-1, 40 hex digits.
    sha1: Option<String>,
    /// The file's SHA-256, 64 hex digits.
    sha256: Option<String>,
    /// The file's BLAKE3, 64 hex digits (what `b3sum` prints).
    blake3: Option<String>,
}

impl Announcing {
    fn check(self) -> ApiResult<Announced> {
        let hex = |name: &str, value: Option<String>, len: usize| {
            value
                .map(|v| {
                    hex_digest(&v, len).ok_or_else(|| {
                        ApiError::bad_request(format!("{name} must be {len} hexadecimal digits"))
                    })
                })
                .transpose()
        };
        Ok(Announced {
            sha1: hex("sha1", self.sha1, 40)?,
            sha256: hex("sha256", self.sha256, 64)?,
            blake3: hex("blake3", self.blake3, 64)?,
        })
    }
}

/// Streams the multipart `file` field into the package store; `upload` says
/// everything about it but the file name.
pub(super) async fn receive(
    state: &AppState,
    user: &User,
    request: Request,
    upload: Submission,
) -> ApiResult<Ingested> {
    // Refused before reading a byte: hyper then never asks the client for the
    // body (no `100 Continue`), so clients that wait for it (curl) send nothing.
    let limit = state.settings.max_upload_size;
    let slot = state
        .packages
        .admit(&user.name, announced_length(request.headers()), limit)?;
    let (multipart, preamble) = multipart::bounded(request).await;
    let mut multipart = multipart?;
    let result = receive_file(state, slot, &mut multipart, &preamble, upload).await;
    if result.is_err() {
        linger(&mut multipart).await;
    }
    result
}

async fn receive_file(
    state: &AppState,
    slot: UploadSlot,
    multipart: &mut Multipart,
    preamble: &Preamble,
    upload: Submission,
) -> ApiResult<Ingested> {
    let limit = state.settings.max_upload_size;
    let idle = state.settings.upload_idle_timeout;
    // The framing and any fields before `file` are under the idle timeout too.
    while let Some(field) = tokio::time::timeout(idle, multipart.next_field())
        .await
        .map_err(|_| Error::UploadStalled {
            secs: idle.as_secs(),
        })?
        .map_err(malformed)?
    {
        if field.name() != Some("file") {
            continue;
        }
        preamble.reached_file();
        let upload = Submission {
            client_name: field.file_name().map(str::to_string),
            ..upload
        };
        let body = idle_limited(field, idle);
        let ingested = state.packages.ingest(slot, body, upload, limit).await?;
        let package = &ingested.package;
        tracing::info!(id = package.id, file = %package.file_name, outcome = ?ingested.outcome, "upload stored");
        return Ok(ingested);
    }
    Err(ApiError::bad_request(
        "the multipart body has no `file` field",
    ))
}

/// After refusing an upload, reads (and drops) what the client is still
/// sending, for a moment: closing a connection with unread data resets it,
/// and the client would lose the answer that says what went wrong.
pub(super) async fn linger(multipart: &mut Multipart) {
    const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(Some(mut field)) = multipart.next_field().await {
            while let Ok(Some(_)) = field.chunk().await {}
        }
    })
    .await;
}

pub(super) fn malformed(e: axum::extract::multipart::MultipartError) -> ApiError {
    let cause = std::error::Error::source(&e)
        .map(ToString::to_string)
        .unwrap_or_else(|| e.body_text());
    ApiError::bad_request(format!("malformed multipart/form-data body: {cause}"))
}

/// The file's size as far as the request announces it: its length less the
/// little that multipart framing adds.
pub(super) fn announced_length(headers: &HeaderMap) -> Option<u64> {
    const FRAMING: u64 = 64 << 10;
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|length| length.saturating_sub(FRAMING))
}

/// Delete a package (built-in packages cannot be deleted: 409).
#[utoipa::path(
    delete,
    path = "/api/v2/software-packages/{id}",
    tag = "packages",
    params(("id" = i64, Path, example = 1, description = "The package's id")),
    responses((status = 200, description = "Deleted", body = Body<NoData>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn remove(
    _: Require<PackageManager>,
    State(state): State<AppState>,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Envelope<NoData>> {
    state.packages.delete(id).await?;
    tracing::info!(id, "package deleted");
    Ok(Envelope::empty())
}
