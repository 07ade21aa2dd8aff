//! A patch's two signatures, checked as StarlingX checks them (pure).
//!
//! `signature`: 128 one-bits XORed with each inner tar's MD5 (as an integer),
//! written as lowercase hex; verifying XORs the same MD5s in again and expects
//! all ones. `signature.v2`: RSA over the SHA-256 of the inner tars, PSS
//! (salt as long as the digest, PyCryptodome's default) or PKCS#1 v1.5,
//! against the certificates the operator trusts.

use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey, pss::Pss};
use sha2::Sha256;
use x509_cert::Certificate;
use x509_cert::der::Encode;

/// StarlingX's refusals, word for word.
pub const FAILED_VERIFICATION: &str = "Patch failed verification";
pub const NOT_SIGNED: &str = "Patch has not been signed";
pub const SIGNATURE_CHECK_FAILED: &str = "Signature check failed";

/// Whether `signature` (the MD5-XOR) matches the inner tars' MD5s.
pub fn md5_xor_matches(signature: &str, md5s: &[[u8; 16]]) -> bool {
    let Ok(mut value) = u128::from_str_radix(signature.trim(), 16) else {
        return false;
    };
    for md5 in md5s {
        value ^= u128::from_be_bytes(*md5);
    }
    value == u128::MAX
}

/// The MD5-XOR `signature` of these MD5s, as StarlingX writes it (`"%x"`).
pub fn md5_xor_signature(md5s: &[[u8; 16]]) -> String {
    let value = md5s
        .iter()
        .fold(u128::MAX, |v, md5| v ^ u128::from_be_bytes(*md5));
    format!("{value:x}")
}

/// The RSA keys of the certificates trusted to sign patches.
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    keys: Vec<RsaPublicKey>,
}

impl TrustedKeys {
    /// Adds every certificate of a PEM file (a bundle may hold several); a
    /// bare `PUBLIC KEY` is taken too. Refuses a file with no RSA key.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<usize, String> {
        let text = std::str::from_utf8(pem).map_err(|_| "not a PEM file".to_owned())?;
        let before = self.keys.len();
        if text.contains("-----BEGIN CERTIFICATE-----") {
            let certs = Certificate::load_pem_chain(pem)
                .map_err(|e| format!("unreadable certificate: {e}"))?;
            for cert in certs {
                let spki = cert
                    .tbs_certificate
                    .subject_public_key_info
                    .to_der()
                    .map_err(|e| format!("unreadable certificate key: {e}"))?;
                let key = RsaPublicKey::from_public_key_der(&spki)
                    .map_err(|e| format!("the certificate's key is not RSA: {e}"))?;
                self.keys.push(key);
            }
        } else if text.contains("-----BEGIN PUBLIC KEY-----") {
            let key = RsaPublicKey::from_public_key_pem(text)
                .map_err(|e| format!("unreadable public key: {e}"))?;
            self.keys.push(key);
        }
        match self.keys.len() - before {
            0 => Err("no certificate (PEM `CERTIFICATE`) in the file".into()),
            n => Ok(n),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether one trusted key signed `sha256` (PSS, then PKCS#1 v1.5).
    pub fn verify(&self, sha256: &[u8; 32], signature: &[u8]) -> bool {
        self.keys.iter().any(|key| {
            key.verify(Pss::new::<Sha256>(), sha256, signature).is_ok()
                || key
                    .verify(Pkcs1v15Sign::new::<Sha256>(), sha256, signature)
                    .is_ok()
        })
    }
}

/// What the operator allows of patches' signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Unsigned {
    /// A patch without `signature.v2` is refused (StarlingX's rule).
    #[default]
    Refuse,
    /// A patch without `signature.v2` is accepted when its MD5-XOR
    /// `signature` is right (`--patch-allow-unsigned`); a present but wrong
    /// `signature.v2` is still refused.
    Allow,
}

/// Checks both signatures of a read patch; the error is StarlingX's message.
pub fn verify(
    signature: Option<&str>,
    signature_v2: Option<&[u8]>,
    md5s: &[[u8; 16]],
    sha256: &[u8; 32],
    trusted: &TrustedKeys,
    unsigned: Unsigned,
) -> Result<(), &'static str> {
    match signature {
        Some(sig) if md5_xor_matches(sig, md5s) => {}
        _ => return Err(FAILED_VERIFICATION),
    }
    match signature_v2 {
        None if unsigned == Unsigned::Allow => Ok(()),
        None => Err(NOT_SIGNED),
        Some(sig) if trusted.verify(sha256, sig) => Ok(()),
        Some(_) => Err(SIGNATURE_CHECK_FAILED),
    }
}
