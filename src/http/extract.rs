//! Small extractors shared by the handlers.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use super::error::ApiError;
use super::forwarded;
use crate::app::AppState;
use crate::domain::downloads::download_path;

/// `axum::extract::Path` answering bad input in the envelope.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct PathParam<T>(pub T);

/// `axum::extract::Query` answering bad input in the envelope.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct QueryParams<T>(pub T);

/// The base URL clients reach depot under: `--public-url`, or what the request
/// says (`X-Forwarded-Proto/Host` from a trusted proxy, else `Host`).
pub struct BaseUrl(String);

impl BaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `downloadUrl` of a package: without the redirect opt-in, so that
    /// OCP's agents (`curl` without `-L`) get the bytes.
    pub fn download_url(&self, file_name: &str) -> String {
        format!("{}{}", self.0, download_path(file_name, false))
    }
}

impl<S> FromRequestParts<S> for BaseUrl
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        if let Some(url) = &state.settings.public_url {
            return Ok(Self(url.as_str().trim_end_matches('/').to_string()));
        }
        let proxied = forwarded::trusted(
            forwarded::peer(&parts.extensions),
            &state.settings.trusted_proxies,
        );
        let header = |name: &str, believed: bool| forwarded::header(&parts.headers, name, believed);
        let proto = header("x-forwarded-proto", proxied).unwrap_or_else(|| "http".into());
        let host = header("x-forwarded-host", proxied)
            .or_else(|| header(header::HOST.as_str(), true))
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .ok_or_else(|| {
                ApiError::bad_request("the request has no Host header; set --public-url")
            })?;
        Ok(Self(format!("{proto}://{host}")))
    }
}

/// A route's handlers with an explicit limit on bodies they read whole,
/// whatever the router around them says.
pub fn with_body_limit<S: Clone + Send + Sync + 'static>(
    (schemas, paths, method_router): utoipa_axum::router::UtoipaMethodRouter<S>,
    limit: usize,
) -> utoipa_axum::router::UtoipaMethodRouter<S> {
    (
        schemas,
        paths,
        method_router.layer(axum::extract::DefaultBodyLimit::max(limit)),
    )
}
