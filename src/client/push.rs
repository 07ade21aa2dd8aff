//! `depot push`: uploads over the resumable protocol, surviving cut links.

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::{StreamExt, TryStreamExt};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};
use reqwest::{Method, Response, StatusCode};
use sha1::{Digest, Sha1};
use tokio::io::AsyncSeekExt;
use tokio_util::io::ReaderStream;
use url::Url;

use super::retry::{Announce, Failure, Policy, retry};
use super::{Client, ClientError, ClientResult, check, error_of, progress};
use crate::api_types::SoftwarePackageMeta;

const TUS: (&str, &str) = ("tus-resumable", "1.0.0");
/// The error code of an upload that is busy (another PATCH holds it) or on
/// another replica: HEAD tells where it stands.
const UPLOAD_BUSY: u32 = 90011;

/// Pushes `files`, `jobs` at a time; prints `ID<TAB>FILE NAME` for each.
/// Every file is tried; the first failure decides the exit code. A failure
/// is said once: with one file, by the error returned (`main` prints it);
/// with several, as it happens, and the error returned counts them.
pub async fn push(
    client: &Client,
    files: &[PathBuf],
    declared_type: Option<&str>,
    jobs: usize,
) -> ClientResult<()> {
    let bars = if client.interactive {
        MultiProgress::new()
    } else {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    };
    let several = files.len() > 1;
    let results: Vec<ClientResult<()>> = futures::stream::iter(files)
        .map(|file| {
            let bars = bars.clone();
            async move {
                let result = push_one(client, file, declared_type, &bars)
                    .await
                    .map_err(|e| e.about(&file.display().to_string()));
                match &result {
                    Ok((id, name)) => bars.suspend(|| println!("{id}\t{name}")),
                    Err(e) if several => bars.suspend(|| eprintln!("depot: {e}")),
                    Err(_) => {}
                }
                result.map(|_| ())
            }
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    match results.into_iter().find_map(Result::err) {
        None => Ok(()),
        Some(first) if several => {
            Err(first.with_message(format!("{failed} of {} files were not pushed", files.len())))
        }
        Some(only) => Err(only),
    }
}

async fn push_one(
    client: &Client,
    path: &Path,
    declared_type: Option<&str>,
    bars: &MultiProgress,
) -> ClientResult<(i64, String)> {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| ClientError::Other("not a file name".into()))?
        .to_string();
    let length = tokio::fs::metadata(path)
        .await
        .map_err(|e| ClientError::Other(e.to_string()))?
        .len();
    // Both in one read: the BLAKE3 names the content key, so the server
    // writes the file once, under it, instead of staging and copying it.
    let FileDigests { sha1, blake3 } = digests_of(path).await?;

    let bar = bars.add(progress::bar(&file_name, length, client.interactive));
    let announce = || Announce::new(client.interactive.then(|| bar.clone()), path);

    let mut metadata = vec![
        format!("filename {}", BASE64.encode(&file_name)),
        format!("sha1 {}", BASE64.encode(&sha1)),
        format!("blake3 {}", BASE64.encode(&blake3)),
    ];
    if let Some(t) = declared_type {
        metadata.push(format!("type {}", BASE64.encode(t)));
    }
    let location = create(client, length, &metadata.join(","), announce()).await;
    let location = location.inspect_err(|_| bar.finish_and_clear())?;
    let result = send(client, path, &location, length, &bar, announce()).await;
    bar.finish_and_clear();
    let package_id = result?;
    tracing::debug!(package_id, %location, "upload complete");

    // The server's SHA-1 of what it stored, against ours of what we sent.
    let meta: SoftwarePackageMeta = client
        .call(client.request(Method::GET, location.clone()))
        .await?;
    if !meta.sha1.eq_ignore_ascii_case(&sha1) {
        return Err(ClientError::Other(format!(
            "the server stored SHA-1 {}, but the file's is {sha1}",
            meta.sha1
        )));
    }
    Ok((meta.id, meta.file_name))
}

/// The digests a push announces, hex.
struct FileDigests {
    sha1: String,
    blake3: String,
}

/// SHA-1 and BLAKE3 of a file, read once.
async fn digests_of(path: &Path) -> ClientResult<FileDigests> {
    let (sha1, blake3) = read_through(
        path,
        (Sha1::new(), blake3::Hasher::new()),
        |(sha1, blake3), bytes| {
            sha1.update(bytes);
            blake3.update(bytes);
        },
    )
    .await?;
    Ok(FileDigests {
        sha1: hex::encode(sha1.finalize()),
        blake3: blake3.finalize().to_hex().to_string(),
    })
}

/// SHA-1 of a file.
pub(super) async fn sha1_of(path: &Path) -> ClientResult<String> {
    let sha1 = read_through(path, Sha1::new(), |sha1, bytes| sha1.update(bytes)).await?;
    Ok(hex::encode(sha1.finalize()))
}

/// Reads a file once in the blocking pool, handing each piece to `update`.
async fn read_through<T: Send + 'static>(
    path: &Path,
    mut state: T,
    update: impl Fn(&mut T, &[u8]) + Send + 'static,
) -> ClientResult<T> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path).map_err(|e| ClientError::Other(e.to_string()))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| ClientError::Other(e.to_string()))?;
            if n == 0 {
                return Ok(state);
            }
            update(&mut state, &buf[..n]);
        }
    })
    .await
    .map_err(ClientError::other)?
}

