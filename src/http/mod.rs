//! The HTTP surface: one router per resource, merged here, plus the
//! middleware every request passes through.

pub mod audit;
pub mod auth;
pub mod body;
pub mod console;
pub mod context;
pub mod cors;
pub mod diagnostics;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod files;
pub mod forwarded;
#[cfg(fuzzing)]
pub mod fuzzing;
pub mod health;
pub mod multipart;
pub mod obshell;
pub mod openapi;
pub mod packages;
pub mod patches;
pub mod regions;
pub mod repos;
pub mod serve;
pub mod system;
pub mod tokens;
pub mod upgrades;
pub mod uploads;

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware;
use axum::response::IntoResponse;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::app::AppState;
use error::{ApiError, Code};

/// Every route with its description: each module registers its handlers with
/// `routes!`, which takes the route from the handler's `#[utoipa::path]`.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, paths) = OpenApiRouter::new()
        .merge(packages::router())
        .merge(files::router())
        .merge(system::router())
        .merge(health::router())
        .merge(upgrades::router())
        .merge(obshell::router())
        .merge(uploads::router())
        .merge(tokens::router())
        .merge(diagnostics::router())
        .merge(audit::router())
        .merge(repos::router())
        .merge(console::router())
        .merge(regions::router())
        .merge(patches::router())
        .split_for_parts();
    (router, openapi::document(paths))
}

pub fn router(state: AppState) -> Router {
    let (api, description) = api();
    let cors = cors::layer(&state.settings.cors_origins);
    // obshell's auth headers, on routes that exist only: unknown paths (and
    // obshell's calls depot does not have) answer without decrypting anything.
    let router = api
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            obshell::middleware,
        ))
        .merge(SwaggerUi::new(openapi::UI_PATH).url(openapi::SPEC_PATH, description))
        .fallback(|method: Method, uri: Uri| async move {
            if obshell::is_obshell_path(&uri) {
                return obshell::refuse(&method, &uri);
            }
            ApiError::new(StatusCode::NOT_FOUND, Code::NotFound, "no such endpoint")
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                Code::MethodNotAllowed,
                "this endpoint does not support that method",
            )
        })
        // Inside the context middleware, so a panic still answers the envelope with its trace id.
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                Code::Unexpected,
                "internal error",
            )
            .into_response()
        }))
        // Inside the context middleware (the trace id), outside the panic
        // catcher (a panic is recorded with its 500).
        .layer(middleware::from_fn_with_state(
            state.clone(),
            audit::middleware,
        ))
        .layer(middleware::from_fn(context::middleware))
        .layer(middleware::from_fn(console::session::no_basic_challenge))
        .with_state(state);
    match cors {
        // Outermost: a preflight is answered before anything else looks at it.
        Some(cors) => router.layer(middleware::from_fn_with_state(cors, cors::middleware)),
        None => router,
    }
}
