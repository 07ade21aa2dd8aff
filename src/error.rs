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

impl Error {
    pub fn invalid(msg: impl fmt::Display) -> Self {
        Self::InvalidArgument(msg.to_string())
    }

    pub fn internal(msg: impl fmt::Display) -> Self {
        Self::Internal(msg.to_string())
    }
}
