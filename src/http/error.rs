//! The one place errors become HTTP answers: a status, a stable numeric
//! code and a message, in the OCP envelope, logged once with the trace id.

use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection, StringRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::envelope::{ErrorBody, NoData, render};
use crate::error::{Error, seconds_up};

/// Stable error codes. OCP's own numbers keep OCP's meanings; depot's own
/// start at 90000. The README lists them all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Code {
    IllegalArgument = 10001,
    NotFound = 10002,
    /// obshell's legacy "unauthorized": its SDKs reset their auth on it.
    ObshellUnauthorized = 10008,
    Unexpected = 10010,
    NotAuthenticated = 30000,
    BadCredentials = 30004,
    NotPermitted = 30014,
    PackageConflict = 90001,
    PackageNotDeletable = 90002,
    UploadTooLarge = 90003,
    UploadInterrupted = 90004,
    StoreUnavailable = 90005,
    DatabaseUnavailable = 90006,
    MethodNotAllowed = 90007,
    StoreFull = 90008,
    DatabaseFull = 90009,
    UploadStalled = 90010,
    UploadOffsetConflict = 90011,
    UploadExpired = 90012,
    ChecksumMismatch = 90013,
    TusVersionUnsupported = 90014,
    UnsupportedMediaType = 90015,
    AlreadyExists = 90016,
    TooManyUploads = 90017,
    ServerBusy = 90018,
    BodyTooLarge = 90019,
    TooManyAttempts = 90020,
    NotObshell = 90021,
    PackageTypeConflict = 90030,
    /// A change from the web console without its session's CSRF token.
    CsrfRefused = 90060,
    /// The web console's session is unknown, ended or expired.
    SessionExpired = 90061,
    RegionConflict = 90050,
    RegionSyncRunning = 90051,
    PatchVerification = 90040,
    PatchInvalid = 90041,
    PatchCommitted = 90042,
    PatchState = 90043,
    PatchUnknown = 90044,
    HostsInstalling = 90045,
    HostLimit = 90046,
}

impl Code {
    /// The same code as a string, as obshell's clients read it (`errCode`).
    pub fn name(self) -> &'static str {
        match self {
            Code::IllegalArgument => "COMMON_ILLEGAL_ARGUMENT",
            Code::NotFound => "COMMON_NOT_FOUND",
            Code::ObshellUnauthorized => "OBSHELL_UNAUTHORIZED",
            Code::Unexpected => "COMMON_UNEXPECTED",
            Code::NotAuthenticated => "IAM_USER_NOT_AUTHENTICATED",
            Code::BadCredentials => "IAM_BAD_CREDENTIALS",
            Code::NotPermitted => "IAM_OPERATION_NOT_PERMITTED",
            Code::PackageConflict => "DEPOT_PACKAGE_CONFLICT",
            Code::PackageNotDeletable => "DEPOT_PACKAGE_NOT_DELETABLE",
            Code::UploadTooLarge => "DEPOT_UPLOAD_TOO_LARGE",
            Code::UploadInterrupted => "DEPOT_UPLOAD_INTERRUPTED",
            Code::StoreUnavailable => "DEPOT_STORE_UNAVAILABLE",
            Code::DatabaseUnavailable => "DEPOT_DATABASE_UNAVAILABLE",
            Code::MethodNotAllowed => "DEPOT_METHOD_NOT_ALLOWED",
            Code::StoreFull => "DEPOT_STORE_FULL",
            Code::DatabaseFull => "DEPOT_DATABASE_FULL",
            Code::UploadStalled => "DEPOT_UPLOAD_STALLED",
            Code::UploadOffsetConflict => "DEPOT_UPLOAD_OFFSET_CONFLICT",
            Code::UploadExpired => "DEPOT_UPLOAD_EXPIRED",
            Code::ChecksumMismatch => "DEPOT_CHECKSUM_MISMATCH",
            Code::TusVersionUnsupported => "DEPOT_TUS_VERSION_UNSUPPORTED",
            Code::UnsupportedMediaType => "DEPOT_UNSUPPORTED_MEDIA_TYPE",
            Code::AlreadyExists => "DEPOT_ALREADY_EXISTS",
            Code::TooManyUploads => "DEPOT_TOO_MANY_UPLOADS",
            Code::ServerBusy => "DEPOT_SERVER_BUSY",
            Code::BodyTooLarge => "DEPOT_BODY_TOO_LARGE",
            Code::TooManyAttempts => "DEPOT_TOO_MANY_ATTEMPTS",
            Code::NotObshell => "DEPOT_NOT_OBSHELL",
            Code::PackageTypeConflict => "DEPOT_PACKAGE_TYPE_CONFLICT",
            Code::CsrfRefused => "DEPOT_CSRF_REFUSED",
            Code::SessionExpired => "DEPOT_SESSION_EXPIRED",
            Code::RegionConflict => "DEPOT_REGION_CONFLICT",
            Code::RegionSyncRunning => "DEPOT_REGION_SYNC_RUNNING",
            Code::PatchVerification => "DEPOT_PATCH_VERIFICATION",
            Code::PatchInvalid => "DEPOT_PATCH_INVALID",
            Code::PatchCommitted => "DEPOT_PATCH_COMMITTED",
            Code::PatchState => "DEPOT_PATCH_STATE",
            Code::PatchUnknown => "DEPOT_PATCH_UNKNOWN",
            Code::HostsInstalling => "DEPOT_HOSTS_INSTALLING",
            Code::HostLimit => "DEPOT_HOST_LIMIT",
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Code,
    pub message: String,
    /// Seconds after which the same request may succeed (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Code::IllegalArgument, message)
    }

