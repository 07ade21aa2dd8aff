//! obshell's auth headers on any route: a request carrying `X-OCS-Header`
//! (or `X-OCS-Agent-Header`, v2) or `X-OCS-Auth` (v1) is authenticated here,
//! before its handler, with the password the header carries checked like
//! any other (`auth::authenticate`); its v2 body is decrypted as it streams,
//! before anything parses it. Every refusal is obshell's 401 with code 10008,
//! on which its SDKs fetch the key again and retry.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;

use crate::app::AppState;
use crate::domain::obshell_auth::body::{BodyDecryptor, BodyError, BodyKeys};
use crate::domain::obshell_auth::header::Version;
use crate::http::auth::{Authenticated, Credentials, authenticate, client_address};
use crate::http::error::{ApiError, Code};

/// The headers, newest first.
const HEADERS: [(&str, Version); 3] = [
    ("x-ocs-header", Version::V2),
    ("x-ocs-agent-header", Version::V2),
    ("x-ocs-auth", Version::V1),
];

pub async fn middleware(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some((version, value)) = HEADERS
        .iter()
        .find_map(|(name, version)| Some((*version, request.headers().get(*name)?.clone())))
    else {
        return next.run(request).await;
    };
    let Ok(value) = value.to_str().map(str::to_string) else {
        return unauthorized("the obshell auth header is not text").into_response();
    };
    let (request, failure) = match admit(&state, version, &value, request).await {
        Ok(admitted) => admitted,
        Err(e) => return e.into_response(),
    };
    let response = next.run(request).await;
    // Whatever the handler made of a body that would not decrypt, it is
    // obshell's refusal (with other keys, the multipart parser sees noise).
    match failure.get() {
        Some(e) => unauthorized(format!(
            "the request body cannot be decrypted with the keys of its auth header: {e}"
        ))
        .into_response(),
        None => response,
    }
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, Code::ObshellUnauthorized, message)
}

/// The request, authenticated, with its body decrypting as it is read;
/// and where a failure to decrypt it will be noted.
async fn admit(
    state: &AppState,
    version: Version,
    value: &str,
    request: Request,
) -> Result<(Request, Arc<OnceLock<BodyError>>), ApiError> {
    let (mut parts, body) = request.into_parts();
    let from = client_address(&parts, &state.settings.trusted_proxies);
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path(), |pq| pq.as_str())
        .to_string();
    let opened = state
        .obshell
        .open(version, value, &target, from)
        .await
        .map_err(ApiError::from)?;
    let credentials = Credentials::from_obshell_password(&opened.password);
    // A wrong password or token is obshell's 10008 too; too many is still 429.
    let user = authenticate(state, credentials, from)
        .await
        .map_err(|e| match e.status {
            StatusCode::UNAUTHORIZED => unauthorized(e.message),
            _ => e,
        })?;
    state.obshell.first_use(&opened)?;
    parts.extensions.insert(Authenticated(user));
    let failure = Arc::new(OnceLock::new());
    let body = match &opened.body {
        Some(keys) => {
            // The plaintext's length is not the ciphertext's.
            parts.headers.remove(header::CONTENT_LENGTH);
            decrypting(body, keys, &parts.headers, failure.clone())
        }
        None => body,
    };
    Ok((Request::from_parts(parts, body), failure))
}

/// `body`, decrypted as it streams; a multipart body must start with its
/// boundary, which tells other keys at the first blocks.
fn decrypting(
    body: Body,
    keys: &BodyKeys,
    headers: &HeaderMap,
    failure: Arc<OnceLock<BodyError>>,
) -> Body {
    let mut decryptor = BodyDecryptor::new(keys);
    if let Some(boundary) = multipart_boundary(headers) {
        decryptor = decryptor.expect_prefix(format!("--{boundary}").as_bytes());
    }
    let state = (body.into_data_stream(), Some(decryptor), failure);
    let stream = futures::stream::unfold(Some(state), |state| async move {
        let (mut inner, mut decryptor, failure) = state?;
        loop {
            let step = match inner.next().await {
                Some(Ok(chunk)) => match decryptor.as_mut()?.update(&chunk) {
                    Ok(plain) if plain.is_empty() => continue,
                    Ok(plain) => Ok(plain),
                    Err(e) => Err(e),
                },
                Some(Err(e)) => return Some((Err(e), None)),
                None => match decryptor.take()?.finish() {
                    Ok(plain) if plain.is_empty() => return None,
                    Ok(plain) => return Some((Ok(Bytes::from(plain)), None)),
                    Err(e) => Err(e),
                },
            };
            return match step {
                Ok(plain) => Some((Ok(Bytes::from(plain)), Some((inner, decryptor, failure)))),
                Err(e) => {
                    let _ = failure.set(e);
                    Some((Err(axum::Error::new(e)), None))
                }
            };
        }
    });
    Body::from_stream(stream)
}

