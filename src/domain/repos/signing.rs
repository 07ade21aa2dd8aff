//! The repositories' OpenPGP key: generated once (Ed25519, which gpg has
//! read since 2.1 and so every dnf does) or given, and detached ASCII-armoured
//! signatures of repomd.xml with it, as `gpg --detach-sign --armor` makes.

use pgp::composed::{
    ArmorOptions, Deserializable, DetachedSignature, EncryptionCaps, KeyType,
    SecretKeyParamsBuilder, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::types::{KeyDetails, Password};

/// Who the generated key says it is.
const USER_ID: &str = "depot repository signing key <depot@localhost>";

pub struct RepoKey {
    secret: SignedSecretKey,
    /// The secret key, ASCII-armoured: what is persisted.
    pub secret_armored: String,
    /// The public key, ASCII-armoured: `/repos/RPM-GPG-KEY-depot`.
    pub public_armored: String,
    pub fingerprint: String,
}

impl std::fmt::Debug for RepoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoKey")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl RepoKey {
    /// A new key: one Ed25519 primary key that certifies and signs.
    pub fn generate() -> Result<Self, String> {
        let params = SecretKeyParamsBuilder::default()
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .can_encrypt(EncryptionCaps::None)
            .primary_user_id(USER_ID.into())
            .build()
            .map_err(|e| format!("OpenPGP key parameters: {e}"))?;
        let secret = params
            .generate(rand08::thread_rng())
            .map_err(|e| format!("generating the OpenPGP key: {e}"))?;
        Self::from_key(secret)
    }

    /// A key given ASCII-armoured (`gpg --export-secret-keys --armor`), without a passphrase.
    pub fn from_armored(secret: &str) -> Result<Self, String> {
        let (secret, _) = SignedSecretKey::from_string(secret)
            .map_err(|e| format!("not an ASCII-armoured OpenPGP secret key: {e}"))?;
        Self::from_key(secret)
    }

    fn from_key(secret: SignedSecretKey) -> Result<Self, String> {
        let armor = |r: pgp::errors::Result<String>| r.map_err(|e| format!("armouring: {e}"));
        let secret_armored = armor(secret.to_armored_string(ArmorOptions::default()))?;
        let public_armored = armor(
            secret
                .to_public_key()
                .to_armored_string(ArmorOptions::default()),
        )?;
        let fingerprint = hex::encode_upper(secret.fingerprint().as_bytes());
        Ok(Self {
            secret,
            secret_armored,
            public_armored,
            fingerprint,
        })
    }

    /// The detached, ASCII-armoured signature of `data`.
    pub fn sign(&self, data: &[u8]) -> Result<String, String> {
        let signature = DetachedSignature::sign_binary_data(
            rand08::thread_rng(),
            &self.secret.primary_key,
            &Password::empty(),
            HashAlgorithm::Sha256,
            data,
        )
        .map_err(|e| format!("signing: {e}"))?;
        signature
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| format!("armouring the signature: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_survives_a_round_trip() {
        let key = RepoKey::generate().unwrap();
        let again = RepoKey::from_armored(&key.secret_armored).unwrap();
        assert_eq!(again.fingerprint, key.fingerprint);
        assert!(key.public_armored.contains("BEGIN PGP PUBLIC KEY BLOCK"));
        let signature = again.sign(b"<repomd/>").unwrap();
        assert!(signature.contains("BEGIN PGP SIGNATURE"));
        let (parsed, _) = DetachedSignature::from_string(&signature).unwrap();
        parsed
            .verify(&key.secret.to_public_key(), b"<repomd/>")
            .unwrap();
        assert!(
            parsed
                .verify(&key.secret.to_public_key(), b"<repomd></repomd>")
                .is_err()
        );
    }
}
