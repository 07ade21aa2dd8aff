//! `/api/v2/software-packages`: list, get, upload, delete; and the OCP 2.4
//! upload call `/api/v2/files/uploadFile`.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Router, debug_handler};
use entity::package;
use serde::Serialize;

use super::auth::{PackageManager, PackageViewer, Require};
use super::body::idle_limited;
use super::envelope::{Envelope, PageInfo, Paged};
use super::error::{ApiError, ApiResult, Code};
use super::extract::{BaseUrl, PathParam};
use crate::app::AppState;
use crate::domain::classify::PackageType;
use crate::domain::packages::{Ingested, Upload};
use crate::domain::query::ListQuery;
use crate::error::Error;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/software-packages", get(list).post(upload))
        .route("/api/v2/software-packages/{id}", get(show).delete(remove))
        .route("/api/v2/files/uploadFile", post(upload_file))
        // The upload limit is enforced while streaming (and up front from Content-Length).
        .layer(DefaultBodyLimit::disable())
}

/// SoftwarePackageMeta, field for field as OCP answers it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SoftwarePackageMeta {
    id: i64,
    name: String,
    file_name: String,
    extension: String,
    size: i64,
    sha1: String,
    download_url: String,
    #[serde(rename = "type")]
    package_type: String,
    version: String,
    build_number: String,
    operating_system: String,
    architecture: String,
    deletable: bool,
    create_time: String,
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

async fn show(
    _: Require<PackageViewer>,
    State(state): State<AppState>,
    base: BaseUrl,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Envelope<SoftwarePackageMeta>> {
    let package = state.packages.get(id).await?;
    Ok(Envelope::ok(SoftwarePackageMeta::new(package, &base)))
}

/// The OCP 2.5 upload: the type is inferred from the package.
async fn upload(
    _: Require<PackageManager>,
    State(state): State<AppState>,
    base: BaseUrl,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Envelope<SoftwarePackageMeta>> {
    let ingested = receive(&state, &headers, multipart, Upload::default()).await?;
    Ok(Envelope::ok(SoftwarePackageMeta::new(
        ingested.package,
        &base,
    )))
}

/// The OCP 2.4 upload (`/api/v2/files/uploadFile?type=FILE_TYPE`): the same
/// pipeline, with the type given by the caller.
#[debug_handler(state = AppState)]
async fn upload_file(
    _: Require<PackageManager>,
    State(state): State<AppState>,
    base: BaseUrl,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Envelope<SoftwarePackageMeta>> {
    let declared =
        declared_type(query.as_deref().unwrap_or_default()).map_err(ApiError::bad_request)?;
    let upload = Upload {
        declared_type: declared,
        ..Upload::default()
    };
    let ingested = receive(&state, &headers, multipart, upload).await?;
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

/// Streams the multipart `file` field into the package store; `upload` says
/// everything about it but the file name.
pub(super) async fn receive(
    state: &AppState,
    headers: &HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
    upload: Upload,
) -> ApiResult<Ingested> {
    // Refused before reading a byte: hyper then never asks the client for the
    // body (no `100 Continue`), so clients that wait for it (curl) send nothing.
    let limit = state.settings.max_upload_size;
    refuse_oversized(headers, limit, state.packages.store().free_space())?;
    let mut multipart = multipart?;
    let result = receive_file(state, &mut multipart, upload).await;
    if result.is_err() {
        linger(&mut multipart).await;
    }
    result
}

async fn receive_file(
    state: &AppState,
    multipart: &mut Multipart,
    upload: Upload,
) -> ApiResult<Ingested> {
    let limit = state.settings.max_upload_size;
    let idle = state.settings.upload_idle_timeout;
    // The framing and any fields before `file` are under the idle timeout too.
    while let Some(field) = tokio::time::timeout(idle, multipart.next_field())
        .await
        .map_err(|_| Error::Stalled {
            secs: idle.as_secs(),
        })?
        .map_err(malformed)?
    {
        if field.name() != Some("file") {
            continue;
        }
        let upload = Upload {
            client_name: field.file_name().map(str::to_string),
            ..upload
        };
        let body = idle_limited(field, idle);
        let ingested = state.packages.ingest(body, upload, limit).await?;
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
async fn linger(multipart: &mut Multipart) {
    const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
    let _ = tokio::time::timeout(LINGER, async {
        while let Ok(Some(mut field)) = multipart.next_field().await {
            while let Ok(Some(_)) = field.chunk().await {}
        }
    })
    .await;
}

fn malformed(e: axum::extract::multipart::MultipartError) -> ApiError {
    let cause = std::error::Error::source(&e)
        .map(ToString::to_string)
        .unwrap_or_else(|| e.body_text());
    ApiError::bad_request(format!("malformed multipart/form-data body: {cause}"))
}

/// Refuses before reading a byte what announces itself as too large, for
/// the limit or for the free space of a local store.
fn refuse_oversized(headers: &HeaderMap, limit: u64, free: Option<u64>) -> ApiResult<()> {
    // Multipart framing adds a little; allow for it.
    const FRAMING: u64 = 64 << 10;
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let Some(length) = length else {
        return Ok(());
    };
    if length > limit.saturating_add(FRAMING) {
        return Err(Error::TooLarge { limit }.into());
    }
    match free {
        Some(free) if length > free => Err(ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            Code::StoreFull,
            format!(
                "the object store is out of space: the upload is {length} bytes, {free} are free; free space or grow the volume"
            ),
        )),
        _ => Ok(()),
    }
}

async fn remove(
    _: Require<PackageManager>,
    State(state): State<AppState>,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Envelope<()>> {
    state.packages.delete(id).await?;
    tracing::info!(id, "package deleted");
    Ok(Envelope::empty())
}
