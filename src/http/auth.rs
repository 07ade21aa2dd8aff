//! Authentication (HTTP Basic, a Bearer API token, or the web console's
//! session cookie) and permissions as types: a handler that takes
//! `Require<PackageManager>` cannot run for anyone without that permission.

use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::console;
use super::context::RequestContext;
use super::error::{ApiError, Code};
use super::forwarded;
use crate::app::AppState;
use crate::config::{Cidr, Secret};
use crate::domain::audit::Actor;
use crate::domain::tokens::TOKEN_PREFIX;
use crate::domain::users::{Permission, User, check_user_name};

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
        // Authenticated already by obshell's header (`http::obshell`).
        let user = match parts.extensions.get::<Authenticated>() {
            Some(Authenticated(user)) => user.clone(),
            None => match parts.headers.get(header::AUTHORIZATION) {
                Some(value) => {
                    let from = client_address(parts, &state.settings.trusted_proxies);
                    authenticate(&state, Credentials::parse(value), from).await?
                }
                // The web console's session cookie, with its CSRF header on changes.
                None => match console::session::cookie_secret(&parts.headers) {
                    Some(secret) => console::session::user_of(parts, &state, &secret).await?,
                    None => return Err(ApiError::not_authenticated()),
                },
            },
        };
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

/// A caller authenticated by other means than `Authorization` (obshell's
/// headers), for `Require` to check permissions on. Only depot's own
/// middleware can put it into a request.
#[derive(Clone)]
pub struct Authenticated(pub User);

/// The user `credentials` stand for, recorded as the request's actor (or
/// the name a failed attempt tried): the one check of a password or token,
/// whatever header carried it. Passwords are throttled per name and `from`.
pub async fn authenticate(
    state: &AppState,
    credentials: Option<Credentials>,
    from: IpAddr,
) -> Result<User, ApiError> {
    let attempted = match &credentials {
        Some(Credentials::Basic { name, .. }) => name.clone(),
        _ => String::new(),
    };
    RequestContext::set_actor(Actor {
        name: attempted,
        token: None,
    });
    let user = match credentials {
        Some(Credentials::Bearer(secret)) => {
            state.tokens.authenticate(&secret).await?.ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    Code::BadCredentials,
                    "unknown, expired or revoked API token",
                )
            })?
        }
        Some(Credentials::Basic { name, password }) => state
            .users
            .authenticate(&name, password, from)
            .await?
            .ok_or_else(ApiError::bad_credentials)?,
        None => return Err(ApiError::bad_credentials()),
    };
    RequestContext::set_actor(Actor {
        name: user.name.clone(),
        token: user.token,
    });
    Ok(user)
}

/// What an `Authorization` header carries: `Basic base64(name:password)` or
/// `Bearer SECRET` (schemes in any case); `None` for anything else, an empty
/// secret included.
#[derive(Debug, PartialEq, Eq)]
pub enum Credentials {
    Basic { name: String, password: Secret },
    Bearer(Secret),
}

impl Credentials {
    pub fn parse(value: &HeaderValue) -> Option<Self> {
        let (scheme, rest) = value.to_str().ok()?.trim().split_once(' ')?;
        let rest = rest.trim();
        if rest.is_empty() {
            return None;
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(Self::Bearer(Secret::new(rest)));
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = String::from_utf8(BASE64.decode(rest).ok()?).ok()?;
        let (name, password) = decoded.split_once(':')?;
        // `token:depot_…`: an API token where only Basic can be sent (dnf's
        // `username=`/`password=`, the patch agent's repository).
        if name == BASIC_TOKEN_USER && password.starts_with(TOKEN_PREFIX) {
            return Some(Self::Bearer(Secret::new(password)));
        }
        Some(Self::Basic {
            name: name.to_string(),
            password: Secret::new(password),
        })
    }

    /// What the password of obshell's auth header stands for (it has no
    /// user name): an API token's secret (`depot_…`); `NAME:PASSWORD`, a
    /// user's; any other, the password of `admin`. `None` when empty.
    pub fn from_obshell_password(password: &Secret) -> Option<Self> {
        let password = password.expose();
        if password.is_empty() {
            return None;
        }
        if password.starts_with(TOKEN_PREFIX) {
            return Some(Self::Bearer(Secret::new(password)));
        }
        if let Some((name, rest)) = password.split_once(':')
            && check_user_name(name).is_ok()
        {
            return Some(Self::Basic {
                name: name.to_string(),
                password: Secret::new(rest),
            });
        }
        Some(Self::Basic {
            name: OBSHELL_DEFAULT_USER.to_string(),
            password: Secret::new(password),
        })
    }
}

/// The user name under which Basic carries an API token.
pub const BASIC_TOKEN_USER: &str = "token";

/// Whose password a bare obshell password is: the user depot creates first.
pub const OBSHELL_DEFAULT_USER: &str = "admin";

/// Whom failed logins are counted against: the client, as the trusted
/// proxies in front of depot (`--trusted-proxy`) name it, else the peer.
pub fn client_address(parts: &Parts, trusted_proxies: &[Cidr]) -> IpAddr {
    forwarded::client_ip(
        forwarded::peer(&parts.extensions),
        &parts.headers,
        trusted_proxies,
    )
    .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Option<Credentials> {
        Credentials::parse(&HeaderValue::from_str(value).unwrap())
    }

    #[test]
    fn authorization_headers() {
        assert_eq!(
            parse("Bearer depot_abc"),
            Some(Credentials::Bearer(Secret::new("depot_abc")))
        );
        assert_eq!(
            parse("bearer   depot_abc "),
            Some(Credentials::Bearer(Secret::new("depot_abc")))
        );
        assert_eq!(
            parse(&format!("Basic {}", BASE64.encode("ops:pa:ss"))),
            Some(Credentials::Basic {
                name: "ops".into(),
                password: Secret::new("pa:ss")
            })
        );
        // Schemes without credentials, unknown schemes, broken encodings.
        for bad in [
            "Bearer",
            "Bearer ",
            "bearer",
            "Basic",
            "Basic ",
            "Bearerx",
            "Basic !!!",
            "Digest x",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert_eq!(parse(&format!("Basic {}", BASE64.encode("no-colon"))), None);
        // A token as Basic's password under the name `token` (dnf).
        assert_eq!(
            parse(&format!("Basic {}", BASE64.encode("token:depot_abc"))),
            Some(Credentials::Bearer(Secret::new("depot_abc")))
        );
        assert!(matches!(
            parse(&format!("Basic {}", BASE64.encode("token:other"))),
            Some(Credentials::Basic { .. })
        ));
    }

    #[test]
    fn obshell_passwords() {
        let from = |pw: &str| Credentials::from_obshell_password(&Secret::new(pw));
        assert_eq!(
            from("depot_abc"),
            Some(Credentials::Bearer(Secret::new("depot_abc")))
        );
        assert_eq!(
            from("ops:pa:ss"),
            Some(Credentials::Basic {
                name: "ops".into(),
                password: Secret::new("pa:ss")
            })
        );
        assert_eq!(
            from("s3cret"),
            Some(Credentials::Basic {
                name: "admin".into(),
                password: Secret::new("s3cret")
            })
        );
        // Not a user name before the colon: all of it is admin's password.
        assert_eq!(
            from("a b:c"),
            Some(Credentials::Basic {
                name: "admin".into(),
                password: Secret::new("a b:c")
            })
        );
        assert_eq!(from(""), None);
    }
}
