//! The console's sessions over HTTP: the cookie as a credential (with the
//! CSRF header on every change), and `/ui/session` to sign in, ask who is
//! signed in, and sign out.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::config::Secret;
use crate::domain::audit::Actor;
use crate::domain::sessions::{Session, csrf_matches};
use crate::domain::users::User;
use crate::http::auth::{Credentials, authenticate, client_address};
use crate::http::context::RequestContext;
use crate::http::envelope::{Body, Envelope, NoData};
use crate::http::error::{ApiError, ApiResult, Code};
use crate::http::extract::BaseUrl;
use crate::http::openapi::Errors;

/// The session cookie's name.
pub const COOKIE: &str = "depot_session";
/// The header a page sends its session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sent by the console's pages: a refusal then asks for no Basic
/// credentials (the browser would open its own password dialog).
pub const CONSOLE_HEADER: &str = "x-depot-console";
/// The longest secret read from a cookie (ours are 43 characters).
const MAX_SECRET: usize = 128;

/// The session cookie's secret in a request's `Cookie` headers, if any.
pub fn cookie_secret(headers: &HeaderMap) -> Option<Secret> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty() && value.len() <= MAX_SECRET)
        .map(Secret::new)
}

fn safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The session a request's cookie stands for, its CSRF token checked on
/// every change (a `Require` with no `Authorization` header ends here).
pub async fn session_of(parts: &Parts, state: &AppState, secret: &Secret) -> ApiResult<Session> {
    let Some(session) = state.sessions.authenticate(secret).await? else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            Code::SessionExpired,
            "the console session has ended or expired: sign in again",
        ));
    };
    RequestContext::set_actor(Actor {
        name: session.user.name.clone(),
        token: None,
    });
    if !safe(&parts.method) {
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !csrf_matches(&session, sent) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                Code::CsrfRefused,
                format!("a change with the console's session needs its {CSRF_HEADER} header"),
            ));
        }
    }
    Ok(session)
}

/// The user a request's cookie signs in (see `session_of`).
pub async fn user_of(parts: &Parts, state: &AppState, secret: &Secret) -> ApiResult<User> {
    Ok(session_of(parts, state, secret).await?.user)
}

#[derive(Deserialize, ToSchema)]
pub struct SignIn {
    name: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    name: String,
    role: &'static str,
    /// For the page's `X-CSRF-Token` header.
    csrf: String,
    expires_at: String,
}

impl SessionInfo {
    fn of(session: &Session) -> Self {
        Self {
            name: session.user.name.clone(),
            role: session.user.role.as_str(),
            csrf: session.csrf.expose().to_string(),
            expires_at: time(session.expires_at),
        }
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn cookie(value: &str, base: &BaseUrl, max_age: Option<i64>) -> HeaderValue {
    let secure = if base.as_str().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}"
    ))
    .expect("a cookie of visible characters")
}

/// Sign in to the console with a user's name and password (throttled as
/// Basic authentication is): sets the session cookie `depot_session`.
#[utoipa::path(post, path = "/ui/session", tag = "console", request_body = SignIn,
    responses((status = 200, description = "Signed in; `Set-Cookie`", body = Body<SessionInfo>), Errors))]
pub async fn sign_in(
    State(state): State<AppState>,
    base: BaseUrl,
    parts: Parts,
    body: Result<Json<SignIn>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) = body?;
    let from = client_address(&parts, &state.settings.trusted_proxies);
    let credentials = Credentials::Basic {
        name: body.name,
        password: Secret::new(body.password),
    };
    let user = authenticate(&state, Some(credentials), from).await?;
    let (secret, session) = state.sessions.start(user).await?;
    let mut response = Envelope::ok(SessionInfo::of(&session)).into_response();
    // A browser session's cookie (no Max-Age): the server's expiry governs.
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie(secret.expose(), &base, None));
    Ok(response)
}

/// Who the session cookie signs in, and its CSRF token.
#[utoipa::path(get, path = "/ui/session", tag = "console",
    responses((status = 200, description = "The session", body = Body<SessionInfo>), Errors))]
pub async fn current(State(state): State<AppState>, parts: Parts) -> ApiResult<Response> {
    let secret = cookie_secret(&parts.headers).ok_or_else(ApiError::not_authenticated)?;
    let session = session_of(&parts, &state, &secret).await?;
    Ok(Envelope::ok(SessionInfo::of(&session)).into_response())
}

/// Sign out: ends the session (its `X-CSRF-Token` required) and clears the cookie.
#[utoipa::path(delete, path = "/ui/session", tag = "console",
    responses((status = 200, description = "Signed out", body = Body<NoData>), Errors))]
pub async fn sign_out(
    State(state): State<AppState>,
    base: BaseUrl,
    parts: Parts,
) -> ApiResult<Response> {
    let secret = cookie_secret(&parts.headers).ok_or_else(ApiError::not_authenticated)?;
    session_of(&parts, &state, &secret).await?;
    state.sessions.end(&secret).await?;
    let mut response = Envelope::empty().into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cookie("", &base, Some(0)));
    Ok(response)
}

/// A console page's refusals ask for no Basic credentials: the browser
/// would answer `WWW-Authenticate` with its own password dialog.
pub async fn no_basic_challenge(req: Request, next: Next) -> Response {
    let console = req.headers().contains_key(CONSOLE_HEADER);
    let mut response = next.run(req).await;
    if console {
        response.headers_mut().remove(header::WWW_AUTHENTICATE);
    }
    response
}
