//! yum/dnf repositories: `/repos/{os}/{arch}/repodata/…` (what dnf fetches),
//! the signing key, a ready `.repo` file, and `GET /api/v2/repos`.
//! Repositories are read by viewers (dnf's `username=`/`password=` send
//! Basic), or by anyone with `--repos-public`.

use axum::body::Body as HttpBody;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{PackageViewer, Require};
use super::envelope::{Body, Envelope};
use super::error::{ApiError, ApiResult};
use super::extract::{BaseUrl, PathParam};
use super::openapi::Errors;
use crate::app::AppState;

/// The name the public key is served under (`gpgkey=`).
pub const KEY_NAME: &str = "RPM-GPG-KEY-depot";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(repomd))
        .routes(routes!(repomd_signature))
        .routes(routes!(metadata_file))
        .routes(routes!(public_key))
        .routes(routes!(repo_file))
        .routes(routes!(package))
        .routes(routes!(index))
        .routes(routes!(index_slash))
}

/// `//` in a repository path read as `/`, before routing, as nginx and
/// Apache do: obd's mirror code asks for `{baseurl}//repodata/repomd.xml`
/// (it appends `/repodata/…` to the base URL with a `/` of its own).
pub fn merge_slashes<B>(req: &mut axum::http::Request<B>) {
    let uri = req.uri();
    if !uri.path().starts_with("/repos/") || !uri.path().contains("//") {
        return;
    }
    let mut path = String::with_capacity(uri.path().len());
    for c in uri.path().chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    let merged = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(pq) = merged.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}

/// Who may read repositories: viewers, or anyone with `--repos-public`.
pub struct RepoReader;

impl<S> FromRequestParts<S> for RepoReader
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if AppState::from_ref(state).repos.is_public() {
            return Ok(Self);
        }
        Require::<PackageViewer>::from_request_parts(parts, state).await?;
        Ok(Self)
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct RepoInfo {
    /// The distribution tag (`el7`).
    os: String,
    arch: String,
    /// The `baseurl` of a .repo file.
    base_url: String,
    packages: u64,
    /// repomd.xml's `<revision>`; absent before the first publication.
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    publish_time: Option<String>,
}

/// The repositories: one per distribution tag and architecture of the stored RPMs.
#[utoipa::path(
    get,
    path = "/api/v2/repos",
    tag = "repos",
    responses((status = 200, description = "The repositories", body = Body<Vec<RepoInfo>>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn list(
    _: Require<PackageViewer>,
    State(state): State<AppState>,
    base: BaseUrl,
) -> ApiResult<Envelope<Vec<RepoInfo>>> {
    let repos = state.repos.list().await?;
    Ok(Envelope::ok(
        repos
            .into_iter()
            .map(|r| RepoInfo {
                base_url: format!("{}/repos/{}/{}/", base.as_str(), r.os, r.arch),
                os: r.os,
                arch: r.arch,
                packages: r.packages,
                revision: r.revision,
                publish_time: r
                    .published_at
                    .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, false)),
            })
            .collect(),
    ))
}

fn text(content_type: &'static str, cache: &'static str, body: String) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

/// What a cache may keep repomd.xml for: nothing without asking, since it
/// names the files of the current publication only.
const FRESH: &str = "no-cache";

/// A repository's repomd.xml: its current publication (an empty repository
/// has one too).
#[utoipa::path(
    get,
    path = "/repos/{os}/{arch}/repodata/repomd.xml",
    tag = "repos",
    params(("os" = String, Path, example = "el7"), ("arch" = String, Path, example = "x86_64")),
    responses((status = 200, description = "repomd.xml", content_type = "application/xml", body = String), Errors),
    security((), ("basic" = []), ("bearer" = [])),
)]
async fn repomd(
    _: RepoReader,
    State(state): State<AppState>,
    PathParam((os, arch)): PathParam<(String, String)>,
) -> ApiResult<Response> {
    let metadata = state.repos.metadata(&os, &arch).await?;
    Ok(text("application/xml", FRESH, metadata.repomd))
}

/// The detached, ASCII-armoured OpenPGP signature of repomd.xml (`repo_gpgcheck=1`).
#[utoipa::path(
    get,
    path = "/repos/{os}/{arch}/repodata/repomd.xml.asc",
    tag = "repos",
    params(("os" = String, Path, example = "el7"), ("arch" = String, Path, example = "x86_64")),
    responses((status = 200, description = "The signature", content_type = "application/pgp-signature", body = String), Errors),
    security((), ("basic" = []), ("bearer" = [])),
)]
async fn repomd_signature(
    _: RepoReader,
    State(state): State<AppState>,
    PathParam((os, arch)): PathParam<(String, String)>,
) -> ApiResult<Response> {
    let metadata = state.repos.metadata(&os, &arch).await?;
    let signature = state.repos.sign(&metadata.repomd).await?;
    Ok(text("application/pgp-signature", FRESH, signature))
}

/// A metadata file repomd.xml names (`<sha256>-primary.xml.gz`…): of the
/// current publication, or of a superseded one within the grace period.
#[utoipa::path(
    get,
    path = "/repos/{os}/{arch}/repodata/{file}",
    tag = "repos",
    params(
        ("os" = String, Path, example = "el7"),
        ("arch" = String, Path, example = "x86_64"),
        ("file" = String, Path, description = "A file name from repomd.xml"),
    ),
    responses((status = 200, description = "The file, gzip-compressed", content_type = "application/gzip", body = Vec<u8>), Errors),
    security((), ("basic" = []), ("bearer" = [])),
)]
async fn metadata_file(
    _: RepoReader,
    State(state): State<AppState>,
    PathParam((os, arch, file)): PathParam<(String, String, String)>,
) -> ApiResult<Response> {
    let file = state.repos.file(&os, &arch, &file).await?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/gzip".to_string()),
            (header::CONTENT_LENGTH, file.size.to_string()),
            // Named by their digest: a name always means the same bytes.
            (
                header::CACHE_CONTROL,
                "max-age=86400, immutable".to_string(),
            ),
        ],
        HttpBody::from_stream(file.body),
    )
        .into_response())
}

