//! Authentication (HTTP Basic, or a Bearer API token) and permissions as types: a handler that takes
//! `Require<PackageManager>` cannot run for anyone without that permission.

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum_extra::headers::authorization::{Basic, Bearer, Credentials};

use super::context::RequestContext;
use super::error::{ApiError, Code};
use crate::app::AppState;
use crate::config::Secret;
use crate::domain::audit::Actor;
use crate::domain::users::{Permission, User};

pub trait RequiredPermission: Send + Sync {
    const PERMISSION: Permission;
    const NAME: &'static str;
}

pub struct PackageViewer;
pub struct PackageManager;
pub struct UserAdmin;

impl RequiredPermission for PackageViewer {
    const PERMISSION: Permission = Permission::PackageViewer;
    const NAME: &'static str = "PACKAGE_VIEWER";
}

impl RequiredPermission for PackageManager {
    const PERMISSION: Permission = Permission::PackageManager;
    const NAME: &'static str = "PACKAGE_MANAGER";
}

impl RequiredPermission for UserAdmin {
    const PERMISSION: Permission = Permission::UserAdmin;
    const NAME: &'static str = "USER_ADMIN";
}

/// The authenticated caller, known to hold permission `P`.
pub struct Require<P>(pub User, pub PhantomData<P>);

impl<P: RequiredPermission, S> FromRequestParts<S> for Require<P>
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::not_authenticated());
        };
        // `decode` expects its own scheme (it asserts so in debug builds).
        let is_bearer = value
            .as_bytes()
            .get(..Bearer::SCHEME.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(Bearer::SCHEME.as_bytes()));
        let is_basic = value
            .as_bytes()
            .get(..Basic::SCHEME.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(Basic::SCHEME.as_bytes()));
        let attempted = is_basic
            .then(|| Basic::decode(value))
            .flatten()
            .map(|b| b.username().to_string());
        RequestContext::set_actor(Actor {
            name: attempted.unwrap_or_default(),
            token: None,
        });
        let user = if is_bearer {
            let bearer = Bearer::decode(value).ok_or_else(ApiError::bad_credentials)?;
            state
                .tokens
                .authenticate(&Secret::new(bearer.token()))
                .await?
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        Code::BadCredentials,
                        "unknown, expired or revoked API token",
                    )
                })?
        } else if is_basic {
            let basic = Basic::decode(value).ok_or_else(ApiError::bad_credentials)?;
            state
                .users
                .authenticate(basic.username(), Secret::new(basic.password()))
                .await?
                .ok_or_else(ApiError::bad_credentials)?
        } else {
            return Err(ApiError::bad_credentials());
        };
        RequestContext::set_actor(Actor {
            name: user.name.clone(),
            token: user.token,
        });
        if !user.role.grants(P::PERMISSION) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                Code::NotPermitted,
                match user.token {
                    Some(token) => format!(
                        "token {token} of user {:?} lacks the {} permission",
                        user.name,
                        P::NAME
                    ),
                    None => format!("user {:?} lacks the {} permission", user.name, P::NAME),
                },
            ));
        }
        Ok(Self(user, PhantomData))
    }
}
