//! `GET`/`HEAD /api/v2/files/sys-package/{fileName}`: the `downloadUrl`.
//! Redirect mode answers 302 to a presigned URL of the object; proxy mode
//! streams the object itself, with ranges and conditional requests.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use entity::package;
use futures::TryStreamExt;
use object_store::path::Path;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{PackageViewer, Require};
use super::error::{ApiError, ApiResult};
use super::extract::PathParam;
use super::openapi::Errors;
use crate::app::AppState;
use crate::config::DownloadMode;
use crate::metrics::METRICS;
use crate::store::BlobKey;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(download))
}

fn content_type(extension: &str) -> &'static str {
    match extension {
        "rpm" => "application/x-rpm",
        "sh" => "application/x-sh",
        "py" => "text/x-python",
        _ => "application/octet-stream",
    }
}

/// Download a package by file name: the `downloadUrl` of SoftwarePackageMeta.
/// With `--download-mode redirect` (S3's default) the answer is a 302 to a
/// presigned URL of the object; with `proxy`, the bytes, with ranges and
/// conditional requests.
#[utoipa::path(
    method(get, head),
    path = "/api/v2/files/sys-package/{file_name}",
    tag = "packages",
    params(
        ("file_name" = String, Path, example = "oceanbase-ce-4.2.1.1-101000012023111012.el7.x86_64.rpm", description = "The package's file name"),
        ("Range" = Option<String>, Header, description = "One byte range (`bytes=0-99`), proxy mode"),
        ("If-None-Match" = Option<String>, Header, description = "The SHA-1 ETag held, proxy mode"),
    ),
    responses(
        (status = 200, description = "The package (proxy mode)", content(
            (String = "application/x-rpm"),
            (String = "application/x-sh"),
            (String = "text/x-python"),
            (String = "application/octet-stream"),
        ), headers(
            ("ETag" = String, description = "The SHA-1, quoted"),
            ("Content-Disposition" = String, description = "attachment; filename=…"),
        )),
        (status = 206, description = "The requested range (proxy mode)"),
        (status = 302, description = "Where to get it (redirect mode): a presigned URL of the store, valid for --presign-ttl",
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
    PathParam(file_name): PathParam<String>,
) -> ApiResult<Response> {
    let redirect = state.settings.download_mode == DownloadMode::Redirect;
    // A redirect may use a row read a few seconds ago (it costs more than the
    // rest of the redirect); proxying reads the object anyway, and the row with it.
    let package = if redirect {
        state.packages.get_for_download(&file_name).await?
    } else {
        std::sync::Arc::new(state.packages.get_by_file_name(&file_name).await?)
    };
    let disposition = format!(r#"attachment; filename="{}""#, package.file_name);
    let content_type = content_type(&package.extension);
    let key = BlobKey::from_stored(package.blob_key.clone());

    if redirect {
        let method = if method == Method::HEAD {
            Method::HEAD
        } else {
            Method::GET
        };
        let url = state
            .packages
            .store()
            .presign(
                method,
                &key,
                &disposition,
                content_type,
                state.settings.presign_ttl,
            )
            .await?
            .ok_or_else(|| {
                ApiError::from(crate::error::Error::internal("the store cannot presign"))
            })?;
        return Ok((
            StatusCode::FOUND,
            [
                (header::LOCATION, url.to_string()),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
        )
            .into_response());
    }
    proxy(
        &state,
        &package,
        &key,
        method,
        &headers,
        disposition,
        content_type,
    )
    .await
}

async fn proxy(
    state: &AppState,
    package: &package::Model,
    key: &BlobKey,
    method: Method,
    headers: &HeaderMap,
    disposition: String,
    content_type: &'static str,
) -> ApiResult<Response> {
    let size = package.size as u64;
    let etag = format!("\"{}\"", package.sha1);
    let mut response_headers = HeaderMap::new();
    let mut put = |name, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response_headers.insert(name, v);
        }
    };
    put(header::ETAG, etag.clone());
    put(header::ACCEPT_RANGES, "bytes".into());
    put(header::CONTENT_DISPOSITION, disposition);
    put(header::CONTENT_TYPE, content_type.into());

    if if_none_match(headers, &etag) {
        return Ok((StatusCode::NOT_MODIFIED, response_headers).into_response());
    }
    let (status, range) = match requested_range(headers, size) {
        Ok(Some(r)) => (StatusCode::PARTIAL_CONTENT, Some(r)),
        Ok(None) => (StatusCode::OK, None),
        Err(()) => {
            response_headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii"),
            );
            return Ok((StatusCode::RANGE_NOT_SATISFIABLE, response_headers).into_response());
        }
    };
    let length = range.as_ref().map_or(size, |r| r.end - r.start);
    response_headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Some(r) = &range {
        let value = format!("bytes {}-{}/{size}", r.start, r.end - 1);
        response_headers.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&value).expect("ascii"),
        );
    }
    if method == Method::HEAD {
        return Ok((status, response_headers).into_response());
    }
    let object = state
        .packages
        .store()
        .get(&Path::from(key.as_str()), range)
        .await?;
    // Counted as they go out: a download cut short counts what was sent.
    let body = Body::from_stream(object.into_stream().inspect_ok(|chunk| {
        METRICS.downloaded_bytes.inc_by(chunk.len() as u64);
    }));
    Ok((status, response_headers, body).into_response())
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
}

/// One satisfiable range as `start..end`; `Ok(None)` for no (or an ignorable)
/// Range header; `Err` when it cannot be satisfied. Several ranges are served
/// as the whole object, which RFC 9110 allows.
fn requested_range(headers: &HeaderMap, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Ok(parsed) = http_range_header::parse_range_header(value) else {
        return Ok(None);
    };
    match parsed.validate(size) {
        Ok(ranges) if ranges.len() == 1 => Ok(Some(*ranges[0].start()..*ranges[0].end() + 1)),
        Ok(_) => Ok(None),
        Err(_) => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn ranges() {
        assert_eq!(requested_range(&HeaderMap::new(), 10), Ok(None));
        assert_eq!(
            requested_range(&with(header::RANGE, "bytes=2-4"), 10),
            Ok(Some(2..5))
        );
        assert_eq!(
            requested_range(&with(header::RANGE, "bytes=7-"), 10),
            Ok(Some(7..10))
        );
        assert_eq!(
            requested_range(&with(header::RANGE, "bytes=-3"), 10),
            Ok(Some(7..10))
        );
        assert_eq!(
            requested_range(&with(header::RANGE, "bytes=20-30"), 10),
            Err(())
        );
        assert_eq!(
            requested_range(&with(header::RANGE, "pages=1"), 10),
            Ok(None)
        );
    }

    #[test]
    fn etags() {
        assert!(if_none_match(
            &with(header::IF_NONE_MATCH, "\"a\", \"b\""),
            "\"b\""
        ));
        assert!(if_none_match(&with(header::IF_NONE_MATCH, "*"), "\"b\""));
        assert!(!if_none_match(
            &with(header::IF_NONE_MATCH, "\"c\""),
            "\"b\""
        ));
    }
}