    pub fn not_authenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            Code::NotAuthenticated,
            "authentication required",
        )
    }

    pub fn bad_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            Code::BadCredentials,
            "bad user name or password",
        )
    }
}

/// When a client refused an upload slot should try again.
const RETRY_UPLOAD_AFTER: u64 = 5;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        use StatusCode as S;
        let message = e.to_string();
        let (status, code) = match &e {
            Error::IllegalArgument(_) => (S::BAD_REQUEST, Code::IllegalArgument),
            Error::NotFound(_) => (S::NOT_FOUND, Code::NotFound),
            Error::ObshellUnauthorized(_) => (S::UNAUTHORIZED, Code::ObshellUnauthorized),
            // 501: the server exists and answers, it does not do this.
            Error::NotObshell(_) => (S::NOT_IMPLEMENTED, Code::NotObshell),
            Error::PackageConflict(_) => (S::CONFLICT, Code::PackageConflict),
            Error::PackageTypeConflict(_) => (S::CONFLICT, Code::PackageTypeConflict),
            Error::AlreadyExists(_) => (S::CONFLICT, Code::AlreadyExists),
            Error::RegionConflict(_) => (S::CONFLICT, Code::RegionConflict),
            Error::RegionSyncRunning => (S::CONFLICT, Code::RegionSyncRunning),
            Error::PackageNotDeletable(_) => (S::CONFLICT, Code::PackageNotDeletable),
            Error::UploadTooLarge { .. } => (S::PAYLOAD_TOO_LARGE, Code::UploadTooLarge),
            Error::UploadInterrupted(_) => (S::BAD_REQUEST, Code::UploadInterrupted),
            Error::UploadStalled { .. } => (S::REQUEST_TIMEOUT, Code::UploadStalled),
            Error::UploadOffsetConflict(_) => (S::CONFLICT, Code::UploadOffsetConflict),
            Error::UploadExpired(_) => (S::GONE, Code::UploadExpired),
            // 460 is tus's "Checksum Mismatch".
            Error::ChecksumMismatch(_) => (
                S::from_u16(460).expect("a valid status"),
                Code::ChecksumMismatch,
            ),
            Error::TooManyUploads(_) => {
                return Self::new(S::TOO_MANY_REQUESTS, Code::TooManyUploads, message)
                    .with_retry_after(RETRY_UPLOAD_AFTER);
            }
            Error::ServerBusy(_) => {
                return Self::new(S::SERVICE_UNAVAILABLE, Code::ServerBusy, message)
                    .with_retry_after(RETRY_UPLOAD_AFTER);
            }
            Error::StoreFull(_) => {
                return Self::fault(S::INSUFFICIENT_STORAGE, Code::StoreFull, &message);
            }
            Error::StoreUnavailable(_) => {
                return Self::fault(S::SERVICE_UNAVAILABLE, Code::StoreUnavailable, &message);
            }
            Error::DatabaseFull(_) => {
                return Self::fault(S::INSUFFICIENT_STORAGE, Code::DatabaseFull, &message);
            }
            Error::DatabaseUnavailable(_) => {
                return Self::fault(S::SERVICE_UNAVAILABLE, Code::DatabaseUnavailable, &message);
            }
            Error::TooManyAttempts { retry_after } => {
                let refused = Self::new(S::TOO_MANY_REQUESTS, Code::TooManyAttempts, message)
                    .with_retry_after(seconds_up(*retry_after));
                return refused;
            }
            Error::PatchVerification(_) => (S::UNPROCESSABLE_ENTITY, Code::PatchVerification),
            Error::PatchInvalid(_) => (S::UNPROCESSABLE_ENTITY, Code::PatchInvalid),
            Error::PatchCommitted(_) => (S::CONFLICT, Code::PatchCommitted),
            Error::PatchState(_) => (S::CONFLICT, Code::PatchState),
            Error::PatchUnknown(_) => (S::NOT_FOUND, Code::PatchUnknown),
            Error::HostsInstalling(_) => (S::CONFLICT, Code::HostsInstalling),
            Error::HostLimit(_) => (S::CONFLICT, Code::HostLimit),
            Error::Unexpected(_) => (S::INTERNAL_SERVER_ERROR, Code::Unexpected),
        };
        Self::new(status, code, message)
    }
}

