//! obshell's authentication headers: `X-OCS-Auth` (v1) and `X-OCS-Header`
//! (v2), decrypted and checked. Values in, values out.
//!
//! The header is base64 of RSA PKCS#1 v1.5 ciphertext, "sectional": the
//! client cuts its JSON into blocks (the Python SDK always 53 bytes, whatever
//! the key) and encrypts each, so the server decrypts in blocks of the
//! modulus' size and joins them. v1's JSON is `{password, ts}`; v2's
//! `{auth, ts, uri, keys}`, in lower case (Python) or Pascal case (Go).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey};
use serde_json::{Map, Value};

use super::body::BodyKeys;

/// The longest header read (base64 characters): a password, a URI and the
/// AES keys fit several times; anything longer is refused before any RSA.
pub const MAX_HEADER_LEN: usize = 8 << 10;
/// How far ahead `ts` may lie: obshell's SDK uploads with 600 s, and a
/// client choosing more widens the window in which a captured header works.
pub const MAX_LIFETIME_SECS: i64 = 600;
/// Clock difference tolerated between client and server, either way.
pub const CLOCK_SKEW_SECS: i64 = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// `X-OCS-Auth`: a password and a time; the request is not bound.
    V1,
    /// `X-OCS-Header` (or `X-OCS-Agent-Header`): bound to the request target,
    /// with the keys of the encrypted body.
    V2,
}

/// What a header says, decrypted.
pub struct Claims {
    pub password: String,
    /// Unix seconds after which the header is expired.
    pub ts: i64,
    /// The request target it was made for (v2).
    pub uri: Option<String>,
    /// The body's AES key and IV (v2).
    pub keys: Option<BodyKeys>,
}

/// Never the password.
impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claims")
            .field("ts", &self.ts)
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

/// Why a header is refused. Undecryptable and unreadable headers share one
/// variant and one message on purpose: telling a bad padding from bad JSON
/// would make the server a padding oracle for captured headers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("the obshell auth header is longer than {MAX_HEADER_LEN} characters")]
    TooLong,
    #[error(
        "the obshell auth header cannot be decrypted with this server's key (fetch it again from /api/v1/secret) or is malformed"
    )]
    Unreadable,
    #[error("the obshell auth header has expired (its ts is {0} s past)")]
    Expired(i64),
    #[error(
        "the obshell auth header's ts lies {0} s ahead: more than {MAX_LIFETIME_SECS} s (plus {CLOCK_SKEW_SECS} s of clock skew) is refused"
    )]
    TooFarAhead(i64),
    #[error("the obshell auth header was made for {made_for:?}, not for {target:?}")]
    OtherTarget { made_for: String, target: String },
}

/// The ciphertext a header carries, before any RSA: bounded and base64.
pub fn ciphertext(header: &str) -> Result<Vec<u8>, HeaderError> {
    if header.len() > MAX_HEADER_LEN {
        return Err(HeaderError::TooLong);
    }
    BASE64
        .decode(header.trim())
        .map_err(|_| HeaderError::Unreadable)
}

/// Decrypts `ciphertext` block by block with `key`.
pub fn decrypt(key: &RsaPrivateKey, ciphertext: &[u8]) -> Result<Vec<u8>, HeaderError> {
    let k = key.size();
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(k) {
        return Err(HeaderError::Unreadable);
    }
    let mut rng = rsa::rand_core::OsRng;
    let mut plain = Vec::with_capacity(ciphertext.len());
    for block in ciphertext.chunks_exact(k) {
        // Blinded, so that timing says less about the key.
        let part = key
            .decrypt_blinded(&mut rng, Pkcs1v15Encrypt, block)
            .map_err(|_| HeaderError::Unreadable)?;
        plain.extend_from_slice(&part);
    }
    Ok(plain)
}

