//! The web console: its sessions over HTTP (cookie, CSRF, CSP, expiry,
//! bounds), and the pages in headless Chromium (`tests/console/`), on
//! both backend pairs. Screenshots: `target/tmp/console-screenshots/`.

mod browser;
mod proxy;

use browser::console_in_chromium;

use std::time::Duration;

use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, PASSWORD, TestApp, Who, envelope, expect_error};

backend_tests!(
    sessions_cookies_csrf_and_headers,
    sessions_expire_and_are_bounded,
    console_in_chromium,
);

/// A signed-in console: the cookie and the CSRF token.
pub struct Signed {
    pub cookie: String,
    pub csrf: String,
    pub set_cookie: String,
}

pub async fn sign_in(
    app: &TestApp,
    name: &str,
    password: &str,
) -> Result<Signed, (StatusCode, Value)> {
    let response = app
        .http
        .post(app.url("/ui/session"))
        .header("x-depot-console", "1")
        .json(&json!({"name": name, "password": password}))
        .send()
        .await
        .unwrap();
    let set_cookie = response
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_string());
    let (status, body) = envelope(response).await;
    if status != StatusCode::OK {
        assert!(set_cookie.is_none(), "no cookie for a refused sign-in");
        return Err((status, body));
    }
    let set_cookie = set_cookie.expect("a sign-in sets the cookie");
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    Ok(Signed {
        cookie,
        csrf: body["data"]["csrf"].as_str().unwrap().to_string(),
        set_cookie,
    })
}

fn with_cookie(app: &TestApp, method: Method, path: &str, s: &Signed) -> reqwest::RequestBuilder {
    app.http
        .request(method, app.url(path))
        .header("cookie", &s.cookie)
        .header("x-depot-console", "1")
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn sessions_cookies_csrf_and_headers(backend: Backend) {
    let app = TestApp::start_with(
        backend,
        Box::new(|c| c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]),
    )
    .await;
    // `/` leads to the console; its pages carry a CSP without inline scripts.
    let root = app.get(Who::Anonymous, "/").await;
    assert!(root.status().is_redirection());
    assert_eq!(header(root.headers(), "location"), "/ui/");
    let page = app.get(Who::Anonymous, "/ui/").await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = header(page.headers(), "content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(header(page.headers(), "x-content-type-options"), "nosniff");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/ui/assets/app.js") && !html.contains("<script>"),
        "{html}"
    );
    let js = app.get(Who::Anonymous, "/ui/assets/app.js").await;
    assert!(header(js.headers(), "content-type").starts_with("text/javascript"));
    assert_eq!(
        app.get(Who::Anonymous, "/ui/assets/nope.js").await.status(),
        StatusCode::NOT_FOUND
    );

    // A wrong password: 401, no cookie, and no Basic challenge for the page.
    let refused = app
        .http
        .post(app.url("/ui/session"))
        .header("x-depot-console", "1")
        .json(&json!({"name": "manager", "password": "wrong-password"}))
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("www-authenticate").is_none());
    expect_error(refused, StatusCode::UNAUTHORIZED, 30004).await;

    let manager = sign_in(&app, "manager", PASSWORD).await.unwrap();
    let attributes = manager.set_cookie.to_ascii_lowercase();
    for attribute in ["httponly", "samesite=strict", "path=/"] {
        assert!(attributes.contains(attribute), "{attributes}");
    }
    assert!(!attributes.contains("secure"), "plain HTTP: {attributes}");
    // Behind a trusted proxy that says HTTPS, the cookie is Secure.
    let https = app
        .http
        .post(app.url("/ui/session"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"name": "viewer", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(header(https.headers(), "set-cookie").contains("; Secure"));

    // The cookie reads; a change needs the CSRF header too.
    let id = app.upload_ok("console.sh", b"echo console".to_vec()).await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v2/software-packages/{id}");
    let list = with_cookie(&app, Method::GET, "/api/v2/software-packages", &manager)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    let no_csrf = with_cookie(&app, Method::DELETE, &path, &manager)
        .send()
        .await
        .unwrap();
    expect_error(no_csrf, StatusCode::FORBIDDEN, 90060).await;
    let other = sign_in(&app, "manager", PASSWORD).await.unwrap();
    let wrong = with_cookie(&app, Method::DELETE, &path, &manager)
        .header("x-csrf-token", &other.csrf)
        .send()
        .await
        .unwrap();
    expect_error(wrong, StatusCode::FORBIDDEN, 90060).await;
    // tus through the cookie: a POST without the header is refused as well.
    let tus = with_cookie(&app, Method::POST, "/api/v2/uploads/", &manager)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", "3")
        .send()
        .await
        .unwrap();
    expect_error(tus, StatusCode::FORBIDDEN, 90060).await;
    // RBAC is the user's: a viewer's session with its token may not delete.
    let viewer = sign_in(&app, "viewer", PASSWORD).await.unwrap();
    let forbidden = with_cookie(&app, Method::DELETE, &path, &viewer)
        .header("x-csrf-token", &viewer.csrf)
        .send()
        .await
        .unwrap();
    expect_error(forbidden, StatusCode::FORBIDDEN, 30014).await;
    let deleted = with_cookie(&app, Method::DELETE, &path, &manager)
        .header("x-csrf-token", &manager.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);

    // Who is signed in, and the same CSRF token after a reload.
    let (status, me) = envelope(
        with_cookie(&app, Method::GET, "/ui/session", &manager)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["data"]["name"], "manager");
    assert_eq!(me["data"]["role"], "manager");
    assert_eq!(me["data"]["csrf"], manager.csrf.as_str());

    // The audit log names the session's user.
    let (_, events) = envelope(
        app.get(Who::Admin, "/api/v2/audit-events?action=package.delete")
            .await,
    )
    .await;
    assert_eq!(events["data"]["contents"][0]["actor"], "manager");

    // Sign-out needs the token, ends the session, and clears the cookie.
    let out = with_cookie(&app, Method::DELETE, "/ui/session", &manager)
        .send()
        .await
        .unwrap();
    expect_error(out, StatusCode::FORBIDDEN, 90060).await;
    let out = with_cookie(&app, Method::DELETE, "/ui/session", &manager)
        .header("x-csrf-token", &manager.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::OK);
    assert!(header(out.headers(), "set-cookie").contains("Max-Age=0"));
    let after = with_cookie(&app, Method::GET, "/api/v2/software-packages", &manager)
        .send()
        .await
        .unwrap();
    assert!(after.headers().get("www-authenticate").is_none());
    expect_error(after, StatusCode::UNAUTHORIZED, 90061).await;
    // The other session of the same user lives on.
    let still = with_cookie(&app, Method::GET, "/ui/session", &other)
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), StatusCode::OK);
    // A forged cookie is no session.
    let forged = Signed {
        cookie: "depot_session=forged".into(),
        csrf: String::new(),
        set_cookie: String::new(),
    };
    let forged = with_cookie(&app, Method::GET, "/api/v2/software-packages", &forged)
        .send()
        .await
        .unwrap();
    expect_error(forged, StatusCode::UNAUTHORIZED, 90061).await;
}

