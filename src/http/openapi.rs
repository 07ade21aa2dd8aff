//! The OpenAPI 3.1 description of the HTTP API. Each handler carries its own
//! `#[utoipa::path]`, and the routers register handlers with `routes!`, which
//! adds the route and its description together; this module holds what is
//! common: the document's header, the security schemes, and the error answers.
//! Served at `/api-docs/openapi.json`, browsable at `/api-docs/`.

use std::collections::BTreeMap;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, Modify, OpenApi, PartialSchema};

use super::envelope::{Body, ErrorBody, NoData};

pub const SPEC_PATH: &str = "/api-docs/openapi.json";
pub const UI_PATH: &str = "/api-docs";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "depot",
        description = "A storage-backed package repository speaking the OCP software-package API, \
                       obshell's upgrade-package API and tus resumable uploads. Every JSON answer is \
                       the OCP envelope; errors carry a stable `error.code` (listed in the README) \
                       and the `traceId` that depot's logs and traces carry too.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&Security),
    components(schemas(ErrorBody, NoData)),
    tags(
        (name = "packages", description = "OCP software packages: list, upload, download, delete"),
        (name = "uploads", description = "Resumable uploads over tus 1.0.0"),
        (name = "upgrades", description = "obshell upgrade packages and upgrade routes"),
        (name = "obshell", description = "obshell's handshake: its SDKs read these before authenticating with its RSA/AES headers"),
        (name = "repos", description = "yum/dnf repositories of the stored RPMs, signed"),
        (name = "regions", description = "Regions: object stores near groups of agents, replicated by depot"),
        (name = "tokens", description = "API tokens (user administrators)"),
        (name = "operations", description = "Probes, metrics, diagnostics and the audit log"),
        (name = "console", description = "The web console: its pages, and signing in and out with a session cookie"),
    )
)]
pub struct ApiDoc;

/// Names of the security schemes. The handlers' `security(...)` spell them
/// as literals: attribute macros take no constants.
const BASIC: &str = "basic";
const BEARER: &str = "bearer";
const METRICS: &str = "metrics";

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        for (name, scheme, description) in [
            (
                BASIC,
                HttpAuthScheme::Basic,
                "a depot user (`curl --user NAME:PASSWORD`)",
            ),
            (
                BEARER,
                HttpAuthScheme::Bearer,
                "an API token (`depot token create`)",
            ),
            (
                METRICS,
                HttpAuthScheme::Bearer,
                "`--metrics-token`, when depot runs with one (for /metrics only)",
            ),
        ] {
            let http = HttpBuilder::new()
                .scheme(scheme)
                .description(Some(description))
                .build();
            components.add_security_scheme(name, SecurityScheme::Http(http));
        }
    }
}

fn envelope_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Body::<NoData>::schema()))
                .build(),
        )
        .build()
        .into()
}

/// The error answers any operation may give: the envelope with `error` set.
/// Ranges, because which 4xx a request earns depends on the request; the
/// README's error table lists each code.
pub struct Errors;

impl IntoResponses for Errors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([
            (
                "4XX".to_string(),
                envelope_response(
                    "Refused: bad input (400), not authenticated (401), not permitted (403), \
                     not found (404), conflict (409), too large (413), stalled (408), \
                     too many failed logins (429, with `Retry-After`), …; \
                     `error.code` says which",
                ),
            ),
            (
                "5XX".to_string(),
                envelope_response(
                    "Failed: the database or the object store is unavailable (503) or full (507); \
                     `error.message` says which and what to do",
                ),
            ),
        ])
    }
}

/// The document, with the paths the routers registered.
pub fn document(paths: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut api = ApiDoc::openapi();
    api.merge(paths);
    // axum's catch-all segments (`{*ids}`) are plain parameters to OpenAPI.
    let described = std::mem::take(&mut api.paths.paths);
    api.paths.paths = described
        .into_iter()
        .map(|(path, item)| (path.replace("{*", "{"), item))
        .collect();
    api.info.version = env!("CARGO_PKG_VERSION").to_string();
    api
}
