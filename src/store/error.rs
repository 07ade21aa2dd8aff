//! Store errors classified where they arise: a store out of space (507 to the
//! client) or one that failed (503). Local files say it with an I/O error
//! kind; S3 servers with an HTTP status and an S3 error code, read from the
//! response object_store reports (its status is not public API), never from
//! anywhere else in the message.

use std::io::ErrorKind;

use crate::error::{Error, chain, sources};

/// S3 error codes that mean "no room": a quota, a full server (MinIO),
/// an object larger than the store takes.
const FULL_CODES: &[&str] = &[
    "QuotaExceeded",
    "XMinioStorageFull",
    "InsufficientStorage",
    "EntityTooLarge",
];

/// The prefix object_store puts before a failed response's status.
const STATUS_PREFIX: &str = "Server returned non-2xx status code: ";

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Self {
        let detail = chain(&e);
        if is_full(&e) {
            Error::StoreFull(detail)
        } else {
            Error::StoreUnavailable(detail)
        }
    }
}

fn is_full(e: &(dyn std::error::Error + 'static)) -> bool {
    sources(e).any(|e| {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(io.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded);
        }
        let response = e.to_string();
        response_status(&response) == Some(507)
            || s3_code(&response).is_some_and(|code| FULL_CODES.contains(&code))
    })
}

/// An S3 failure from the AWS SDK (the large-object copy), classified by the
/// status and error code of the response.
pub(super) fn sdk_error<E>(e: aws_sdk_s3::error::SdkError<E>) -> Error
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + Send + Sync + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    let full = status == Some(507)
        || e.as_service_error()
            .and_then(|s| s.code())
            .is_some_and(|code| FULL_CODES.contains(&code));
    let detail = aws_sdk_s3::error::DisplayErrorContext(&e).to_string();
    if full {
        Error::StoreFull(detail)
    } else {
        Error::StoreUnavailable(detail)
    }
}

/// The status of a response object_store describes as
/// `Server returned non-2xx status code: 507 Insufficient Storage: …`.
fn response_status(message: &str) -> Option<u16> {
    let rest = message.strip_prefix(STATUS_PREFIX)?;
    rest.get(..3)?.parse().ok()
}

/// The `<Code>` of an S3 error document in a response object_store reports.
fn s3_code(message: &str) -> Option<&str> {
    let body = message
        .strip_prefix(STATUS_PREFIX)
        .or_else(|| message.strip_prefix("Server returned error response: "))?;
    let start = body.find("<Code>")? + "<Code>".len();
    let end = start + body[start..].find("</Code>")?;
    Some(&body[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        object_store::Error::Generic {
            store: "S3",
            source: source.into(),
        }
        .into()
    }

    /// A response as object_store nests it: `Error performing PUT …`
    /// whose source says what the server answered.
    #[derive(Debug)]
    struct Performing(Response);

    #[derive(Debug)]
    struct Response(String);

    impl std::fmt::Display for Performing {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Error performing PUT http://s3/b/k in 2s")
        }
    }

    impl std::error::Error for Performing {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    impl std::fmt::Display for Response {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl std::error::Error for Response {}

    fn s3_failure(response: &str) -> Error {
        generic(Performing(Response(response.into())))
    }

    #[test]
    fn a_full_disk_is_full() {
        let e = generic(std::io::Error::from(ErrorKind::StorageFull));
        assert!(matches!(e, Error::StoreFull(_)), "{e:?}");
        let e = generic(std::io::Error::from(ErrorKind::QuotaExceeded));
        assert!(matches!(e, Error::StoreFull(_)), "{e:?}");
    }

    #[test]
    fn s3_says_full_by_status_or_code() {
        let e = s3_failure("Server returned non-2xx status code: 507 Insufficient Storage: ");
        assert!(matches!(e, Error::StoreFull(_)), "{e:?}");
        let e = s3_failure(
            "Server returned non-2xx status code: 403 Forbidden: <Error><Code>QuotaExceeded</Code></Error>",
        );
        assert!(matches!(e, Error::StoreFull(_)), "{e:?}");
        let e = s3_failure(
            "Server returned error response: <Error><Code>XMinioStorageFull</Code></Error>",
        );
        assert!(matches!(e, Error::StoreFull(_)), "{e:?}");
    }

    /// "507" or a full-sounding word elsewhere in a message (a retry time, a
    /// UUID, a key) says nothing about space.
    #[test]
    fn numbers_elsewhere_are_not_a_status() {
        let e = s3_failure(
            "Server returned non-2xx status code: 503 Service Unavailable: retry after 507 ms",
        );
        assert!(matches!(e, Error::StoreUnavailable(_)), "{e:?}");
        let e =
            generic("error sending request for http://s3/b/staging/5070-aa: connection refused");
        assert!(matches!(e, Error::StoreUnavailable(_)), "{e:?}");
        let e = generic("No space left on device (but said in words only)");
        assert!(matches!(e, Error::StoreUnavailable(_)), "{e:?}");
    }
}
