//! Authentication (HTTP Basic) and permissions as types: a handler that takes
//! `Require<PackageManager>` cannot run for anyone without that permission.

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum_extra::headers::authorization::{Basic, Credentials};

use super::error::{ApiError, Code};
use crate::app::AppState;
use crate::config::Secret;
use crate::domain::users::{Permission, User};

pub trait RequiredPermission: Send + Sync {
    const PERMISSION: Permission;
    const NAME: &'static str;
}

pub struct PackageViewer;
pub struct PackageManager;

impl RequiredPermission for PackageViewer {
    const PERMISSION: Permission = Permission::PackageViewer;
    const NAME: &'static str = "PACKAGE_VIEWER";
}

impl RequiredPermission for PackageManager {
    const PERMISSION: Permission = Permission::PackageManager;
    const NAME: &'static str = "PACKAGE_MANAGER";
}

/// The authenticated caller, known to hold permission `P`.
pub struct Require<P>(pub User, PhantomData<P>);

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
        let basic = Basic::decode(value).ok_or_else(ApiError::bad_credentials)?;
        let user = state
            .users
            .authenticate(basic.username(), Secret::new(basic.password()))
            .await?
            .ok_or_else(ApiError::bad_credentials)?;
        if !user.role.grants(P::PERMISSION) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                Code::NotPermitted,
                format!("user {:?} lacks the {} permission", user.name, P::NAME),
            ));
        }
        Ok(Self(user, PhantomData))
    }
}
