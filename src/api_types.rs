//! The JSON both sides of the API share: the OCP envelope and the answers
//! the `depot` client reads. The server writes them (`http`), the client
//! reads them (`client`); this module depends on neither, only on serde and
//! utoipa, so that the client never reaches into the server's handlers.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The envelope on the wire; also the schema of every JSON answer in the
/// OpenAPI description (`Body_SoftwarePackageMeta`, …).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Body<T> {
    /// The answer; absent on errors and on answers without data (DELETE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    pub successful: bool,
    /// When the answer was made, RFC 3339 in the server's time zone.
    pub timestamp: String,
    /// Milliseconds the request took.
    pub duration: u64,
    /// The HTTP status, repeated.
    pub status: u16,
    /// The request's trace id: it is in depot's log lines and traces.
    pub trace_id: String,
    /// The host name of the replica that answered.
    pub server: Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

#[derive(Serialize, Deserialize, Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// A stable number; the README lists them all.
    pub code: u32,
    /// The code's name: obshell's envelope carries it beside the number.
    pub err_code: Cow<'static, str>,
    /// What went wrong and what to do about it.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// `page` of a paged list.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    pub number: u64,
    pub size: u64,
    pub total_elements: u64,
    pub total_pages: u64,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Paged<T> {
    pub contents: Vec<T>,
    pub page: PageInfo,
}

/// SoftwarePackageMeta, field for field as OCP answers it.
#[derive(Serialize, Deserialize, Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SoftwarePackageMeta {
    pub id: i64,
    /// The RPM's name (`oceanbase-ce`), or the script's file name.
    pub name: String,
    pub file_name: String,
    /// `rpm`, `sh`, `py`, …
    pub extension: String,
    /// Bytes.
    pub size: i64,
    /// Lowercase hex.
    pub sha1: String,
    /// Where to download it (`GET`, with credentials).
    pub download_url: String,
    /// OB_SERVER_INSTALL_PACKAGE, OB_AGENT_INSTALL_PACKAGE, OCP_AGENT_INSTALL_PACKAGE,
    /// OBPROXY_INSTALL_PACKAGE, OB_BACKUP_AGENT_INSTALL_PACKAGE, OTHERS_RPM or SCRIPT.
    #[serde(rename = "type")]
    pub package_type: String,
    pub version: String,
    /// The RPM's release without its distribution (`100000102023092807`).
    pub build_number: String,
    /// The distribution (`el7`), empty for scripts.
    pub operating_system: String,
    /// `x86_64`, `aarch64`, `noarch`, …
    pub architecture: String,
    /// False for built-in packages (preloaded).
    pub deletable: bool,
    /// RFC 3339.
    pub create_time: String,
}
