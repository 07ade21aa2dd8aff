//! `depot push`: uploads over the resumable protocol, surviving cut links.

use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures::{StreamExt, TryStreamExt};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::{Method, StatusCode};
use sha1::{Digest, Sha1};
use tokio::io::AsyncSeekExt;
use tokio_util::io::ReaderStream;
use url::Url;

use super::{Client, ClientError, ClientResult, backoff, check, error_of};
use crate::api_types::SoftwarePackageMeta;

/// Consecutive failures without progress before giving up.
const MAX_ATTEMPTS: u32 = 10;
const TUS: (&str, &str) = ("tus-resumable", "1.0.0");
/// The error code of an upload that is busy (another PATCH holds it) or on
/// another replica: HEAD tells where it stands.
const UPLOAD_BUSY: u32 = 90011;

/// Pushes `files`, `jobs` at a time; prints `ID<TAB>FILE NAME` for each.
/// Every file is tried; the first failure decides the exit code.
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
    let results: Vec<ClientResult<()>> = futures::stream::iter(files)
        .map(|file| {
            let bars = bars.clone();
            async move {
                let result = push_one(client, file, declared_type, &bars).await;
                match &result {
                    Ok((id, name)) => {
                        bars.suspend(|| println!("{id}\t{name}"));
                    }
                    Err(e) => {
                        bars.suspend(|| eprintln!("depot: {}: {e}", file.display()));
                    }
                }
                result.map(|_| ())
            }
        })
        .buffer_unordered(jobs.max(1))
        .collect()
        .await;
    results.into_iter().collect()
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
        .ok_or_else(|| ClientError::Other(format!("{}: not a file name", path.display())))?
        .to_string();
    let length = tokio::fs::metadata(path)
        .await
        .map_err(|e| ClientError::Other(format!("{}: {e}", path.display())))?
        .len();
    let sha1 = sha1_of(path).await?;

    let bar = bars.add(ProgressBar::new(length));
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:24!} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_message(file_name.clone());

    let mut metadata = vec![
        format!("filename {}", BASE64.encode(&file_name)),
        format!("sha1 {}", BASE64.encode(&sha1)),
    ];
    if let Some(t) = declared_type {
        metadata.push(format!("type {}", BASE64.encode(t)));
    }
    let location = create(client, length, &metadata.join(",")).await?;
    let result = send(client, path, &location, length, &bar).await;
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

/// SHA-1 of a file, read in the blocking pool.
pub(super) async fn sha1_of(path: &Path) -> ClientResult<String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path)
            .map_err(|e| ClientError::Other(format!("{}: {e}", path.display())))?;
        let mut hasher = Sha1::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| ClientError::Other(format!("{}: {e}", path.display())))?;
            if n == 0 {
                return Ok(hex::encode(hasher.finalize()));
            }
            hasher.update(&buf[..n]);
        }
    })
    .await
    .map_err(ClientError::other)?
}

/// Creates the upload; returns its URL.
async fn create(client: &Client, length: u64, metadata: &str) -> ClientResult<Url> {
    let url = client.url("api/v2/uploads/")?;
    let mut attempt = 0;
    loop {
        let sent = client
            .request(Method::POST, url.clone())
            .header(TUS.0, TUS.1)
            .header("upload-length", length.to_string())
            .header("upload-metadata", metadata)
            .send()
            .await;
        let retry = match sent {
            Ok(response) if response.status().is_server_error() => {
                check(response).await.err().map(|e| e.to_string())
            }
            Ok(response) => {
                let response = check(response).await?;
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| ClientError::Other("the server sent no Location".into()))?;
                return url.join(location).map_err(ClientError::other);
            }
            Err(e) => Some(ClientError::from(e).to_string()),
        };
        let why = retry.unwrap_or_default();
        if attempt >= MAX_ATTEMPTS {
            return Err(ClientError::Network(format!(
                "creating the upload failed {MAX_ATTEMPTS} times: {why}"
            )));
        }
        tracing::debug!(%why, "creating the upload failed; retrying");
        tokio::time::sleep(backoff(attempt)).await;
        attempt += 1;
    }
}

