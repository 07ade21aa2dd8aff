//! Built-in packages: files in the preload directory, imported at start.

use std::path::Path;

use tokio_util::io::ReaderStream;

use super::packages::{Ingested, Origin, Outcome, Packages, Submission};

/// Imports every regular file of `dir`. Idempotent: files already imported
/// are found again. A bad file is logged and skipped so that one broken
/// package cannot keep every replica from starting.
pub async fn preload(packages: &Packages, dir: &Path, limit: u64) -> std::io::Result<()> {
    let mut entries = Vec::new();
    let mut read = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = read.next_entry().await? {
        // Following links: Kubernetes mounts ConfigMaps and volumes as symlinks.
        if tokio::fs::metadata(entry.path()).await?.is_file() {
            entries.push(entry.path());
        }
    }
    entries.sort();
    for path in entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let file = tokio::fs::File::open(&path).await?;
        let upload = Submission {
            client_name: name,
            origin: Origin::Preload,
            ..Submission::default()
        };
        let slot = packages
            .admit("preload", None, limit)
            .map_err(std::io::Error::other)?;
        match packages
            .ingest(
                slot,
                ReaderStream::with_capacity(file, 1 << 20),
                upload,
                limit,
            )
            .await
        {
            Ok(Ingested {
                package: p,
                outcome: Outcome::Created,
                ..
            }) => {
                tracing::info!(id = p.id, file = %p.file_name, "preloaded a built-in package")
            }
            Ok(Ingested {
                package: p,
                outcome: Outcome::Existing,
                ..
            }) => {
                tracing::debug!(id = p.id, file = %p.file_name, "built-in package present")
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "skipping a preload file")
            }
        }
    }
    Ok(())
}
