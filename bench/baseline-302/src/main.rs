//! `baseline-302 ADDR LOCATION`: answers every GET (and HEAD) with
//! `302 Found`, `Location: LOCATION` and `Cache-Control: no-store` — what
//! depot's download route answers in redirect mode, minus the work (auth,
//! lookup, presigning). The runtime is tokio's multi-threaded one, as depot's.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8081".into());
    let location: &'static str = Box::leak(
        args.next()
            .unwrap_or_else(|| "http://127.0.0.1:3900/bucket/key".into())
            .into_boxed_str(),
    );
    let redirect = move || async move {
        (
            StatusCode::FOUND,
            [
                (header::LOCATION, location),
                (header::CACHE_CONTROL, "no-store"),
            ],
        )
            .into_response()
    };
    let app = Router::new().fallback(get(redirect));
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    eprintln!("baseline-302 listening on {addr}");
    axum::serve(listener, app).await.expect("serve");
}
