//! The web console: pages served by depot itself at `/ui/` (`/` redirects
//! there), built from plain JavaScript modules and CSS embedded in the
//! binary (`assets/`: no Node.js, no bundler, no CDN). The pages call
//! depot's own API with a session cookie (`session`), which `http::auth`
//! takes as a credential beside `Authorization`.

pub mod session;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::http::extract::{PathParam, with_body_limit};

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
    ("patches.js", JS, include_str!("assets/patches.js")),
    ("regions.js", JS, include_str!("assets/regions.js")),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("assets/style.css"),
    ),
];
const JS: &str = "text/javascript; charset=utf-8";
const INDEX: &str = include_str!("assets/index.html");

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(root))
        .routes(routes!(index))
        .routes(routes!(asset))
        // A name and a password: nothing more is read.
        .routes(with_body_limit(
            routes!(session::current, session::sign_in, session::sign_out),
            4096,
        ))
        .layer(middleware::from_fn(headers))
}

/// `/` leads to the console.
#[utoipa::path(get, path = "/", tag = "console",
    responses((status = 303, description = "To the console, `/ui/`")))]
async fn root() -> Redirect {
    Redirect::to("/ui/")
}

/// The console's page (its content is drawn by its scripts).
#[utoipa::path(get, path = "/ui/", tag = "console",
    responses((status = 200, description = "The page", content_type = "text/html")))]
async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], INDEX).into_response()
}

/// One of the console's scripts or its style sheet.
#[utoipa::path(get, path = "/ui/assets/{file}", tag = "console",
    params(("file" = String, Path, example = "app.js", description = "The file's name")),
    responses(
        (status = 200, description = "The file", content_type = "text/javascript"),
        (status = 404, description = "No such file", content_type = "text/plain"),
    ))]
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