/// The boundary of a `multipart/*` Content-Type.
fn multipart_boundary(headers: &HeaderMap) -> Option<String> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let (essence, params) = content_type.split_once(';')?;
    if !essence
        .trim()
        .to_ascii_lowercase()
        .starts_with("multipart/")
    {
        return None;
    }
    params.split(';').find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use aes::Aes128;
    use axum::http::HeaderValue;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use cbc::cipher::generic_array::GenericArray;
    use cbc::cipher::{BlockEncryptMut, KeyIvInit};

    use super::*;

    fn encrypt(key: [u8; 16], iv: [u8; 16], body: &[u8]) -> Vec<u8> {
        let pad = 16 - body.len() % 16;
        let mut data = body.to_vec();
        data.extend(std::iter::repeat_n(pad as u8, pad));
        let mut enc = cbc::Encryptor::<Aes128>::new(&key.into(), &iv.into());
        for block in data.chunks_exact_mut(16) {
            enc.encrypt_block_mut(GenericArray::from_mut_slice(block));
        }
        BASE64.encode(data).into_bytes()
    }

    /// The body as the network delivers it: in chunks of odd sizes.
    fn chunked(text: Vec<u8>, size: usize) -> Body {
        let chunks: Vec<Result<Bytes, std::io::Error>> = text
            .chunks(size)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Body::from_stream(futures::stream::iter(chunks))
    }

    fn multipart_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("multipart/form-data; boundary=b0undary"),
        );
        h
    }

    #[tokio::test]
    async fn a_body_decrypts_as_it_streams() {
        let plain: Vec<u8> = b"--b0undary\r\n"
            .iter()
            .copied()
            .chain((0..300_000u32).map(|i| (i * 7 % 251) as u8))
            .collect();
        let keys = BodyKeys::new([1; 16], [2; 16]);
        for size in [1, 3, 4, 17, 1000, 65_536] {
            let failure = Arc::new(OnceLock::new());
            let body = chunked(encrypt([1; 16], [2; 16], &plain), size);
            let body = decrypting(body, &keys, &multipart_headers(), failure.clone());
            let out = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            assert_eq!(out.len(), plain.len(), "chunks of {size}");
            assert!(out == plain, "chunks of {size}");
            assert!(failure.get().is_none());
        }
    }

    #[tokio::test]
    async fn other_keys_fail_the_stream_and_say_so() {
        let keys = BodyKeys::new([1; 16], [2; 16]);
        let text = encrypt([9; 16], [2; 16], b"--b0undary\r\ncontent");
        let failure = Arc::new(OnceLock::new());
        let body = decrypting(
            chunked(text, 7),
            &keys,
            &multipart_headers(),
            failure.clone(),
        );
        assert!(axum::body::to_bytes(body, usize::MAX).await.is_err());
        assert_eq!(failure.get(), Some(&BodyError::Prefix));
    }

    #[test]
    fn boundaries() {
        let of = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            multipart_boundary(&h)
        };
        assert_eq!(
            of("multipart/form-data; boundary=abc123").as_deref(),
            Some("abc123")
        );
        assert_eq!(
            of(r#"Multipart/Form-Data;charset=utf-8; Boundary="x y""#).as_deref(),
            Some("x y")
        );
        assert_eq!(of("application/json"), None);
        assert_eq!(of("multipart/form-data"), None);
    }
}
