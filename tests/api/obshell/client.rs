//! An obshell client in Rust, built from the same crates as depot's side, to
//! send what the SDKs send and what they never would.

use aes::Aes128;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use cbc::cipher::generic_array::GenericArray;
use cbc::cipher::{BlockEncryptMut, KeyIvInit};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::{Pkcs1v15Encrypt, RsaPublicKey};
use serde_json::json;

use crate::common::{TestApp, envelope};

pub type Keys = ([u8; 16], [u8; 16]);

pub const KEYS: Keys = ([3; 16], [5; 16]);
pub const OTHER_KEYS: Keys = ([4; 16], [6; 16]);

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The public key depot publishes.
pub async fn public_key(app: &TestApp) -> RsaPublicKey {
    let (status, body) = envelope(
        app.http
            .get(app.url("/api/v1/secret"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let der = BASE64
        .decode(body["data"]["public_key"].as_str().unwrap())
        .unwrap();
    RsaPublicKey::from_pkcs1_der(&der).unwrap()
}

/// Sectional RSA, 53-byte sections as the Python SDK cuts them.
pub fn seal(key: &RsaPublicKey, plain: &[u8]) -> String {
    let mut out = Vec::new();
    for part in plain.chunks(53) {
        out.extend(
            key.encrypt(&mut rsa::rand_core::OsRng, Pkcs1v15Encrypt, part)
                .unwrap(),
        );
    }
    BASE64.encode(out)
}

/// A v2 `X-OCS-Header`.
pub fn v2_header(key: &RsaPublicKey, password: &str, ts: i64, uri: &str, keys: Keys) -> String {
    let json = json!({
        "auth": password,
        "ts": ts.to_string(),
        "uri": uri,
        "keys": BASE64.encode([keys.0, keys.1].concat()),
    });
    seal(key, json.to_string().as_bytes())
}

/// A v1 `X-OCS-Auth`, Go-style keys.
pub fn v1_header(key: &RsaPublicKey, password: &str, ts: i64) -> String {
    let json = json!({"Password": password, "Ts": ts});
    seal(key, json.to_string().as_bytes())
}

/// base64(AES-128-CBC(PKCS#7(body))), as the SDKs send a v2 body.
pub fn encrypt_body(keys: Keys, body: &[u8]) -> String {
    let pad = 16 - body.len() % 16;
    let mut data = body.to_vec();
    data.extend(std::iter::repeat_n(pad as u8, pad));
    encrypt_blocks(keys, data)
}

/// Encrypts whole blocks as they are, padded or not.
pub fn encrypt_blocks(keys: Keys, mut data: Vec<u8>) -> String {
    let mut enc = cbc::Encryptor::<Aes128>::new(&keys.0.into(), &keys.1.into());
    for block in data.chunks_exact_mut(16) {
        enc.encrypt_block_mut(GenericArray::from_mut_slice(block));
    }
    BASE64.encode(data)
}

/// A multipart body with `bytes` as its `file`, and its Content-Type.
pub fn multipart(file_name: &str, bytes: &[u8]) -> (Vec<u8>, String) {
    let boundary = "obshell-test-boundary-7d3c";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (body, format!("multipart/form-data; boundary={boundary}"))
}
