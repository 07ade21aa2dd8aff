//! An RPM checked against what it says of itself, so that a damaged or
//! altered package is refused instead of stored. RPMs carry two generations
//! of digests, and depot checks each one the package has:
//!
//! - the signature's MD5 over the main header and the payload (rpm's "v3"
//!   digest: rpmbuild up to 4.x writes it; rpm 6 and the `rpm` crate leave
//!   it out);
//! - the signature's SHA-256 of the main header, and the main header's
//!   SHA-256 of the (compressed) payload, PAYLOADDIGEST (rpm 4.14 and later).
//!
//! A package with none of them (rpm before 4.14 built without MD5; hand-made
//! ones) has nothing to be checked against and passes.

use super::rpm_header::RpmInfo;

/// What an RPM's headers say of its bytes (read by `rpm_header::read_rpm`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RpmDigests {
    /// Whether the main header hashes to the SHA-256 the signature holds for
    /// it; `None` when the signature holds none.
    pub header_sha256_matches: Option<bool>,
    /// The payload's SHA-256 (PAYLOADDIGEST), lowercase hex.
    pub payload_sha256: Option<String>,
}

/// The digests of the bytes that arrived; `None` when they end too early to
/// have one.
#[derive(Clone, Copy, Debug, Default)]
pub struct Received<'a> {
    /// MD5 of everything after the signature.
    pub signed_md5: Option<&'a str>,
    /// SHA-256 of everything after the main header.
    pub payload_sha256: Option<&'a str>,
}

const DAMAGED: &str = "it is corrupt, damaged on the way or altered";

/// Checks the signature's MD5 against the MD5 of the bytes that arrived.
pub fn check_signed_md5(rpm: &RpmInfo, computed: Option<&str>) -> Result<(), String> {
    match (&rpm.signed_md5, computed) {
        (None, _) => Ok(()),
        (Some(signed), Some(computed)) if signed == computed => Ok(()),
        (Some(signed), computed) => Err(format!(
            "the RPM's MD5 digest does not match its contents: {DAMAGED} (its signature says MD5 {signed}, the bytes received hash to {}); nothing was stored",
            computed.unwrap_or("nothing")
        )),
    }
}

/// Whether the RPM's SHA-256 digests cover everything its MD5 does: the
/// main header (already found to match) and the payload (checked against the
/// bytes). The MD5 need not be computed then.
pub fn covered_by_sha256(digests: &RpmDigests) -> bool {
    digests.header_sha256_matches == Some(true) && digests.payload_sha256.is_some()
}

/// Checks every digest the RPM carries against the bytes that arrived; its
/// MD5 only when computed or not covered by its SHA-256 digests.
pub fn check_rpm(rpm: &RpmInfo, digests: &RpmDigests, received: Received) -> Result<(), String> {
    if received.signed_md5.is_some() || !covered_by_sha256(digests) {
        check_signed_md5(rpm, received.signed_md5)?;
    }
    if digests.header_sha256_matches == Some(false) {
        return Err(format!(
            "the RPM's header does not match the SHA-256 digest its signature holds for it: {DAMAGED}; nothing was stored"
        ));
    }
    match (&digests.payload_sha256, received.payload_sha256) {
        (None, _) => Ok(()),
        (Some(expected), Some(computed)) if expected == computed => Ok(()),
        (Some(expected), computed) => Err(format!(
            "the RPM's payload does not match its SHA-256 digest: {DAMAGED} (its header says {expected}, the bytes received hash to {}); nothing was stored",
            computed.unwrap_or("nothing")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::classify::PackageType;

    const MD5: &str = "550d75397013d00ca0a8e529d17020c3";
    const SHA256: &str = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85";
    const OTHER: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    fn rpm(signed_md5: Option<&str>) -> RpmInfo {
        RpmInfo {
            name: "obshell".into(),
            version: "4.2.1.1".into(),
            release: "1.el7".into(),
            arch: "x86_64".into(),
            package_type: PackageType::OthersRpm,
            expected_size: None,
            signed_md5: signed_md5.map(str::to_string),
            installed_size: None,
            payload_offset: 0,
            payload_compressor: None,
            has_observer: false,
        }
    }

    fn received<'a>(md5: &'a str, sha256: &'a str) -> Received<'a> {
        Received {
            signed_md5: Some(md5),
            payload_sha256: Some(sha256),
        }
    }

    #[test]
    fn the_signed_md5_must_match_when_there_is_one() {
        let signed = rpm(Some(MD5));
        assert!(check_signed_md5(&signed, Some(MD5)).is_ok());
        let err = check_signed_md5(&signed, Some(&OTHER[..32])).unwrap_err();
        assert!(err.contains("does not match its contents"), "{err}");
        assert!(err.contains(&OTHER[..32]), "{err}");
        assert!(check_signed_md5(&signed, None).is_err());
        // Signed without an MD5: nothing to check.
        assert!(check_signed_md5(&rpm(None), Some("abc")).is_ok());
    }

    #[test]
    fn each_digest_the_rpm_carries_is_checked() {
        let digests = RpmDigests {
            header_sha256_matches: Some(true),
            payload_sha256: Some(SHA256.into()),
        };
        assert!(check_rpm(&rpm(Some(MD5)), &digests, received(MD5, SHA256)).is_ok());
        // Without an MD5, the SHA-256 digests still hold it.
        let err = check_rpm(&rpm(None), &digests, received(MD5, OTHER)).unwrap_err();
        assert!(err.contains("payload does not match"), "{err}");
        let bad_header = RpmDigests {
            header_sha256_matches: Some(false),
            ..digests.clone()
        };
        let err = check_rpm(&rpm(None), &bad_header, received(MD5, SHA256)).unwrap_err();
        assert!(err.contains("header does not match"), "{err}");
        // Ending before its payload: nothing hashes to the digest.
        let cut = Received {
            payload_sha256: None,
            ..received(MD5, SHA256)
        };
        assert!(check_rpm(&rpm(None), &digests, cut).is_err());
        // Signed with an MD5 that was not computed: the SHA-256 digests
        // stand for it, only when there are both.
        let uncomputed = Received {
            signed_md5: None,
            ..received(MD5, SHA256)
        };
        assert!(check_rpm(&rpm(Some(MD5)), &digests, uncomputed).is_ok());
        assert!(check_rpm(&rpm(Some(MD5)), &bad_header, uncomputed).is_err());
        let no_payload_digest = RpmDigests {
            payload_sha256: None,
            ..digests.clone()
        };
        let err = check_rpm(&rpm(Some(MD5)), &no_payload_digest, uncomputed).unwrap_err();
        assert!(err.contains("MD5 digest does not match"), "{err}");
        // Nothing carried, nothing to check.
        let none = RpmDigests::default();
        assert!(check_rpm(&rpm(None), &none, Received::default()).is_ok());
    }
}