/// The public key that signs every repomd.xml (`gpgkey=`).
#[utoipa::path(
    get,
    path = "/repos/RPM-GPG-KEY-depot",
    tag = "repos",
    responses((status = 200, description = "The ASCII-armoured public key", content_type = "application/pgp-keys", body = String), Errors),
    security((), ("basic" = []), ("bearer" = [])),
)]
async fn public_key(_: RepoReader, State(state): State<AppState>) -> ApiResult<Response> {
    let key = state.repos.public_key().await?;
    Ok(text("application/pgp-keys", "max-age=300", key))
}

/// A ready `.repo` file for a distribution tag: `curl … > /etc/yum.repos.d/depot.repo`.
#[utoipa::path(
    get,
    path = "/repos/{os}/depot.repo",
    tag = "repos",
    params(("os" = String, Path, example = "el7")),
    responses((status = 200, description = "The .repo file", content_type = "text/plain", body = String), Errors),
    security((), ("basic" = []), ("bearer" = [])),
)]
async fn repo_file(
    _: RepoReader,
    State(state): State<AppState>,
    base: BaseUrl,
    PathParam(os): PathParam<String>,
) -> ApiResult<Response> {
    if !crate::domain::repos::repomd::valid_segment(&os) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            super::error::Code::NotFound,
            format!("no repository {os:?}"),
        ));
    }
    let base = base.as_str();
    let credentials = if state.repos.is_public() {
        ""
    } else {
        "# depot asks for a viewer's name and password\n\
         username=USER\npassword=PASSWORD\n"
    };
    let body = format!(
        "[depot-{os}]\nname=depot {os} - $basearch\nbaseurl={base}/repos/{os}/$basearch/\n\
         enabled=1\n# repomd.xml is signed by depot; packages carry their builders' signatures, if any\n\
         repo_gpgcheck=1\ngpgcheck=0\ngpgkey={base}/repos/{KEY_NAME}\n\
         # new uploads are published within a second; check repomd.xml (small) every minute\n\
         metadata_expire=60\n{credentials}"
    );
    Ok(text("text/plain; charset=utf-8", "no-cache", body))
}

/// A repository's base URL itself: a short page naming what is under it.
/// Clients that probe the base URL before using it (obd's mirror code
/// counts a status of 400 or more as "unavailable") find it there.
#[utoipa::path(
    get,
    path = "/repos/{os}/{arch}/",
    tag = "repos",
    params(("os" = String, Path, example = "el7"), ("arch" = String, Path, example = "x86_64")),
    responses((status = 200, description = "An index page", content_type = "text/html", body = String), Errors),
    security((), ("basic" = []), ("bearer" = [])),
)]
async fn index_slash(
    reader: RepoReader,
    state: State<AppState>,
    path: PathParam<(String, String)>,
) -> ApiResult<Response> {
    index(reader, state, path).await
}

/// The same page, without the trailing slash.
#[utoipa::path(
    get,
    path = "/repos/{os}/{arch}",
    tag = "repos",
    params(("os" = String, Path, example = "el7"), ("arch" = String, Path, example = "x86_64")),
    responses((status = 200, description = "An index page", content_type = "text/html", body = String), Errors),
    security((), ("basic" = []), ("bearer" = [])),
)]
async fn index(
    _: RepoReader,
    State(state): State<AppState>,
    PathParam((os, arch)): PathParam<(String, String)>,
) -> ApiResult<Response> {
    // Validates the names, and says what the repository holds.
    let metadata = state.repos.metadata(&os, &arch).await?;
    let body = format!(
        "<!doctype html>\n<title>depot {os}/{arch}</title>\n<h1>depot yum repository {os}/{arch}</h1>\n\
         <p>Revision {}. <a href=\"repodata/repomd.xml\">repodata/repomd.xml</a></p>\n",
        metadata.revision
    );
    Ok(text("text/html; charset=utf-8", FRESH, body))
}

/// A package of the repository, served as `/api/v2/files/sys-package/…`
/// serves it (redirect or proxy): where a public repository's hrefs lead.
#[utoipa::path(
    method(get, head),
    path = "/repos/{os}/{arch}/Packages/{file_name}",
    tag = "repos",
    params(
        ("os" = String, Path, example = "el7"),
        ("arch" = String, Path, example = "x86_64"),
        ("file_name" = String, Path, description = "The package's file name"),
    ),
    responses(
        (status = 200, description = "The package (proxy mode)", content_type = "application/x-rpm", body = Vec<u8>),
        (status = 302, description = "Where to get it, when the store can presign and the request carries no credentials"),
        Errors,
    ),
    security((), ("basic" = []), ("bearer" = [])),
)]
async fn package(
    _: RepoReader,
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    region: super::regions::RegionHint,
    PathParam((os, arch, file_name)): PathParam<(String, String, String)>,
) -> ApiResult<Response> {
    state.repos.check_package(&os, &arch, &file_name).await?;
    // Sent to the store only when no credentials came along: a public
    // repository's anonymous client has nothing to leak, one that sent some
    // anyway is served the bytes.
    let redirect = !headers.contains_key(axum::http::header::AUTHORIZATION);
    super::files::answer(&state, &method, &headers, region, &file_name, redirect).await
}
