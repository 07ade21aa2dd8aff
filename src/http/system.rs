//! `/api/v2/time` (obd's liveness check, no authentication) and `/api/v2/info`.

use axum::Router;
use axum::routing::get;
use chrono::{Local, SecondsFormat};
use serde::Serialize;

use super::envelope::Envelope;
use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v2/time", get(time))
        .route("/api/v2/info", get(info))
}

async fn time() -> Envelope<String> {
    Envelope::ok(Local::now().to_rfc3339_opts(SecondsFormat::Millis, false))
}

#[derive(Serialize)]
struct Info {
    name: &'static str,
    version: &'static str,
}

async fn info() -> Envelope<Info> {
    Envelope::ok(Info {
        name: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
    })
}
