//! The key namespace: every object depot writes, and under which prefix.
//! One owner, so that uploads, GC and the doctor agree on what lives where.
//!
//! | area       | key                                   | written by                  |
//! |------------|---------------------------------------|-----------------------------|
//! | `blobs/`   | `blobs/blake3/<2 hex>/<64 hex>`       | an ingest, under its digest |
//! | `staging/` | `staging/<uuid>`                      | an upload while it is hashed|
//! | `uploads/` | `uploads/<id>/<offset:020>-<uuid>`    | a resumable upload's PATCH  |
//! | `doctor/`  | `doctor/probe-<uuid>`                 | the doctor's store probe    |
//! | `repos/`   | `repos/<os>/<arch>/<uuid>.xml.gz`     | a repository's publication  |

use object_store::path::Path;
use uuid::Uuid;

/// A part of the namespace, for listing and collecting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// Content-addressed package bytes.
    Blobs,
    /// Uploads being hashed before they get their content key.
    Staging,
    /// Parts of resumable uploads.
    Uploads,
    /// The doctor's probe objects.
    Probes,
    /// yum repositories' metadata files, each referenced by a `repo_files`
    /// row that its publication's cleanup removes; GC removes those no row
    /// references (a publication that never switched) after the staging grace.
    Repos,
}

impl Area {
    pub const ALL: [Area; 5] = [
        Area::Blobs,
        Area::Staging,
        Area::Uploads,
        Area::Probes,
        Area::Repos,
    ];

    pub fn prefix(self) -> &'static str {
        match self {
            Area::Blobs => "blobs/",
            Area::Staging => "staging/",
            Area::Uploads => "uploads/",
            Area::Probes => "doctor/",
            Area::Repos => "repos/",
        }
    }

    pub(crate) fn path(self) -> Path {
        Path::from(self.prefix())
    }
}

/// Where an object lives, derived from its BLAKE3 digest: identical bytes get
/// the same key, so storing them twice is a no-op.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlobKey(String);

impl BlobKey {
    pub fn from_blake3(hex: &str) -> Self {
        debug_assert_eq!(hex.len(), 64);
        Self(format!(
            "{}blake3/{}/{hex}",
            Area::Blobs.prefix(),
            &hex[..2]
        ))
    }

    /// A key read back from the database.
    pub fn from_stored(key: String) -> Self {
        Self(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The BLAKE3 digest (hex) the key is named by; `None` for a key that
    /// is not a content key.
    pub fn blake3_hex(&self) -> Option<&str> {
        let hex = self.0.strip_prefix("blobs/blake3/")?.split_once('/')?.1;
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
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

/// A fresh staging object for one upload.
pub(crate) fn staging_object() -> Path {
    Path::from(format!("{}{}", Area::Staging.prefix(), Uuid::new_v4()))
}

/// A fresh probe object for the doctor.
pub(crate) fn probe_object() -> Path {
    Path::from(format!("{}probe-{}", Area::Probes.prefix(), Uuid::new_v4()))
}

/// A new object for a metadata file of repository `os`/`arch` (names
/// checked by the domain: letters, digits, `._+-~`). Never overwritten: its
/// name in the repository (`<sha256>-primary.xml.gz`) is a database row's.
pub fn repo_object(os: &str, arch: &str) -> Path {
    Path::from(format!(
        "{}{os}/{arch}/{}.xml.gz",
        Area::Repos.prefix(),
        Uuid::new_v4()
    ))
}

/// A new part of resumable upload `upload_id`, starting at `offset`. The
/// zero-padded offset makes a listing return the parts in order; the UUID
/// keeps two writers at one offset apart.
pub fn upload_part(upload_id: &str, offset: u64) -> Path {
    Path::from(format!(
        "{}{upload_id}/{offset:020}-{}",
        Area::Uploads.prefix(),
        Uuid::new_v4()
    ))
}

/// Everything stored for resumable upload `upload_id`.
pub(crate) fn upload_parts(upload_id: &str) -> Path {
    Path::from(format!("{}{upload_id}/", Area::Uploads.prefix()))
}

/// The upload a part belongs to, for a key under `uploads/`.
pub fn upload_of_part(part: &Path) -> Option<&str> {
    part.as_ref()
        .strip_prefix(Area::Uploads.prefix())?
        .split_once('/')
        .map(|(id, _)| id)
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

    #[test]
    fn every_key_is_in_its_area() {
        let hex = "cd".repeat(32);
        assert!(
            BlobKey::from_blake3(&hex)
                .as_str()
                .starts_with(Area::Blobs.prefix())
        );
        assert!(
            staging_object()
                .as_ref()
                .starts_with(Area::Staging.prefix())
        );
        assert!(probe_object().as_ref().starts_with(Area::Probes.prefix()));
        let part = upload_part("abc", 42);
        assert!(part.as_ref().starts_with(upload_parts("abc").as_ref()));
        assert!(part.as_ref().contains("/00000000000000000042-"));
        assert_eq!(upload_of_part(&part), Some("abc"));
        assert_eq!(upload_of_part(&Path::from("blobs/x/y")), None);
    }
}
