//! Digests a client announces for the file it sends, and the check of the
//! file against them.

use super::Digests;
use crate::error::{Error, Result};

/// Digests a client announced for its file (lowercase hex, checked for form
/// where they arrived). An upload is checked against them before its last
/// write completes, so a mismatch stores nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Announced {
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    /// The content key's own digest: with it, the bytes can be written
    /// straight under their key.
    pub blake3: Option<String>,
}

impl Announced {
    /// Refuses `actual` when it differs from any announced digest.
    pub fn check(&self, actual: &Digests) -> Result<()> {
        let pairs = [
            ("SHA-1", &self.sha1, &actual.sha1),
            ("SHA-256", &self.sha256, &actual.sha256),
            ("BLAKE3", &self.blake3, &actual.blake3),
        ];
        for (name, expected, actual) in pairs {
            if let Some(expected) = expected
                && !expected.eq_ignore_ascii_case(actual)
            {
                return Err(Error::ChecksumMismatch(format!(
                    "the file's {name} is {actual}, not the announced {expected}: it was damaged on the way; nothing was stored"
                )));
            }
        }
        Ok(())
    }
}

/// `value` as a digest of `len` hex digits, lowercased (the form digests
/// and content keys are stored in); `None` when it is not one.
pub fn hex_digest(value: &str, len: usize) -> Option<String> {
    let value = value.trim();
    (value.len() == len && value.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| value.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::digest_bytes;

    #[test]
    fn announced_digests_are_checked_each_and_any_case() {
        let d = digest_bytes(b"abc");
        assert!(Announced::default().check(&d).is_ok());
        let right = Announced {
            sha1: Some(d.sha1.to_uppercase()),
            sha256: Some(d.sha256.clone()),
            blake3: Some(d.blake3.clone()),
        };
        assert!(right.check(&d).is_ok());
        let other = digest_bytes(b"abd");
        for (name, wrong) in [
            (
                "SHA-1",
                Announced {
                    sha1: Some(other.sha1.clone()),
                    ..right.clone()
                },
            ),
            (
                "SHA-256",
                Announced {
                    sha256: Some(other.sha256.clone()),
                    ..right.clone()
                },
            ),
            (
                "BLAKE3",
                Announced {
                    blake3: Some(other.blake3.clone()),
                    ..right.clone()
                },
            ),
        ] {
            let message = wrong.check(&d).unwrap_err().to_string();
            assert!(
                message.contains(name) && message.contains("nothing was stored"),
                "{message}"
            );
        }
    }
}
