//! Entry points for `cargo fuzz` (`tests/fuzz/`), compiled only under its
//! `--cfg fuzzing`: the parsers of what any client may send in headers,
//! before it is authenticated. Whatever the bytes, they answer or refuse;
//! they never panic.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::auth::Credentials;

/// `Authorization`, as every authenticated route reads it.
pub fn authorization(data: &[u8]) {
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let _ = Credentials::parse(&value);
    }
}

/// The tus request headers, from the input split at NUL bytes, one value
/// each in this order.
pub fn tus_headers(data: &[u8]) {
    const NAMES: [&str; 7] = [
        "tus-resumable",
        "upload-length",
        "upload-offset",
        "upload-metadata",
        "upload-checksum",
        "content-type",
        "upload-concat",
    ];
    let mut headers = HeaderMap::new();
    for (name, value) in NAMES.iter().zip(data.split(|b| *b == 0)) {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    super::uploads::parse_request_headers(&headers);
}
