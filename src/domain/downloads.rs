//! Downloads: what a `downloadUrl` answers. By default the object streamed
//! through depot, with one byte range and `If-None-Match`: every client gets
//! the bytes, whatever it does with a redirect. A presigned URL of the object
//! (the client then fetches from the store itself) only to a request that asks
//! for one, from a client not known to send its credentials along.

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use entity::package;
use futures::stream::BoxStream;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

use super::packages::Packages;
use super::regions::select::Hint;
use super::regions::{Regions, Route};
use crate::config::DownloadRedirect;
use crate::error::Result;
use crate::store::{BlobKey, Method, object_stream};

/// How a download is answered; built once from the configuration.
#[derive(Clone)]
pub struct Downloads {
    packages: Packages,
    /// Which store serves a download: a region's, or the replica's own.
    regions: Regions,
    redirect: DownloadRedirect,
    presign_ttl: Duration,
}

/// The query parameter by which a download asks for a redirect to the store
/// (`?redirect=1`): a URL carries it, so repository metadata can too.
pub const REDIRECT_PARAM: &str = "redirect";

/// The route every package is downloaded from.
pub const DOWNLOAD_ROUTE: &str = "/api/v2/files/sys-package/";

/// Characters left as they are in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The path (from depot's base URL) of a package's download, asking for the
/// redirect fast path when `redirect`: for clients known not to forward
/// credentials to another host (dnf/librepo, `curl -L`, python-requests).
pub fn download_path(file_name: &str, redirect: bool) -> String {
    let name = utf8_percent_encode(file_name, SEGMENT);
    match redirect {
        true => format!("{DOWNLOAD_ROUTE}{name}?{REDIRECT_PARAM}=1"),
        false => format!("{DOWNLOAD_ROUTE}{name}"),
    }
}

/// What `?redirect=` says: empty (`?redirect`), `1`, `true`, `yes` ask;
/// `0`, `false`, `no` do not.
pub fn parse_redirect_param(value: &str) -> std::result::Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(format!(
            "{REDIRECT_PARAM}={value:?}: say {REDIRECT_PARAM}=1 to ask for a redirect to the store, or leave it out"
        )),
    }
}

/// User agents that send their `Authorization` on to the host a redirect
/// names: wget (CVE-2021-31879) and Ansible's `get_url`/`uri` (with
/// `force_basic_auth`). They are served the bytes even when they ask for a
/// redirect, since the URL they were given may carry the opt-in.
const FORWARDING_AGENTS: [&str; 2] = ["wget/", "ansible-httpget"];

fn forwards_credentials(user_agent: Option<&str>) -> bool {
    user_agent.is_some_and(|agent| {
        let agent = agent.trim_start().to_ascii_lowercase();
        FORWARDING_AGENTS.iter().any(|f| agent.starts_with(f))
    })
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
    /// The request asked for a redirect to the store (`?redirect=1`).
    pub wants_redirect: bool,
    /// The `User-Agent`, as sent.
    pub user_agent: Option<String>,
    /// Where the client is, for choosing a region.
    pub region: Hint,
}

impl DownloadRequest {
    /// Whether this request is answered with a redirect under `policy`: only
    /// when it asked, and never to a client known to forward credentials.
    pub fn redirected(&self, policy: DownloadRedirect) -> bool {
        policy == DownloadRedirect::OnRequest
            && self.wants_redirect
            && !forwards_credentials(self.user_agent.as_deref())
    }
}

pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// A download's answer and the region that serves it (`None` without regions).
pub struct Opened {
    pub download: Download,
    pub region: Option<String>,
}

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
        regions: Regions,
        redirect: DownloadRedirect,
        presign_ttl: Duration,
    ) -> Self {
        Self {
            packages,
            regions,
            redirect,
            presign_ttl,
        }
    }

    pub fn redirect_policy(&self) -> DownloadRedirect {
        self.redirect
    }

    /// Answers a download of the package named `file_name`.
    /// Only from a region where the blob is present (`Regions::locate`).
    pub async fn open(&self, file_name: &str, request: &DownloadRequest) -> Result<Opened> {
        if request.redirected(self.redirect) {
            // A redirect may use a row read a few seconds ago: reading it
            // costs more than the rest of the redirect.
            let package = self.packages.get_for_download(file_name).await?;
            let route = self.source(&package, request).await?;
            // A region whose store cannot presign (local files) serves the bytes.
            if route.store.can_presign() {
                let url = self.redirect(&route, &package, request.head).await?;
                return Ok(self.opened(route, Download::Redirect(url)));
            }
        }
        // Proxying reads the object anyway, and the row with it: no cache.
        let package = self.packages.get_by_file_name(file_name).await?;
        let route = self.source(&package, request).await?;
        match self.serve(&route, &package, request).await {
            Ok(served) => Ok(self.opened(route, Download::Served(served))),
            // A region's store failed: the replica's own serves, and the
            // region is avoided for a while.
            Err(e) if !route.own_store => {
                let route = self.regions.read_failed(&route, &e);
                let served = self.serve(&route, &package, request).await?;
                Ok(self.opened(route, Download::Served(served)))
            }
            Err(e) => Err(e),
        }
    }

    async fn source(&self, package: &package::Model, request: &DownloadRequest) -> Result<Route> {
        let key = BlobKey::from_stored(package.blob_key.clone());
        self.regions.locate(&key, &request.region).await
    }

    fn opened(&self, route: Route, download: Download) -> Opened {
        self.regions.served(&route);
        Opened {
            download,
            region: route.region,
        }
    }

    async fn redirect(&self, route: &Route, package: &package::Model, head: bool) -> Result<Url> {
        let method = if head { Method::HEAD } else { Method::GET };
        route
            .store
            .presign(
                method,
                &BlobKey::from_stored(package.blob_key.clone()),
                &content_disposition(package),
                content_type(&package.extension),
                self.presign_ttl,
            )
            .await
    }

    async fn serve(
        &self,
        route: &Route,
        package: &package::Model,
        request: &DownloadRequest,
    ) -> Result<Served> {
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
                        false => Some(read(route, package, range.clone()).await?),
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
}

async fn read(
    route: &Route,
    package: &package::Model,
    range: Option<Range<u64>>,
) -> Result<ByteStream> {
    let key = BlobKey::from_stored(package.blob_key.clone());
    let object = route.store.get(&key.path(), range).await?;
    Ok(object_stream(object))
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
    fn only_an_explicit_request_from_a_safe_client_is_redirected() {
        let asking = |agent: &str| DownloadRequest {
            wants_redirect: true,
            user_agent: Some(agent.into()),
            ..DownloadRequest::default()
        };
        let policy = DownloadRedirect::OnRequest;
        assert!(asking("curl/7.88.1").redirected(policy));
        assert!(asking("libdnf (Rocky Linux 9)").redirected(policy));
        assert!(!asking("Wget/1.21.3").redirected(policy));
        assert!(!asking("ansible-httpget").redirected(policy));
        assert!(!asking("curl/7.88.1").redirected(DownloadRedirect::Never));
        assert!(!DownloadRequest::default().redirected(policy));
    }

    #[test]
    fn download_paths() {
        assert_eq!(
            download_path("a-1.0-1.el7.x86_64.rpm", false),
            "/api/v2/files/sys-package/a-1.0-1.el7.x86_64.rpm"
        );
        assert_eq!(
            download_path("a+b%c.sh", true),
            "/api/v2/files/sys-package/a%2Bb%25c.sh?redirect=1"
        );
        assert_eq!(parse_redirect_param(""), Ok(true));
        assert_eq!(parse_redirect_param("TRUE"), Ok(true));
        assert_eq!(parse_redirect_param("0"), Ok(false));
        assert!(parse_redirect_param("maybe").is_err());
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
