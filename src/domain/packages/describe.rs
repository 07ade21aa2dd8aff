//! What a package is, read from its stored bytes: an RPM's header (checked
//! against the RPM's own digests, with its repository metadata), or a
//! script's name.

use futures::TryStreamExt;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::Packages;
use super::ingest::{Origin, Submission};
use crate::db::packages::NewPackage;
use crate::domain::classify::PackageType;
use crate::domain::filename::{check_stored_name, script_extension};
use crate::domain::repos::rpmmd::{FileFacts, Fragments, fragments};
use crate::domain::rpm_header::{RpmInfo, is_rpm, read_rpm_metadata};
use crate::domain::rpm_integrity::{Received, check_rpm, covered_by_sha256};
use crate::error::{Error, Result};
use crate::store::Staged;

impl Packages {
    /// Reads what the package is from its bytes: an RPM's header, or a
    /// script's name; for an RPM, its repository metadata too.
    pub(super) async fn describe(
        &self,
        staged: &Staged,
        upload: &Submission,
    ) -> Result<(NewPackage, Option<RpmInfo>, Option<Fragments>)> {
        let deletable = upload.origin != Origin::Preload;
        if is_rpm(&staged.magic) {
            let stream = self.store.get(&staged.path, None).await?.into_stream();
            let reader =
                SyncIoBridge::new(StreamReader::new(stream.map_err(std::io::Error::other)));
            let (sha256, size) = (staged.digests.sha256.clone(), staged.size);
            let parsed = tokio::task::spawn_blocking(move || {
                let (info, digests, meta) = read_rpm_metadata(reader)?;
                let facts = FileFacts {
                    sha256,
                    size,
                    time: chrono::Utc::now().timestamp(),
                };
                let repo = fragments(&meta, &facts).ok();
                Ok::<_, String>((info, digests, repo))
            });
            let (info, digests, repo) = match parsed.await {
                Ok(parsed) => parsed.map_err(Error::IllegalArgument)?,
                // The rpm crate panics on some inconsistent headers: that is bad input, not a bug of ours.
                Err(e) if e.is_panic() => {
                    return Err(Error::invalid(
                        "not a valid RPM package: its header is damaged",
                    ));
                }
                Err(e) => return Err(Error::internal(e)),
            };
            if let Some(expected) = info.expected_size.filter(|e| *e != staged.size) {
                return Err(Error::invalid(format!(
                    "the RPM is damaged or truncated: its header announces {expected} bytes, {} arrived",
                    staged.size
                )));
            }
            let signed = staged.digests.rpm_signed.as_ref();
            // Left off while streaming when the headers carried both SHA-256
            // tags: read back only when those turned out not to be usable.
            let signed_md5 = if info.signed_md5.is_some() && !covered_by_sha256(&digests) {
                self.store.signed_md5(staged).await?
            } else {
                signed.and_then(|s| s.md5.clone())
            };
            let received = Received {
                signed_md5: signed_md5.as_deref(),
                payload_sha256: signed.and_then(|s| s.payload_sha256.as_deref()),
            };
            check_rpm(&info, &digests, received).map_err(Error::IllegalArgument)?;
            let package_type = match upload.declared_type {
                Some(PackageType::Script) => {
                    return Err(Error::invalid(
                        "this file is an RPM package, not a SCRIPT; declare an RPM type",
                    ));
                }
                Some(declared) => declared,
                None => info.package_type,
            };
            let file_name = info.file_name();
            check_stored_name(&file_name)
                .map_err(|e| Error::invalid(format!("the RPM header is unusable: {e}")))?;
            let new = NewPackage {
                file_name,
                extension: "rpm".into(),
                package_type: package_type.as_str().into(),
                build_number: info.build_number().into(),
                operating_system: info.operating_system().into(),
                name: info.name.clone(),
                version: info.version.clone(),
                release: info.release.clone(),
                architecture: info.arch.clone(),
                deletable,
            };
            return Ok((new, Some(info), repo));
        }
        let name = upload.client_name.as_deref().unwrap_or_default();
        if let Some(declared) = upload.declared_type.filter(|t| *t != PackageType::Script) {
            return Err(Error::invalid(format!(
                "{name:?} is not an RPM package, so it cannot be of type {declared}; scripts are SCRIPT"
            )));
        }
        let Some(extension) = script_extension(name) else {
            return Err(Error::invalid(format!(
                "{name:?} is neither an RPM package nor a script (.sh, .py)"
            )));
        };
        check_stored_name(name).map_err(Error::IllegalArgument)?;
        let new = NewPackage {
            name: name.into(),
            file_name: name.into(),
            extension: extension.into(),
            package_type: PackageType::Script.as_str().into(),
            version: String::new(),
            release: String::new(),
            build_number: String::new(),
            operating_system: String::new(),
            architecture: String::new(),
            deletable,
        };
        Ok((new, None, None))
    }
}
