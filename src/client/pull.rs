//! `depot pull`: downloads a package, resuming with Range after a broken
//! connection, verifying its SHA-1, and writing it atomically.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use indicatif::ProgressBar;
use reqwest::{Method, StatusCode, header};
use tokio::io::AsyncWriteExt;
use url::Url;

use super::packages::resolve;
use super::push::sha1_of;
use super::retry::{Announce, Failure, Policy, retry};
use super::{Client, ClientError, ClientResult, check, progress};
use crate::domain::downloads::REDIRECT_PARAM;

/// Downloads package `target` (an id or a file name) to `output` (a file, or
/// a directory to put it in; default: the current directory).
pub async fn pull(client: &Client, target: &str, output: Option<&Path>) -> ClientResult<()> {
    let meta = resolve(client, target).await?;
    let file_name = meta.file_name.as_str();
    let sha1 = meta.sha1.as_str();
    let size = u64::try_from(meta.size).unwrap_or(0);
    // Built from --server, not from the answer's downloadUrl: that one names
    // whatever host (and scheme) the server believes it has, and our
    // credentials go only where we were told to send them.
    let mut url = client.url("api/v2/files/sys-package/")?;
    url.path_segments_mut()
        .map_err(|_| ClientError::Other("the server URL cannot take a path".into()))?
        .pop_if_empty()
        .push(file_name);
    // The redirect to the store, where the server offers it: reqwest follows
    // it and drops our credentials on the way to the other host.
    url.query_pairs_mut().append_pair(REDIRECT_PARAM, "1");
    // A file name from the server must not pick where it is written.
    if file_name.contains('/') || file_name.starts_with('.') {
        return Err(ClientError::Other(format!(
            "refusing the server's file name {file_name:?}"
        )));
    }
    let dest = match output {
        Some(p) if p.is_dir() => p.join(file_name),
        Some(p) => p.to_path_buf(),
        None => PathBuf::from(file_name),
    };
    let partial = partial_path(&dest);

    let bar = progress::bar(file_name, size, client.interactive);
    let announce = Announce::new(
        client.interactive.then(|| bar.clone()),
        Path::new(file_name),
    );
    let result = download(client, &url, &partial, size, &bar, announce).await;
    bar.finish_and_clear();
    result?;

    let got = sha1_of(&partial).await?;
    if !got.eq_ignore_ascii_case(sha1) {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(ClientError::Other(format!(
            "the download's SHA-1 is {got}, the package's {sha1}: discarded"
        )));
    }
    tokio::fs::rename(&partial, &dest)
        .await
        .map_err(|e| ClientError::Other(format!("{}: {e}", dest.display())))?;
    println!("{}", dest.display());
    Ok(())
}

/// Where a download is written until it is complete and verified.
fn partial_path(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.depot-partial"))
}

/// Fills `partial` with the object, resuming from its length after each failure.
async fn download(
    client: &Client,
    url: &Url,
    partial: &Path,
    size: u64,
    bar: &ProgressBar,
    announce: Announce,
) -> ClientResult<()> {
    retry(&Policy::patient(announce).reached(), async || {
        let have = length_of(partial).await;
        bar.set_position(have);
        if have == size && size > 0 {
            return Ok(());
        }
        match fetch(client, url, partial, have, bar).await {
            Err(Failure::Transient {
                why, unreachable, ..
            }) => {
                let now = length_of(partial).await;
                Err(Failure::Transient {
                    why: format!("download interrupted at byte {now} ({why})"),
                    progressed: now > have,
                    unreachable,
                })
            }
            done => done,
        }
    })
    .await
}

async fn length_of(path: &Path) -> u64 {
    tokio::fs::metadata(path).await.map_or(0, |m| m.len())
}

async fn fetch(
    client: &Client,
    url: &Url,
    partial: &Path,
    have: u64,
    bar: &ProgressBar,
) -> Result<(), Failure> {
    let local = |e: std::io::Error| ClientError::Other(format!("{}: {e}", partial.display()));
    let mut request = client.request(Method::GET, url.clone());
    if have > 0 {
        request = request.header(header::RANGE, format!("bytes={have}-"));
    }
    // reqwest follows the redirect to the store and drops our credentials on the way.
    let response = request.send().await?;
    let status = response.status();
    if status == StatusCode::RANGE_NOT_SATISFIABLE {
        // What we have is not a prefix of this object: start over.
        tokio::fs::remove_file(partial).await.map_err(local)?;
        return Err(Failure::transient(
            "the partial file did not match; starting over",
        ));
    }
    if status.is_server_error() {
        return Err(Failure::transient(format!("the server answered {status}")));
    }
    let response = check(response).await?;
    let append = response.status() == StatusCode::PARTIAL_CONTENT;
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(partial)
        .await
        .map_err(local)?;
    if !append {
        bar.set_position(0);
    }
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        file.write_all(&chunk).await.map_err(local)?;
        bar.inc(chunk.len() as u64);
    }
    file.flush().await.map_err(local)?;
    file.sync_all().await.map_err(local)?;
    Ok(())
}