/// PATCHes the rest of the file until the server has it all, resuming from
/// the server's offset after every failure. Returns the package id.
async fn send(
    client: &Client,
    path: &Path,
    location: &Url,
    length: u64,
    bar: &ProgressBar,
) -> ClientResult<i64> {
    let mut offset = 0u64;
    let mut attempt = 0u32;
    loop {
        let before = offset;
        match patch(client, path, location, offset, bar).await {
            Ok(Patched::Finished(id)) => return Ok(id),
            Ok(Patched::Partial(at)) => offset = at,
            Err(Retry::Permanent(e)) => return Err(e),
            Err(Retry::Transient(why)) => {
                tracing::debug!(%why, offset, "push interrupted");
                if !client.interactive {
                    eprintln!("depot: {}: {why}; resuming", path.display());
                }
                tokio::time::sleep(backoff(attempt)).await;
                match resume_offset(client, location).await {
                    // The answer to the last PATCH was lost, but the package is there.
                    Ok(Resume::Finished(id)) => return Ok(id),
                    Ok(Resume::At(at)) => offset = at,
                    Err(Retry::Permanent(e)) => return Err(e),
                    Err(Retry::Transient(_)) => {}
                }
            }
        }
        bar.set_position(offset);
        if offset > before {
            attempt = 0;
        } else {
            attempt += 1;
            if attempt > MAX_ATTEMPTS {
                return Err(ClientError::Network(format!(
                    "no progress after {MAX_ATTEMPTS} attempts; stopped at byte {offset} of {length}"
                )));
            }
        }
    }
}

enum Patched {
    Partial(u64),
    Finished(i64),
}

enum Retry {
    /// Worth another try after a pause: the network, the server's availability, a busy upload.
    Transient(String),
    Permanent(ClientError),
}

async fn patch(
    client: &Client,
    path: &Path,
    location: &Url,
    offset: u64,
    bar: &ProgressBar,
) -> Result<Patched, Retry> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| Retry::Permanent(ClientError::Other(format!("{}: {e}", path.display()))))?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(|e| Retry::Permanent(ClientError::Other(e.to_string())))?;
    let progress = bar.clone();
    progress.set_position(offset);
    let body = ReaderStream::with_capacity(file, 256 << 10).inspect_ok(move |chunk| {
        progress.inc(chunk.len() as u64);
    });
    let sent = client
        .request(Method::PATCH, location.clone())
        .header(TUS.0, TUS.1)
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(e) => return Err(Retry::Transient(ClientError::from(e).to_string())),
    };
    let status = response.status();
    if status == StatusCode::CONFLICT {
        // A busy upload is worth another try; any other 409 (a different
        // package of that name) no retry changes.
        let text = response.text().await.unwrap_or_default();
        let error = error_of(&text);
        let busy = error.as_ref().is_some_and(|e| e.code == UPLOAD_BUSY);
        let message = error.map_or(text, |e| e.message);
        return Err(if busy {
            Retry::Transient(format!("conflict: {message}"))
        } else {
            Retry::Permanent(ClientError::Conflict(message))
        });
    }
    if status == StatusCode::REQUEST_TIMEOUT || status.is_server_error() {
        return Err(Retry::Transient(
            check(response)
                .await
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default(),
        ));
    }
    let response = check(response).await.map_err(Retry::Permanent)?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    match (header("depot-package-id"), header("upload-offset")) {
        (Some(id), _) => Ok(Patched::Finished(id as i64)),
        (None, Some(at)) => Ok(Patched::Partial(at)),
        (None, None) => Err(Retry::Permanent(ClientError::Other(
            "the server answered without Upload-Offset".into(),
        ))),
    }
}

enum Resume {
    At(u64),
    Finished(i64),
}

/// Where the upload stands on the server (tus HEAD).
async fn resume_offset(client: &Client, location: &Url) -> Result<Resume, Retry> {
    let response = client
        .request(Method::HEAD, location.clone())
        .header(TUS.0, TUS.1)
        .send()
        .await
        .map_err(|e| Retry::Transient(ClientError::from(e).to_string()))?;
    let status = response.status();
    if status.is_server_error() {
        return Err(Retry::Transient(format!("the server answered {status}")));
    }
    if !status.is_success() {
        // HEAD answers carry no body: say what the status means.
        let message = format!("the upload at {location} answered {status}");
        return Err(Retry::Permanent(match status {
            StatusCode::NOT_FOUND | StatusCode::GONE => {
                ClientError::NotFound(format!("{message}: it expired or was removed"))
            }
            StatusCode::UNAUTHORIZED => ClientError::Unauthenticated(message),
            StatusCode::FORBIDDEN => ClientError::Forbidden(message),
            StatusCode::CONFLICT => ClientError::Conflict(message),
            _ => ClientError::Other(message),
        }));
    }
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    match (header("depot-package-id"), header("upload-offset")) {
        (Some(id), _) => Ok(Resume::Finished(id as i64)),
        (None, Some(at)) => Ok(Resume::At(at)),
        (None, None) => Err(Retry::Permanent(ClientError::Other(
            "HEAD without Upload-Offset".into(),
        ))),
    }
}
