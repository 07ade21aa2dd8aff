//! The domain's error type. The HTTP layer maps it to the OCP envelope in one
//! place (`http::error`); everything below HTTP returns this.

use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One variant per stable error code (`http::error::Code`): the variant says
/// what went wrong, the text says it for a person. Store and database errors
/// are classified where they arise (`store::error`, `db::error`), so nothing
/// above them reads error text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or names something impossible.
    #[error("{0}")]
    IllegalArgument(String),
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts what is stored (same file name, other bytes).
    #[error("{0}")]
    PackageConflict(String),
    /// The same bytes are stored under that name with another type than the
    /// one the upload declares.
    #[error("{0}")]
    PackageTypeConflict(String),
    /// Something of that name exists already (a user).
    #[error("{0}")]
    AlreadyExists(String),
    /// The region configuration does not allow the change (the home region
    /// while others remain, too many regions).
    #[error("{0}")]
    RegionConflict(String),
    /// A region sync is running on this replica already: one at a time.
    #[error("a region sync is running on this replica already; try again when it is done")]
    RegionSyncRunning,
    #[error("package {0} is built in and cannot be deleted")]
    PackageNotDeletable(i64),
    #[error("upload exceeds the maximum size of {limit} bytes")]
    UploadTooLarge { limit: u64 },
    /// Reading the request body failed: the client sent a broken stream or went away.
    #[error("reading the upload failed: {0}")]
    UploadInterrupted(String),
    /// The client sent nothing for longer than the idle timeout.
    #[error("the upload stalled: no data for {secs} seconds")]
    UploadStalled { secs: u64 },
    /// A resumable upload's offset or lease disagrees with the request.
    #[error("{0}")]
    UploadOffsetConflict(String),
    /// A resumable upload that expired (or was terminated meanwhile).
    #[error("{0}")]
    UploadExpired(String),
    /// The bytes do not match the checksum or digest the client announced.
    #[error("{0}")]
    ChecksumMismatch(String),
    /// The user already sends as many uploads as one user may at once.
    #[error("{0}")]
    TooManyUploads(String),
    /// depot receives as many uploads as it takes at once.
    #[error("{0}")]
    ServerBusy(String),
    /// Too many failed logins from this client: refused without checking,
    /// until `retry_after` has passed.
    #[error("too many failed logins; retry in {} s", seconds_up(*retry_after))]
    TooManyAttempts { retry_after: std::time::Duration },
    /// obshell's auth header (or its encrypted body) was refused: unreadable,
    /// expired, made for another request, used before, or its password wrong.
    /// obshell's own code, which its SDKs answer by fetching the key again.
    #[error("{0}")]
    ObshellUnauthorized(String),
    /// An obshell operation depot does not have (it is no obshell agent).
    #[error("{0}")]
    NotObshell(String),
    /// The object store is out of space (a full disk, an exhausted quota).
    #[error("object store: {0}")]
    StoreFull(String),
    /// The object store failed: unreachable, refusing, timing out, erring.
    #[error("object store: {0}")]
    StoreUnavailable(String),
    /// The metadata database is out of space.
    #[error("database: {0}")]
    DatabaseFull(String),
    /// The database failed: unreachable, read-only, out of connections.
    #[error("database: {0}")]
    DatabaseUnavailable(String),
    /// A patch file whose signatures do not verify (StarlingX's "Patch failed
    /// verification", "Patch has not been signed", "Signature check failed").
    #[error("{0}")]
    PatchVerification(String),
    /// A patch refused by the upload checks: not a patch file, an unknown
    /// release, an RPM not newer than the base, already provided by another patch.
    #[error("{0}")]
    PatchInvalid(String),
    /// A committed patch uploaded again.
    #[error("{0}")]
    PatchCommitted(String),
    /// A lifecycle change the patches' states or requirements forbid.
    #[error("{0}")]
    PatchState(String),
    /// A patch id or release depot does not know ("X is unrecognized").
    #[error("{0}")]
    PatchUnknown(String),
    /// Apply or remove while a host of the release is installing
    /// (StarlingX's "Rejected: One or more nodes are installing patches.").
    #[error("{0}")]
    HostsInstalling(String),
    /// A new host past the number of hosts depot tracks (`--patch-max-hosts`).
    #[error("{0}")]
    HostLimit(String),
    /// A bug or an impossible state.
    #[error("{0}")]
    Unexpected(String),
}

impl From<std::io::Error> for Error {
    /// I/O errors reaching the domain come from reading a request body.
    fn from(e: std::io::Error) -> Self {
        Self::UploadInterrupted(e.to_string())
    }
}

impl Error {
    pub fn invalid(msg: impl fmt::Display) -> Self {
        Self::IllegalArgument(msg.to_string())
    }

    pub fn internal(msg: impl fmt::Display) -> Self {
        Self::Unexpected(msg.to_string())
    }
}

/// Whole seconds, rounded up, at least 1: what `Retry-After` says.
pub fn seconds_up(d: std::time::Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

/// The whole `source()` chain as one string: what each layer said.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    text
}

/// The errors in `e`'s `source()` chain, `e` first.
pub(crate) fn sources<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source())
}