impl ApiError {
    /// A backend fault: what the operator should look at, then what it said.
    fn fault(status: StatusCode, code: Code, message: &str) -> Self {
        let advice = match code {
            Code::StoreFull => {
                "the object store is out of space: free space or raise the volume or bucket quota"
            }
            Code::StoreUnavailable => {
                "the object store failed or cannot be reached: check that it is up and depot's endpoint and credentials"
            }
            Code::DatabaseFull => {
                "the metadata database is out of space: grow its volume or free space"
            }
            _ => {
                "the metadata database failed or cannot be reached: check that it is up, writable and has free connections"
            }
        };
        Self::new(status, code, format!("{advice} ({message})"))
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        Self::bad_request(e.body_text())
    }
}

impl ApiError {
    /// A body read whole, refused: over its endpoint's limit (413), or not
    /// what the endpoint reads (400).
    fn body_rejected(status: StatusCode, text: String) -> Self {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                status,
                Code::BodyTooLarge,
                "the request body is larger than this endpoint reads",
            ),
            _ => Self::bad_request(text),
        }
    }
}

impl From<StringRejection> for ApiError {
    fn from(e: StringRejection) -> Self {
        Self::body_rejected(e.status(), e.body_text())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        Self::body_rejected(e.status(), e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::bad_request(e.body_text())
    }
}

impl From<MultipartRejection> for ApiError {
    fn from(e: MultipartRejection) -> Self {
        Self::bad_request(format!(
            "expected a multipart/form-data body with a `file` field: {}",
            e.body_text()
        ))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // 501 says what depot does not do; nothing failed.
        if self.status.is_server_error() && self.status != StatusCode::NOT_IMPLEMENTED {
            tracing::error!(code = self.code as u32, message = %self.message, "request failed");
        } else {
            tracing::info!(code = self.code as u32, message = %self.message, "request refused");
        }
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let retry_after = self.retry_after;
        let body = ErrorBody {
            code: self.code as u32,
            err_code: self.code.name().into(),
            message: self.message,
            target: None,
        };
        let mut response = render::<NoData>(self.status, None, Some(body));
        // For the metrics middleware: why an upload failed.
        response.extensions_mut().insert(self.code);
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="depot""#),
            );
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
