//! Downloads: what a `downloadUrl` answers. In redirect mode, a presigned URL
//! of the object (agents fetch from the store itself); in proxy mode, the
//! object streamed through depot, with one byte range and `If-None-Match`.

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use entity::package;
use futures::StreamExt;
use futures::stream::BoxStream;
use url::Url;

use super::packages::Packages;
use crate::config::DownloadMode;
use crate::error::Result;
use crate::store::{BlobKey, BlobStore, Method};

/// How a download is answered; built once from the configuration.
#[derive(Clone)]
pub struct Downloads {
    packages: Packages,
    store: BlobStore,
    mode: DownloadMode,
    presign_ttl: Duration,
}

/// What the client asked for, besides the file name.
#[derive(Clone, Debug, Default)]
pub struct DownloadRequest {
    /// `HEAD`: the answer without its bytes.
    pub head: bool,
    /// The `Range` header, as sent.
    pub range: Option<String>,
    /// Every `If-None-Match` header, as sent.
    pub if_none_match: Vec<String>,
}

pub type ByteStream = BoxStream<'static, Result<Bytes>>;

pub enum Download {
    /// Fetch the object from the store at this presigned URL.
    Redirect(Url),
    /// depot serves the object itself.
    Served(Served),
}

/// A proxied download: the headers every answer carries, and which answer.
pub struct Served {
    /// The SHA-1, quoted.
    pub etag: String,
    pub content_disposition: String,
    pub content_type: &'static str,
    pub size: u64,
    pub answer: Answer,
}

pub enum Answer {
    /// The client already holds these bytes (`If-None-Match`).
    NotModified,
    /// The range lies outside the object.
    Unsatisfiable,
    /// The whole object (`None` for `HEAD`).
    Whole(Option<ByteStream>),
    /// One range of it (`None` for `HEAD`).
    Partial(Range<u64>, Option<ByteStream>),
}

impl Downloads {
    pub fn new(
        packages: Packages,
        store: BlobStore,
        mode: DownloadMode,
        presign_ttl: Duration,
    ) -> Self {
        Self {
            packages,
            store,
            mode,
            presign_ttl,
        }
    }

    pub fn mode(&self) -> DownloadMode {
        self.mode
    }

    /// Answers a download of the package named `file_name`.
    pub async fn open(&self, file_name: &str, request: &DownloadRequest) -> Result<Download> {
        match self.mode {
            DownloadMode::Redirect => self.redirect(file_name, request.head).await,
            DownloadMode::Proxy => {
                // Proxying reads the object anyway, and the row with it: no cache.
                let package = self.packages.get_by_file_name(file_name).await?;
                Ok(Download::Served(self.serve(&package, request).await?))
            }
        }
    }

    async fn redirect(&self, file_name: &str, head: bool) -> Result<Download> {
        // A redirect may use a row read a few seconds ago: reading it costs
        // more than the rest of the redirect.
        let package = self.packages.get_for_download(file_name).await?;
        let method = if head { Method::HEAD } else { Method::GET };
        let url = self
            .store
            .presign(
                method,
                &BlobKey::from_stored(package.blob_key.clone()),
                &content_disposition(&package),
                content_type(&package.extension),
                self.presign_ttl,
            )
            .await?;
        Ok(Download::Redirect(url))
    }

    async fn serve(&self, package: &package::Model, request: &DownloadRequest) -> Result<Served> {
        let size = package.size as u64;
        let etag = format!("\"{}\"", package.sha1);
        let answer = if if_none_match(&request.if_none_match, &etag) {
            Answer::NotModified
        } else {
            match requested_range(request.range.as_deref(), size) {
                Err(Unsatisfiable) => Answer::Unsatisfiable,
                Ok(range) => {
                    let body = match request.head {
                        true => None,
                        false => Some(self.read(package, range.clone()).await?),
                    };
                    match range {
                        Some(range) => Answer::Partial(range, body),
                        None => Answer::Whole(body),
                    }
                }
            }
        };
        Ok(Served {
            etag,
            content_disposition: content_disposition(package),
            content_type: content_type(&package.extension),
            size,
            answer,
        })
    }

    async fn read(
        &self,
        package: &package::Model,
        range: Option<Range<u64>>,
    ) -> Result<ByteStream> {
        let key = BlobKey::from_stored(package.blob_key.clone());
        let object = self.store.get(&key.path(), range).await?;
        Ok(object.into_stream().map(|r| r.map_err(Into::into)).boxed())
    }
}

fn content_disposition(package: &package::Model) -> String {
    format!(r#"attachment; filename="{}""#, package.file_name)
}

fn content_type(extension: &str) -> &'static str {
    match extension {
        "rpm" => "application/x-rpm",
        "sh" => "application/x-sh",
        "py" => "text/x-python",
        _ => "application/octet-stream",
    }
}

fn if_none_match(values: &[String], etag: &str) -> bool {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
}

#[derive(Debug, PartialEq, Eq)]
struct Unsatisfiable;

/// One satisfiable range as `start..end`; `Ok(None)` for no (or an ignorable)
/// Range header. Several ranges are served as the whole object, which RFC 9110
/// allows.
fn requested_range(value: Option<&str>, size: u64) -> Result<Option<Range<u64>>, Unsatisfiable> {
    let Some(value) = value else {
        return Ok(None);
    };
    let Ok(parsed) = http_range_header::parse_range_header(value) else {
        return Ok(None);
    };
    match parsed.validate(size) {
        Ok(ranges) if ranges.len() == 1 => Ok(Some(*ranges[0].start()..*ranges[0].end() + 1)),
        Ok(_) => Ok(None),
        Err(_) => Err(Unsatisfiable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(requested_range(None, 10), Ok(None));
        assert_eq!(requested_range(Some("bytes=2-4"), 10), Ok(Some(2..5)));
        assert_eq!(requested_range(Some("bytes=7-"), 10), Ok(Some(7..10)));
        assert_eq!(requested_range(Some("bytes=-3"), 10), Ok(Some(7..10)));
        assert_eq!(requested_range(Some("bytes=20-30"), 10), Err(Unsatisfiable));
        assert_eq!(requested_range(Some("pages=1"), 10), Ok(None));
    }

    #[test]
    fn etags() {
        let held = |v: &str| vec![v.to_string()];
        assert!(if_none_match(&held("\"a\", \"b\""), "\"b\""));
        assert!(if_none_match(&held("*"), "\"b\""));
        assert!(if_none_match(&held("W/\"b\""), "\"b\""));
        assert!(!if_none_match(&held("\"c\""), "\"b\""));
        assert!(!if_none_match(&[], "\"b\""));
    }
}
