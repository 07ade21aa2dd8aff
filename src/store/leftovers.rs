//! What interrupted writes leave in a store where no listing of objects
//! looks: a local store's temporary files (object_store writes `name#N` and
//! renames it into place; a killed process leaves it, and listing skips such
//! names), and S3 multipart uploads never completed nor aborted (a client
//! that hung up, a replica killed mid-copy), which hold their parts' bytes
//! until someone aborts them. GC removes them and the doctor reports them,
//! so that every byte depot can leave behind is accounted for.

use std::path::{Path as FsPath, PathBuf};

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use chrono::{DateTime, Utc};

use super::BlobStore;
use super::error::sdk_error;
use super::key::Area;
use super::s3::S3Sdk;
use crate::error::{Error, Result};

/// At most this many leftovers are looked at in one pass: a store full of
/// them is cleaned over several passes, each with bounded memory and calls.
pub const MAX_PER_PASS: usize = 10_000;

/// A write that never finished.
#[derive(Clone, Debug)]
pub struct Leftover {
    pub kind: LeftoverKind,
    /// What it would have become (the object's key).
    pub name: String,
    pub size: u64,
    /// When it was last written (a temp file) or begun (a multipart upload).
    pub since: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub enum LeftoverKind {
    /// A local store's temporary file.
    TempFile(PathBuf),
    /// An S3 multipart upload.
    Multipart { key: String, upload_id: String },
}

/// How far a store could be searched for leftovers.
#[derive(Clone, Debug)]
pub struct Search {
    pub found: Vec<Leftover>,
    /// Why part of the store could not be searched, if so.
    pub blind_spot: Option<String>,
}

impl BlobStore {
    /// Unfinished writes, up to [`MAX_PER_PASS`].
    pub async fn leftovers(&self) -> Result<Search> {
        if let Some(root) = self.local_root.clone() {
            let found = tokio::task::spawn_blocking(move || temp_files(&root, MAX_PER_PASS))
                .await
                .map_err(Error::internal)??;
            return Ok(Search {
                found,
                blind_spot: None,
            });
        }
        match &self.sdk {
            Some(sdk) => multipart_uploads(sdk, MAX_PER_PASS).await,
            None => Ok(Search {
                found: Vec::new(),
                blind_spot: Some(
                    "unfinished S3 multipart uploads cannot be listed without static S3 credentials"
                        .into(),
                ),
            }),
        }
    }

    /// Removes a leftover; one already gone is not an error.
    pub async fn remove_leftover(&self, leftover: &Leftover) -> Result<()> {
        match &leftover.kind {
            LeftoverKind::TempFile(path) => match tokio::fs::remove_file(path).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            },
            LeftoverKind::Multipart { key, upload_id } => {
                let sdk = self
                    .sdk
                    .as_ref()
                    .ok_or_else(|| Error::internal("a multipart upload without an S3 client"))?;
                let aborted = sdk
                    .client
                    .abort_multipart_upload()
                    .bucket(&sdk.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .send()
                    .await;
                match aborted {
                    Ok(_) => Ok(()),
                    // Completed or aborted meanwhile: gone either way.
                    Err(e) if no_such_upload(&e) => Ok(()),
                    Err(e) => Err(sdk_error(e)),
                }
            }
        }
    }
}

/// object_store's name for a file being written: `<name>#<digits>`.
fn is_temp_name(name: &str) -> bool {
    matches!(name.rsplit_once('#'), Some((_, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Temporary files under `root`, walked without recursion (a deep tree
/// cannot exhaust the stack).
fn temp_files(root: &FsPath, limit: usize) -> Result<Vec<Leftover>> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(entry.path());
                continue;
            }
            let name = entry.file_name();
            let Some(name) = name.to_str().filter(|n| kind.is_file() && is_temp_name(n)) else {
                continue;
            };
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            let path = entry.path();
            let relative = path.strip_prefix(root).unwrap_or(&path);
            let object = relative.with_file_name(name.rsplit_once('#').map_or(name, |(n, _)| n));
            found.push(Leftover {
                kind: LeftoverKind::TempFile(path.clone()),
                name: object.to_string_lossy().into_owned(),
                size: meta.len(),
                since: meta
                    .modified()
                    .map(DateTime::from)
                    .unwrap_or_else(|_| Utc::now()),
            });
            if found.len() >= limit {
                return Ok(found);
            }
        }
    }
    Ok(found)
}

/// Multipart uploads under depot's own areas (never elsewhere in a bucket
/// that may be shared), with the bytes their parts hold. A server that cannot
/// list them (s3s-fs answers 501) is a blind spot, not a failure: GC goes on
/// with everything else.
async fn multipart_uploads(sdk: &S3Sdk, limit: usize) -> Result<Search> {
    let mut found = Vec::new();
    for area in Area::ALL {
        let prefix = sdk.full_key(&area.path());
        let prefix = format!("{}/", prefix.trim_end_matches('/'));
        let (mut key_marker, mut id_marker) = (None, None);
        loop {
            let page = sdk
                .client
                .list_multipart_uploads()
                .bucket(&sdk.bucket)
                .prefix(&prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) if not_implemented(&e) => {
                    return Ok(Search {
                        found,
                        blind_spot: Some(
                            "this S3 server cannot list unfinished multipart uploads \
                             (ListMultipartUploads is not implemented): abort them with its \
                             own tools, or a lifecycle rule"
                                .into(),
                        ),
                    });
                }
                Err(e) => return Err(sdk_error(e)),
            };
            for upload in page.uploads() {
                let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) else {
                    continue;
                };
                // Completed or aborted since the listing: not a leftover.
                let Some(size) = parts_size(sdk, key, id).await? else {
                    continue;
                };
                let since = upload
                    .initiated()
                    .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
                    .unwrap_or_else(Utc::now);
                found.push(Leftover {
                    kind: LeftoverKind::Multipart {
                        key: key.to_string(),
                        upload_id: id.to_string(),
                    },
                    name: unprefixed(sdk, key),
                    size,
                    since,
                });
                if found.len() >= limit {
                    return Ok(Search {
                        found,
                        blind_spot: None,
                    });
                }
            }
            if !page.is_truncated().unwrap_or(false) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            id_marker = page.next_upload_id_marker().map(str::to_string);
            if key_marker.is_none() {
                break;
            }
        }
    }
    Ok(Search {
        found,
        blind_spot: None,
    })
}