async fn sessions_expire_and_are_bounded(backend: Backend) {
    let app = TestApp::start_with(
        backend,
        Box::new(|c| {
            c.console_session_idle = Duration::from_secs(2);
            c.console_session_lifetime = Duration::from_secs(4);
        }),
    )
    .await;
    let alive = |s: &Signed| {
        let request = with_cookie(&app, Method::GET, "/ui/session", s);
        async move { request.send().await.unwrap().status() == StatusCode::OK }
    };
    // Idle: unused for longer than 2 s, it is gone.
    let idle = sign_in(&app, "viewer", PASSWORD).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2600)).await;
    assert!(!alive(&idle).await, "an idle session expires");
    // Used, it lives past the idle time, but not past its lifetime.
    let used = sign_in(&app, "viewer", PASSWORD).await.unwrap();
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(3000) {
        assert!(alive(&used).await, "in use at {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    tokio::time::sleep(Duration::from_millis(1400)).await;
    assert!(!alive(&used).await, "no session outlives its lifetime");

    // At most 16 sessions per user: the 17th sign-in ends the oldest.
    let mut sessions = Vec::new();
    for _ in 0..17 {
        sessions.push(sign_in(&app, "manager", PASSWORD).await.unwrap());
    }
    assert!(!alive(&sessions[0]).await, "the oldest session was ended");
    for s in &sessions[1..] {
        assert!(alive(s).await);
    }
    // A new password ends the sessions signed in with the old one.
    app.users
        .set_password("manager", &depot::config::Secret::new("another-password"))
        .await
        .unwrap();
    assert!(
        !alive(&sessions[16]).await,
        "a password change ends the sessions"
    );

    // Sign-ins are throttled as Basic logins are: the same budget.
    let mut throttled = None;
    for _ in 0..40 {
        match sign_in(&app, "admin", "not-the-password").await {
            Err((StatusCode::TOO_MANY_REQUESTS, body)) => {
                throttled = Some(body);
                break;
            }
            Err((StatusCode::UNAUTHORIZED, _)) => {}
            other => panic!("unexpected answer: {:?}", other.map(|_| ())),
        }
    }
    let body = throttled.expect("failed sign-ins are throttled");
    assert_eq!(body["error"]["code"], 90020);
    let basic = app.get(Who::BadPassword, "/api/v2/software-packages").await;
    assert_eq!(
        basic.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "one budget for both"
    );
}