/// The claims of a decrypted header of `version`.
pub fn parse(plain: &[u8], version: Version) -> Result<Claims, HeaderError> {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(plain) else {
        return Err(HeaderError::Unreadable);
    };
    let password_key = match version {
        Version::V1 => "password",
        Version::V2 => "auth",
    };
    let password = match field(&fields, password_key) {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(_) => return Err(HeaderError::Unreadable),
    };
    // v1 sends a number, v2 a string of one.
    let ts = match field(&fields, "ts") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or(HeaderError::Unreadable)?;
    let (uri, keys) = match version {
        Version::V1 => (None, None),
        Version::V2 => {
            let Some(Value::String(uri)) = field(&fields, "uri") else {
                return Err(HeaderError::Unreadable);
            };
            let keys = match field(&fields, "keys") {
                Some(Value::String(k)) if !k.is_empty() => {
                    Some(BodyKeys::parse(k).ok_or(HeaderError::Unreadable)?)
                }
                _ => None,
            };
            (Some(uri.clone()), keys)
        }
    };
    Ok(Claims {
        password,
        ts,
        uri,
        keys,
    })
}

/// A field by its name in any case (`ts`, `Ts`, `TS`).
fn field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    fields.get(name).or_else(|| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

impl Claims {
    /// Whether the header may be used at `now` (Unix seconds) for `target`
    /// (the request's path and query, as sent).
    pub fn check(&self, now: i64, target: &str) -> Result<(), HeaderError> {
        if now > self.ts.saturating_add(CLOCK_SKEW_SECS) {
            return Err(HeaderError::Expired(now - self.ts));
        }
        let ahead = self.ts.saturating_sub(now);
        if ahead > MAX_LIFETIME_SECS + CLOCK_SKEW_SECS {
            return Err(HeaderError::TooFarAhead(ahead));
        }
        match &self.uri {
            Some(uri) if uri != target => Err(HeaderError::OtherTarget {
                made_for: uri.chars().take(256).collect(),
                target: target.chars().take(256).collect(),
            }),
            _ => Ok(()),
        }
    }

    /// Until when (Unix seconds) the header could still be accepted.
    pub fn usable_until(&self) -> i64 {
        self.ts.saturating_add(CLOCK_SKEW_SECS)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::LazyLock;

    use rsa::RsaPublicKey;

    use super::*;

    /// One small key for every test here: generating is the slow part.
    pub(crate) static KEY: LazyLock<RsaPrivateKey> =
        LazyLock::new(|| RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap());

    /// As the Python SDK does: 53-byte sections, whatever the key.
    pub(crate) fn seal(key: &RsaPublicKey, json: &str) -> String {
        let mut rng = rsa::rand_core::OsRng;
        let mut out = Vec::new();
        for part in json.as_bytes().chunks(53) {
            out.extend(key.encrypt(&mut rng, Pkcs1v15Encrypt, part).unwrap());
        }
        BASE64.encode(out)
    }

    fn open(header: &str, version: Version) -> Result<Claims, HeaderError> {
        let plain = decrypt(&KEY, &ciphertext(header)?)?;
        parse(&plain, version)
    }

    fn keys_b64() -> String {
        BASE64.encode([[1u8; 16], [2u8; 16]].concat())
    }

    #[test]
    fn v2_in_either_case() {
        let public = KEY.to_public_key();
        let lower = format!(
            r#"{{"auth": "pw", "ts": "1700000600", "uri": "/api/v1/upgrade/package", "keys": "{}"}}"#,
            keys_b64()
        );
        let pascal = format!(
            r#"{{"Auth":"pw","Ts":"1700000600","Uri":"/api/v1/upgrade/package","Keys":"{}"}}"#,
            keys_b64()
        );
        for json in [lower, pascal] {
            let claims = open(&seal(&public, &json), Version::V2).unwrap();
            assert_eq!(claims.password.as_str(), "pw");
            assert_eq!(claims.ts, 1_700_000_600);
            assert_eq!(claims.uri.as_deref(), Some("/api/v1/upgrade/package"));
            assert_eq!(claims.keys, Some(BodyKeys::new([1; 16], [2; 16])), "{json}");
        }
    }

    #[test]
    fn v1_in_one_block_or_many() {
        let public = KEY.to_public_key();
        // One block, as the Python SDK's v1 sends it.
        let short = r#"{"password": "pw", "ts": 1700000060}"#;
        let ct = public
            .encrypt(
                &mut rsa::rand_core::OsRng,
                Pkcs1v15Encrypt,
                short.as_bytes(),
            )
            .unwrap();
        let claims = open(&BASE64.encode(ct), Version::V1).unwrap();
        assert_eq!((claims.password.as_str(), claims.ts), ("pw", 1_700_000_060));
        assert_eq!(claims.uri, None);
        // Sections, as the Go SDK sends it.
        let long =
            r#"{"Password": "a much longer password, to need several sections", "Ts": 1700000060}"#;
        let claims = open(&seal(&public, long), Version::V1).unwrap();
        assert!(claims.password.as_str().starts_with("a much longer"));
    }

    #[test]
    fn time_and_target() {
        let claims = |ts, uri: Option<&str>| Claims {
            password: "pw".into(),
            ts,
            uri: uri.map(str::to_string),
            keys: None,
        };
        let now = 1_700_000_000;
        let target = "/api/v1/upgrade/package/info";
        let uri = Some(target);
        assert!(claims(now + 60, uri).check(now, target).is_ok());
        assert!(claims(now + 660, uri).check(now, target).is_ok());
        assert_eq!(
            claims(now + 661, uri).check(now, target),
            Err(HeaderError::TooFarAhead(661))
        );
        assert!(claims(now - 60, uri).check(now, target).is_ok());
        assert_eq!(
            claims(now - 61, uri).check(now, target),
            Err(HeaderError::Expired(61))
        );
        // The Go SDK's v1 adds nanoseconds: far ahead.
        assert!(matches!(
            claims(now + 60_000_000_000, None).check(now, "/x"),
            Err(HeaderError::TooFarAhead(_))
        ));
        assert!(matches!(
            claims(now + 60, uri).check(now, "/api/v1/upgrade/package"),
            Err(HeaderError::OtherTarget { .. })
        ));
        assert!(claims(now + 60, None).check(now, "/anything").is_ok());
    }

    #[test]
    fn hostile_headers_are_unreadable() {
        let public = KEY.to_public_key();
        assert_eq!(
            ciphertext(&"A".repeat(MAX_HEADER_LEN + 1)).unwrap_err(),
            HeaderError::TooLong
        );
        assert_eq!(
            ciphertext("not base64!").unwrap_err(),
            HeaderError::Unreadable
        );
        // Not a whole number of blocks; random blocks; another key's.
        assert_eq!(decrypt(&KEY, &[1; 100]), Err(HeaderError::Unreadable));
        assert_eq!(decrypt(&KEY, &[]), Err(HeaderError::Unreadable));
        assert_eq!(decrypt(&KEY, &[0x42; 128]), Err(HeaderError::Unreadable));
        let other = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
        let sealed = seal(
            &other.to_public_key(),
            r#"{"auth":"pw","ts":"1","uri":"/"}"#,
        );
        assert_eq!(
            open(&sealed, Version::V2).unwrap_err(),
            HeaderError::Unreadable
        );
        // Readable, but not what a header says.
        for json in [
            "[]",
            "not json",
            r#"{"auth": "pw"}"#,
            r#"{"auth": "pw", "ts": "soon", "uri": "/"}"#,
            r#"{"auth": 7, "ts": "1", "uri": "/"}"#,
            r#"{"auth": "pw", "ts": "1"}"#,
            r#"{"auth": "pw", "ts": "1", "uri": "/", "keys": "c2hvcnQ="}"#,
        ] {
            let err = open(&seal(&public, json), Version::V2).unwrap_err();
            assert_eq!(err, HeaderError::Unreadable, "{json}");
        }
    }
}
