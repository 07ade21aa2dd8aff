use object_store::path::Path;

/// Where an object lives, derived from its BLAKE3 digest: identical bytes get
/// the same key, so storing them twice is a no-op.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    pub fn from_blake3(hex: &str) -> Self {
        debug_assert_eq!(hex.len(), 64);
        Self(format!("blobs/blake3/{}/{hex}", &hex[..2]))
    }

    /// A key read back from the database.
    pub fn from_stored(key: String) -> Self {
        Self(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn path(&self) -> Path {
        Path::from(self.0.as_str())
    }
}

impl std::fmt::Display for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_fans_out_by_first_byte() {
        let hex = "ab".repeat(32);
        let key = BlobKey::from_blake3(&hex);
        assert_eq!(key.as_str(), format!("blobs/blake3/ab/{hex}"));
        assert_eq!(key.path().as_ref(), key.as_str());
    }
}