fn unprefixed(sdk: &S3Sdk, key: &str) -> String {
    match &sdk.prefix {
        Some(p) => key
            .strip_prefix(p.as_str())
            .map(|k| k.trim_start_matches('/'))
            .unwrap_or(key)
            .to_string(),
        None => key.to_string(),
    }
}

/// Whether an S3 error says the server lacks the call.
fn not_implemented<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    e.raw_response().is_some_and(|r| r.status().as_u16() == 501)
        || e.as_service_error()
            .is_some_and(|e| e.meta().code() == Some("NotImplemented"))
}

/// Whether an S3 error says the multipart upload no longer exists.
fn no_such_upload<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    e.as_service_error()
        .is_some_and(|e| e.meta().code() == Some("NoSuchUpload"))
}

/// The bytes an unfinished upload's parts hold; `None` once it is gone.
async fn parts_size(sdk: &S3Sdk, key: &str, upload_id: &str) -> Result<Option<u64>> {
    let mut total = 0u64;
    let mut marker = None;
    loop {
        let page = sdk
            .client
            .list_parts()
            .bucket(&sdk.bucket)
            .key(key)
            .upload_id(upload_id)
            .set_part_number_marker(marker.take())
            .send()
            .await;
        let page = match page {
            Ok(page) => page,
            Err(e) if no_such_upload(&e) => return Ok(None),
            Err(e) => return Err(sdk_error(e)),
        };
        total += page
            .parts()
            .iter()
            .map(|p| p.size().unwrap_or(0).max(0) as u64)
            .sum::<u64>();
        if !page.is_truncated().unwrap_or(false) {
            return Ok(Some(total));
        }
        marker = page.next_part_number_marker().map(str::to_string);
        if marker.is_none() {
            return Ok(Some(total));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_object_stores() {
        assert!(is_temp_name("0123-abc#1"));
        assert!(is_temp_name("x#42"));
        assert!(!is_temp_name("x#"));
        assert!(!is_temp_name("x#1a"));
        assert!(!is_temp_name("plain"));
    }

    #[test]
    fn temp_files_are_found_at_any_depth_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("staging/a/b");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("obj#1"), b"12345").unwrap();
        std::fs::write(deep.join("obj"), b"done").unwrap();
        std::fs::write(dir.path().join("staging/other#7"), b"1").unwrap();
        let mut found = temp_files(dir.path(), 10).unwrap();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<_> = found.iter().map(|l| (l.name.as_str(), l.size)).collect();
        assert_eq!(names, [("staging/a/b/obj", 5), ("staging/other", 1)]);
        assert_eq!(temp_files(dir.path(), 1).unwrap().len(), 1);
    }

    /// An S3 server without ListMultipartUploads (s3s-fs answers 501, as
    /// this one does to everything): a blind spot, so that GC goes on.
    #[tokio::test]
    async fn a_server_that_cannot_list_uploads_is_a_blind_spot() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 << 10];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NotImplemented</Code>\
                                    <Message>ListMultipartUploads is not implemented yet</Message></Error>";
                        let answer = format!(
                            "HTTP/1.1 501 Not Implemented\r\ncontent-type: application/xml\r\n\
                             content-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if socket.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let mut s3 = crate::config::S3Config::new("bucket");
        s3.endpoint = Some(format!("http://{addr}"));
        s3.region = Some("us-east-1".into());
        s3.access_key_id = Some("GK0123456789".into());
        s3.secret_access_key = Some(crate::config::Secret::new("0123456789abcdef0123"));
        let store = BlobStore::open(&crate::config::StorageConfig::S3(s3), 1 << 30).unwrap();
        let search = store.leftovers().await.unwrap();
        assert!(search.found.is_empty());
        let blind = search.blind_spot.expect("a blind spot");
        assert!(blind.contains("ListMultipartUploads"), "{blind}");
    }
}
