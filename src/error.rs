//! The domain's error type. The HTTP layer maps it to the OCP envelope in one
//! place (`http::error`); everything below HTTP returns this.

use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or names something impossible.
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts what is stored (same file name, other bytes).
    #[error("{0}")]
    Conflict(String),
    #[error("package {0} is built in and cannot be deleted")]
    NotDeletable(i64),
    #[error("upload exceeds the maximum size of {limit} bytes")]
    TooLarge { limit: u64 },
    /// The client sent nothing for longer than the idle timeout.
    #[error("the upload stalled: no data for {secs} seconds")]
    Stalled { secs: u64 },
    /// A resumable upload's offset or lease disagrees with the request.
    #[error("{0}")]
    UploadConflict(String),
    /// A resumable upload that expired (or was terminated meanwhile).
    #[error("{0}")]
    Gone(String),
    /// The bytes do not match the checksum or digest the client announced.
    #[error("{0}")]
    ChecksumMismatch(String),
    /// Reading the request body failed: the client sent a broken stream or went away.
    #[error("reading the upload failed: {0}")]
    Body(String),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("database: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}")]
    Internal(String),
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Body(e.to_string())
    }
}

/// What kind of trouble a store or database error is, for the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Out of space: a full disk, an exhausted quota.
    Full,
    /// Read-only, out of connections, unreachable, timing out, failing.
    Unavailable,
}

impl Error {
    /// Classifies a store or database error; `None` for the others.
    pub fn fault(&self) -> Option<Fault> {
        let text = chain(self);
        let full = match self {
            Error::Store(_) => {
                io_kind_in(self, std::io::ErrorKind::StorageFull)
                    || [
                        "No space left",
                        "EntityTooLarge",
                        "QuotaExceeded",
                        "InsufficientStorage",
                        "507",
                    ]
                    .iter()
                    .any(|m| text.contains(m))
            }
            // SQLSTATE 53100 is PostgreSQL's disk_full; SQLite says "database or disk is full".
            Error::Database(_) => {
                sqlstate(self).as_deref() == Some("53100")
                    || ["disk is full", "No space left"]
                        .iter()
                        .any(|m| text.contains(m))
            }
            _ => return None,
        };
        Some(if full {
            Fault::Full
        } else {
            Fault::Unavailable
        })
    }

    /// A database that refused the request's own text: PostgreSQL stores no
    /// NUL character (SQLSTATE 22021) nor what its encoding cannot hold (22P05).
    pub fn is_unstorable_text(&self) -> bool {
        matches!(sqlstate(self).as_deref(), Some("22021" | "22P05"))
    }

    pub fn invalid(msg: impl fmt::Display) -> Self {
        Self::InvalidArgument(msg.to_string())
    }

    pub fn internal(msg: impl fmt::Display) -> Self {
        Self::Internal(msg.to_string())
    }
}

/// The whole `source()` chain as one string: what each layer said.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    text
}

fn io_kind_in(e: &(dyn std::error::Error + 'static), kind: std::io::ErrorKind) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == kind)
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// The SQLSTATE of a database error, when the driver reported one.
fn sqlstate(e: &Error) -> Option<String> {
    use sea_orm::{DbErr, RuntimeErr};
    let Error::Database(DbErr::Conn(rt) | DbErr::Exec(rt) | DbErr::Query(rt)) = e else {
        return None;
    };
    match rt {
        RuntimeErr::SqlxError(sqlx) => sqlx
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_are_told_apart() {
        let full = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(std::io::Error::from(std::io::ErrorKind::StorageFull)),
        };
        assert_eq!(Error::Store(full).fault(), Some(Fault::Full));
        let quota = object_store::Error::Generic {
            store: "S3",
            source: "Client error with status 400: <Code>QuotaExceeded</Code>".into(),
        };
        assert_eq!(Error::Store(quota).fault(), Some(Fault::Full));
        let down = object_store::Error::Generic {
            store: "S3",
            source: "error sending request: connection refused".into(),
        };
        assert_eq!(Error::Store(down).fault(), Some(Fault::Unavailable));
        let sqlite_full = sea_orm::DbErr::Custom("database or disk is full".into());
        assert_eq!(Error::Database(sqlite_full).fault(), Some(Fault::Full));
        assert_eq!(
            Error::Database(sea_orm::DbErr::ConnectionAcquire(
                sea_orm::ConnAcquireErr::Timeout
            ))
            .fault(),
            Some(Fault::Unavailable)
        );
        assert_eq!(Error::invalid("x").fault(), None);
    }
}