/// Creates the upload; returns its URL.
async fn create(
    client: &Client,
    length: u64,
    metadata: &str,
    announce: Announce,
) -> ClientResult<Url> {
    let url = client.url("api/v2/uploads/")?;
    retry(&Policy::patient(announce), async || {
        let response = client
            .request(Method::POST, url.clone())
            .header(TUS.0, TUS.1)
            .header("upload-length", length.to_string())
            .header("upload-metadata", metadata)
            .send()
            .await?;
        if response.status().is_server_error() {
            return Err(retry_later(response).await);
        }
        let response = check(response).await?;
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ClientError::Other("the server sent no Location".into()))?;
        Ok(url.join(location).map_err(ClientError::other)?)
    })
    .await
}

/// PATCHes the rest of the file until the server has it all, resuming from
/// the server's offset after every failure. Returns the package id.
async fn send(
    client: &Client,
    path: &Path,
    location: &Url,
    length: u64,
    bar: &ProgressBar,
    announce: Announce,
) -> ClientResult<i64> {
    // What the server holds, as far as we know.
    let mut offset = 0u64;
    // Where the previous try started: a failed try made progress when the
    // server holds more than then.
    let mut previous = 0u64;
    let mut first = true;
    retry(&Policy::patient(announce).reached(), async || {
        if !std::mem::take(&mut first) {
            match resume_offset(client, location).await {
                // The answer to the last PATCH was lost, but the package is there.
                Ok(Resume::Finished(id)) => return Ok(id),
                Ok(Resume::At(at)) => offset = at,
                Err(permanent @ Failure::Permanent(_)) => return Err(permanent),
                // PATCH again from where we were: its answer says where the server is.
                Err(Failure::Transient { .. }) => {}
            }
        }
        let start = offset;
        let failure = loop {
            match patch(client, path, location, offset, bar).await {
                Ok(Patched::Finished(id)) => return Ok(id),
                Ok(Patched::Partial(at)) if at > offset => offset = at,
                Ok(Patched::Partial(at)) => {
                    break Failure::transient(format!("the server took nothing past byte {at}"));
                }
                Err(failure) => break failure,
            }
        };
        let progressed = offset > previous;
        previous = start;
        Err(match failure {
            Failure::Transient {
                why, unreachable, ..
            } => Failure::Transient {
                why: format!("{why} (at byte {offset} of {length})"),
                progressed,
                unreachable,
            },
            permanent => permanent,
        })
    })
    .await
}

/// A failed answer worth another try, with what it says.
async fn retry_later(response: Response) -> Failure {
    Failure::transient(
        check(response)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default(),
    )
}

enum Patched {
    Partial(u64),
    Finished(i64),
}

async fn patch(
    client: &Client,
    path: &Path,
    location: &Url,
    offset: u64,
    bar: &ProgressBar,
) -> Result<Patched, Failure> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ClientError::Other(e.to_string()))?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(|e| ClientError::Other(e.to_string()))?;
    let progress = bar.clone();
    progress.set_position(offset);
    let body = ReaderStream::with_capacity(file, 256 << 10).inspect_ok(move |chunk| {
        progress.inc(chunk.len() as u64);
    });
    let response = client
        .request(Method::PATCH, location.clone())
        .header(TUS.0, TUS.1)
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await?;
    let status = response.status();
    if status == StatusCode::CONFLICT {
        // A busy upload is worth another try; any other 409 (a different
        // package of that name) no retry changes.
        let text = response.text().await.unwrap_or_default();
        let error = error_of(&text);
        let busy = error.as_ref().is_some_and(|e| e.code == UPLOAD_BUSY);
        let message = error.map_or(text, |e| e.message);
        return Err(if busy {
            Failure::transient(format!("conflict: {message}"))
        } else {
            ClientError::Conflict(message).into()
        });
    }
    if status == StatusCode::REQUEST_TIMEOUT || status.is_server_error() {
        return Err(retry_later(response).await);
    }
    let response = check(response).await?;
    match upload_state(&response) {
        (Some(id), _) => Ok(Patched::Finished(id as i64)),
        (None, Some(at)) => Ok(Patched::Partial(at)),
        (None, None) => {
            Err(ClientError::Other("the server answered without Upload-Offset".into()).into())
        }
    }
}

enum Resume {
    At(u64),
    Finished(i64),
}

/// Where the upload stands on the server (tus HEAD).
async fn resume_offset(client: &Client, location: &Url) -> Result<Resume, Failure> {
    let response = client
        .request(Method::HEAD, location.clone())
        .header(TUS.0, TUS.1)
        .send()
        .await?;
    let status = response.status();
    if status.is_server_error() {
        return Err(Failure::transient(format!("the server answered {status}")));
    }
    if !status.is_success() {
        // HEAD answers carry no body: say what the status means.
        let message = format!("the upload at {location} answered {status}");
        return Err(Failure::Permanent(match status {
            StatusCode::NOT_FOUND | StatusCode::GONE => {
                ClientError::NotFound(format!("{message}: it expired or was removed"))
            }
            StatusCode::UNAUTHORIZED => ClientError::Unauthenticated(message),
            StatusCode::FORBIDDEN => ClientError::Forbidden(message),
            StatusCode::CONFLICT => ClientError::Conflict(message),
            _ => ClientError::Other(message),
        }));
    }
    match upload_state(&response) {
        (Some(id), _) => Ok(Resume::Finished(id as i64)),
        (None, Some(at)) => Ok(Resume::At(at)),
        (None, None) => Err(ClientError::Other("HEAD without Upload-Offset".into()).into()),
    }
}

/// What a tus answer says of the upload: the package it became
/// (`Depot-Package-Id`), else its offset (`Upload-Offset`).
fn upload_state(response: &reqwest::Response) -> (Option<u64>, Option<u64>) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    (header("depot-package-id"), header("upload-offset"))
}
