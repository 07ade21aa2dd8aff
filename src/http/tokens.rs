//! `/api/v2/tokens`: API tokens, for users with user administration.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::response::IntoResponse;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Require, UserAdmin};
use super::envelope::{Body, Envelope, total_count};
use super::error::{ApiError, ApiResult};
use super::extract::{PathParam, QueryParams, with_body_limit};
use super::openapi::Errors;
use crate::app::AppState;
use crate::domain::tokens::TokenInfo;
use crate::domain::users::Role;
use crate::domain::window::Window;

/// The largest token request read (a name, a user, a role, a lifetime).
const MAX_TOKEN_REQUEST: usize = 16 << 10;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(with_body_limit(routes!(list, create), MAX_TOKEN_REQUEST))
        .routes(routes!(show, revoke))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenMeta {
    id: i64,
    name: String,
    /// The user the token acts as.
    user: String,
    /// `viewer`, `manager` or `admin`: at most the user's own.
    role: &'static str,
    /// `active`, `expired` or `revoked`.
    state: &'static str,
    create_time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    expire_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoke_time: Option<String>,
    /// Only in the answer to its creation: the secret is not stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, false)
}

impl TokenMeta {
    fn new(t: TokenInfo, secret: Option<String>) -> Self {
        Self {
            state: t.state(Utc::now()),
            id: t.id,
            name: t.name,
            user: t.user,
            role: t.role.as_str(),
            create_time: time(t.created_at),
            expire_time: t.expires_at.map(time),
            last_used_time: t.last_used_at.map(time),
            revoke_time: t.revoked_at.map(time),
            token: secret,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateToken {
    name: String,
    /// Whose token; default: the caller.
    user: Option<String>,
    /// `viewer`, `manager` or `admin`; default and ceiling: the user's role.
    role: Option<String>,
    /// A lifetime such as `30d` or `12h`; default: no expiry.
    expires_in: Option<String>,
}

/// Create an API token. Its secret is in this answer only (`token`); use it
/// as `Authorization: Bearer SECRET`.
#[utoipa::path(
    post,
    path = "/api/v2/tokens",
    tag = "tokens",
    request_body = CreateToken,
    responses((status = 200, description = "The token, with its secret", body = Body<TokenMeta>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn create(
    Require(caller, _): Require<UserAdmin>,
    State(state): State<AppState>,
    body: Result<Json<CreateToken>, JsonRejection>,
) -> ApiResult<Envelope<TokenMeta>> {
    let Json(body) = body?;
    let role = body
        .role
        .as_deref()
        .map(|r| r.parse::<Role>())
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let lifetime = body
        .expires_in
        .as_deref()
        .map(|s| {
            humantime::parse_duration(s).map_err(|e| {
                ApiError::bad_request(format!("expiresIn {s:?} is not a duration like 30d: {e}"))
            })
        })
        .transpose()?;
    let user = body.user.unwrap_or(caller.name);
    let (token, secret) = state
        .tokens
        .create(&user, &body.name, role, lifetime)
        .await?;
    tracing::info!(token = token.id, user = %token.user, role = %token.role, "API token created");
    Ok(Envelope::ok(TokenMeta::new(
        token,
        Some(secret.expose().to_string()),
    )))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this user's tokens.
    user: Option<String>,
    /// With `size`: one page (1-based) of the tokens by id; `X-Total-Count`
    /// says how many there are. Without either, every token.
    #[param(minimum = 1)]
    page: Option<u64>,
    /// Tokens per page (default 25 when `page` is given).
    #[param(minimum = 1, maximum = 500)]
    size: Option<u64>,
}

/// List API tokens (without their secrets).
#[utoipa::path(
    get,
    path = "/api/v2/tokens",
    tag = "tokens",
    params(ListQuery),
    responses((status = 200, description = "The tokens (a page of them with `page` or `size`)", body = Body<Vec<TokenMeta>>,
        headers(("x-total-count" = u64, description = "How many tokens there are"))), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn list(
    _: Require<UserAdmin>,
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<impl IntoResponse> {
    let user = query.user.as_deref();
    let (tokens, total) =
        match Window::new(query.page, query.size).map_err(ApiError::bad_request)? {
            Some(window) => state.tokens.page(user, window).await?,
            None => {
                let all = state.tokens.list(user).await?;
                let total = all.len() as u64;
                (all, total)
            }
        };
    let tokens: Vec<_> = tokens
        .into_iter()
        .map(|t| TokenMeta::new(t, None))
        .collect();
    Ok((total_count(total), Envelope::ok(tokens)))
}

/// One API token.
#[utoipa::path(
    get,
    path = "/api/v2/tokens/{id}",
    tag = "tokens",
    params(("id" = i64, Path, example = 1, description = "The token's id")),
    responses((status = 200, description = "The token", body = Body<TokenMeta>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn show(
    _: Require<UserAdmin>,
    State(state): State<AppState>,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Envelope<TokenMeta>> {
    Ok(Envelope::ok(TokenMeta::new(
        state.tokens.get(id).await?,
        None,
    )))
}

/// Revoke an API token: refused from the next request on.
#[utoipa::path(
    delete,
    path = "/api/v2/tokens/{id}",
    tag = "tokens",
    params(("id" = i64, Path, example = 1, description = "The token's id")),
    responses((status = 200, description = "The revoked token", body = Body<TokenMeta>), Errors),
    security(("basic" = []), ("bearer" = [])),
)]
async fn revoke(
    _: Require<UserAdmin>,
    State(state): State<AppState>,
    PathParam(id): PathParam<i64>,
) -> ApiResult<Envelope<TokenMeta>> {
    let token = state.tokens.revoke(id).await?;
    tracing::info!(token = id, "API token revoked");
    Ok(Envelope::ok(TokenMeta::new(token, None)))
}
