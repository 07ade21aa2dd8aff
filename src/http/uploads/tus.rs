//! The tus 1.0.0 protocol's headers: reading what a request says
//! (`Tus-Resumable`, `Upload-Length`, `Upload-Offset`, `Upload-Metadata`,
//! `Upload-Checksum`) and writing what the answers carry.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};

use crate::domain::packages;
use crate::domain::uploads::{Appended, Checksum, ChecksumAlgorithm, NewUpload};
use crate::http::error::{ApiError, ApiResult, Code};

pub(super) const TUS_VERSION: &str = "1.0.0";
pub(super) const TUS_EXTENSIONS: &str =
    "creation,creation-with-upload,termination,expiration,checksum";
pub(super) const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// The package a finished upload became (a depot extension of tus).
pub const PACKAGE_ID: &str = "depot-package-id";

/// Every answer says which tus version it speaks.
pub(super) async fn tus_resumable(mut response: Response) -> Response {
    response.headers_mut().insert(
        HeaderName::from_static("tus-resumable"),
        HeaderValue::from_static(TUS_VERSION),
    );
    response
}

pub(super) fn progress_headers(out: &mut HeaderMap, appended: &Appended) {
    put(out, "upload-offset", &appended.offset.to_string());
    put(out, "upload-expires", &http_date(appended.expires_at));
    if let Some(package) = &appended.package {
        put(out, PACKAGE_ID, &package.id.to_string());
    }
}

pub(super) fn put(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
        headers.insert(name, value);
    }
}

/// RFC 9110's IMF-fixdate, as `Upload-Expires` wants it.
pub(super) fn http_date(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

pub(super) fn check_version(headers: &HeaderMap) -> ApiResult<()> {
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

pub(super) fn content_type_is_offset_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(OFFSET_OCTET_STREAM))
        })
}

pub(super) fn header_u64(headers: &HeaderMap, name: &str) -> ApiResult<Option<u64>> {
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
/// optionally `type` (as the 2.4 call's parameter), `sha1`, `sha256` and
/// `blake3` (the content key's digest: the file is then written once).
pub(super) fn parse_metadata(headers: &HeaderMap, length: u64) -> ApiResult<NewUpload> {
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
            "blake3" => new.blake3 = Some(hex_digest("blake3", &value, 64)?),
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
    packages::hex_digest(value, len).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Upload-Metadata: {name} must be {len} hexadecimal digits"
        ))
    })
}

/// `Upload-Checksum: ALGORITHM BASE64` for the bytes of this one request.
pub(super) fn parse_checksum(headers: &HeaderMap) -> ApiResult<Option<Checksum>> {
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
