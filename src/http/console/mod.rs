//! The web console: pages served by depot itself at `/ui/` (`/` redirects
//! there), built from plain JavaScript modules and CSS embedded in the
//! binary (`assets/`: no Node.js, no bundler, no CDN). The pages call
//! depot's own API with a session cookie (`session`), which `http::auth`
//! takes as a credential beside `Authorization`.

pub mod session;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::app::AppState;
use crate::http::extract::PathParam;

/// Scripts, styles, images and connections from depot only; no inline
/// script or style, no frames, no plugins, forms only to depot.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The pages' files: name, content type, bytes.
const ASSETS: &[(&str, &str, &str)] = &[
    ("app.js", JS, include_str!("assets/app.js")),
    ("api.js", JS, include_str!("assets/api.js")),
    ("dom.js", JS, include_str!("assets/dom.js")),
    ("packages.js", JS, include_str!("assets/packages.js")),
    ("upload.js", JS, include_str!("assets/upload.js")),
    ("tus.js", JS, include_str!("assets/tus.js")),
    ("admin.js", JS, include_str!("assets/admin.js")),
    ("ops.js", JS, include_str!("assets/ops.js")),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("assets/style.css"),
    ),
];
const JS: &str = "text/javascript; charset=utf-8";
const INDEX: &str = include_str!("assets/index.html");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(index))
        .route("/ui/assets/{file}", get(asset))
        .route(
            "/ui/session",
            get(session::current)
                .post(session::sign_in)
                .delete(session::sign_out)
                // A name and a password: nothing more is read.
                .layer(axum::extract::DefaultBodyLimit::max(4096)),
        )
        .layer(middleware::from_fn(headers))
}

async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response()
}

async fn asset(PathParam(file): PathParam<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => {
            ([(header::CONTENT_TYPE, *content_type)], *body).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

/// What every console answer carries: the CSP, no sniffing, no referrer,
/// no framing, and no caching (a new depot serves new pages at once).
async fn headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_inline_scripts_are_allowed() {
        let script = CONTENT_SECURITY_POLICY
            .split(';')
            .find(|d| d.trim().starts_with("script-src"))
            .unwrap();
        assert!(!script.contains("unsafe"), "{script}");
        // The page has no inline script or style for the policy to block.
        assert!(!INDEX.contains("<script>") && !INDEX.contains("style="));
        for (name, _, body) in ASSETS {
            assert!(!body.is_empty(), "{name}");
        }
    }
}
