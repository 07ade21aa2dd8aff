//! The `depot` client: `push`, `ls`, `pull`, `rm` against a depot server,
//! speaking the same HTTP API agents and browsers use.

mod packages;
pub mod patches;
mod progress;
mod pull;
mod push;
mod retry;

use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::{DeserializeOwned, IgnoredAny};
use url::Url;

use crate::api_types::{Body, ErrorBody};
use crate::config::Secret;

pub use packages::{LsArgs, ls, rm};
pub use pull::pull;
pub use push::push;

/// Where the server is and who we are, for every client command.
#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// The depot server's base URL.
    #[arg(
        long,
        env = "DEPOT_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: Url,
    /// An API token (`depot token create`); preferred over a password.
    #[arg(long, env = "DEPOT_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// A user name; the password comes from DEPOT_PASSWORD or a prompt.
    #[arg(long, env = "DEPOT_USER", global = true, conflicts_with = "token")]
    pub user: Option<String>,
}

/// Why a client command failed; each kind has its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("network: {0}")]
    Network(String),
    #[error("{0}")]
    Other(String),
}

impl ClientError {
    /// The process exit code (documented in the README).
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Other(_) => 1,
            ClientError::Unauthenticated(_) => 3,
            ClientError::Forbidden(_) => 4,
            ClientError::NotFound(_) => 5,
            ClientError::Conflict(_) => 6,
            ClientError::Network(_) => 7,
        }
    }

    fn other(e: impl std::fmt::Display) -> Self {
        ClientError::Other(e.to_string())
    }

    /// The same kind of failure, saying `message` instead.
    pub fn with_message(self, message: String) -> Self {
        match self {
            ClientError::Unauthenticated(_) => ClientError::Unauthenticated(message),
            ClientError::Forbidden(_) => ClientError::Forbidden(message),
            ClientError::NotFound(_) => ClientError::NotFound(message),
            ClientError::Conflict(_) => ClientError::Conflict(message),
            ClientError::Network(_) => ClientError::Network(message),
            ClientError::Other(_) => ClientError::Other(message),
        }
    }

    /// The same failure, said of `what` (a file).
    pub fn about(self, what: &str) -> Self {
        let message = match &self {
            ClientError::Unauthenticated(m)
            | ClientError::Forbidden(m)
            | ClientError::NotFound(m)
            | ClientError::Conflict(m)
            | ClientError::Network(m)
            | ClientError::Other(m) => format!("{what}: {m}"),
        };
        self.with_message(message)
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        ClientError::Network(describe(&e))
    }
}

/// What broke, said once. reqwest's own message rarely says it ("error
/// sending request for url (…)"); its sources do, but in layers that repeat
/// each other ("client error (Connect)", "tcp connect error", the OS error).
fn describe(e: &reqwest::Error) -> String {
    let sources: Vec<String> = std::iter::successors(std::error::Error::source(e), |s| s.source())
        .map(ToString::to_string)
        .collect();
    let server = e
        .url()
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|| "the server".into());
    if e.is_connect() {
        let cause = sources.last().map_or("unreachable", String::as_str);
        return format!("cannot connect to {server}: {cause}");
    }
    if e.is_timeout() {
        return format!("{server} did not answer in time");
    }
    let mut text = e.to_string();
    for source in sources {
        if !text.contains(&source) {
            text.push_str(": ");
            text.push_str(&source);
        }
    }
    text
}

pub type ClientResult<T> = Result<T, ClientError>;

#[derive(Clone)]
enum Auth {
    Token(Secret),
    Basic(String, Secret),
    None,
}

/// An authenticated connection to one depot server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
    /// Progress bars only for a person watching.
    pub interactive: bool,
}

impl Client {
    pub fn new(args: &ClientArgs) -> ClientResult<Self> {
        let auth = match (&args.token, &args.user) {
            (Some(token), _) => Auth::Token(Secret::new(token.trim())),
            (None, Some(user)) => {
                let password = match std::env::var("DEPOT_PASSWORD") {
                    Ok(p) => p,
                    Err(_) => rpassword::prompt_password(format!("password for {user}: "))
                        .map_err(|e| {
                            ClientError::Unauthenticated(format!(
                                "no DEPOT_PASSWORD and no terminal to ask on ({e})"
                            ))
                        })?,
                };
                Auth::Basic(user.clone(), Secret::new(password))
            }
            (None, None) => Auth::None,
        };
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // Per read, not per request: a multi-GiB transfer takes as long as it takes.
            .read_timeout(Duration::from_secs(120))
            .user_agent(concat!("depot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientError::other)?;
        let mut base = args.server.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Self {
            http,
            base,
            auth,
            interactive: std::io::stderr().is_terminal(),
        })
    }

    pub fn url(&self, path: &str) -> ClientResult<Url> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(ClientError::other)
    }

    /// A request to `url` (absolute, or a path on the server) with our credentials.
    pub fn request(&self, method: reqwest::Method, url: Url) -> RequestBuilder {
        let request = self.http.request(method, url);
        match &self.auth {
            Auth::Token(token) => request.bearer_auth(token.expose()),
            Auth::Basic(user, password) => request.basic_auth(user, Some(password.expose())),
            Auth::None => request,
        }
    }

    /// Sends and returns the envelope's `data`, or the error it carries.
    pub async fn call<T: DeserializeOwned>(&self, request: RequestBuilder) -> ClientResult<T> {
        self.envelope(request)
            .await?
            .data
            .ok_or_else(|| ClientError::Other("the server answered without data".into()))
    }

    /// Sends and returns the whole envelope, or the error it carries.
    pub async fn envelope<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> ClientResult<Body<T>> {
        let response = check(request.send().await?).await?;
        Ok(response.json().await?)
    }
}

/// The `error` of an envelope, if `text` is one.
pub(crate) fn error_of(text: &str) -> Option<ErrorBody> {
    serde_json::from_str::<Body<IgnoredAny>>(text)
        .ok()
        .and_then(|body| body.error)
}

/// The response when successful; otherwise its envelope's message, as an error of its kind.
pub(crate) async fn check(response: Response) -> ClientResult<Response> {
    let status = response.status();
    if status.is_success() || status.is_redirection() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    let message = error_of(&text)
        .map(|e| e.message)
        .unwrap_or_else(|| format!("{status}: {}", text.trim()));
    Err(match status {
        StatusCode::UNAUTHORIZED => ClientError::Unauthenticated(message),
        StatusCode::FORBIDDEN => ClientError::Forbidden(message),
        StatusCode::NOT_FOUND | StatusCode::GONE => ClientError::NotFound(message),
        StatusCode::CONFLICT => ClientError::Conflict(message),
        s if s.is_server_error() => ClientError::Network(format!("the server failed: {message}")),
        _ => ClientError::Other(message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct() {
        let codes: std::collections::HashSet<_> = [
            ClientError::Other(String::new()),
            ClientError::Unauthenticated(String::new()),
            ClientError::Forbidden(String::new()),
            ClientError::NotFound(String::new()),
            ClientError::Conflict(String::new()),
            ClientError::Network(String::new()),
        ]
        .iter()
        .map(ClientError::exit_code)
        .collect();
        assert_eq!(codes.len(), 6);
    }
}
