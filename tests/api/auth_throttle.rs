//! Password guessing under attack: failed logins are budgeted per user name
//! and address and per address (429 with `Retry-After` once spent), without
//! locking the user out from elsewhere; Argon2 stays bounded when guessers
//! hang up. Other addresses are other loopback addresses (127.0.0.0/8).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::{StatusCode, header};

use crate::backend_tests;
use crate::common::{Backend, PASSWORD, TestApp, expect_error};

backend_tests!(
    guessing_is_throttled_without_locking_the_user_out,
    an_address_spraying_names_is_throttled,
    guessers_that_hang_up_never_exceed_the_hash_bound,
);

const LIST: &str = "/api/v2/software-packages";

/// A client whose connections come from `ip`.
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(ip))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn login(
    app: &TestApp,
    client: &reqwest::Client,
    name: &str,
    password: &str,
) -> reqwest::Response {
    client
        .get(app.url(LIST))
        .basic_auth(name, Some(password))
        .send()
        .await
        .unwrap()
}

/// Wrong passwords for the names `name` gives, one after the other, until
/// the throttle answers; how many failed first.
async fn guess_until_throttled(
    app: &TestApp,
    client: &reqwest::Client,
    name: impl Fn(usize) -> String,
) -> usize {
    for i in 0..100 {
        let response = login(app, client, &name(i), &format!("guess-{i}")).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            expect_throttled(response).await;
            return i;
        }
        expect_error(response, StatusCode::UNAUTHORIZED, 30004).await;
    }
    panic!("100 wrong passwords and no 429");
}

/// Expects the throttle's answer; returns its `Retry-After`.
async fn expect_throttled(response: reqwest::Response) -> u64 {
    let retry_after: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let message = expect_error(response, StatusCode::TOO_MANY_REQUESTS, 90020).await;
    assert!(message.contains("too many failed logins"), "{message}");
    retry_after
}

async fn guessing_is_throttled_without_locking_the_user_out(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (guesser, elsewhere) = (client_from([127, 0, 0, 1]), client_from([127, 0, 0, 2]));
    // The user logged in from the guesser's address before (a shared NAT).
    let before = login(&app, &guesser, "viewer", PASSWORD).await;
    assert_eq!(before.status(), StatusCode::OK);

    // The default budget: 10 failures per user name and address.
    let failed = guess_until_throttled(&app, &guesser, |_| "viewer".into()).await;
    assert!((10..=11).contains(&failed), "{failed} guesses before a 429");
    let started = Instant::now();
    let retry_after = expect_throttled(login(&app, &guesser, "viewer", "guess-x").await).await;
    assert!((1..=6).contains(&retry_after), "Retry-After: {retry_after}");
    // Refused without queueing for Argon2.
    assert!(started.elapsed() < Duration::from_millis(500));
    // A password not verified from there before is not even checked…
    let fresh = login(&app, &guesser, "viewer", "not-verified-before").await;
    expect_throttled(fresh).await;

    // …but the user is not locked out: from another address,
    let response = login(&app, &elsewhere, "viewer", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    // and from the guesser's, with the password verified there before.
    let response = login(&app, &guesser, "viewer", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    // Other users of that address have their own budgets.
    let response = login(&app, &guesser, "manager", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    // Wrong guesses from elsewhere still answer 401, not 429.
    let response = login(&app, &elsewhere, "viewer", "guess-elsewhere").await;
    expect_error(response, StatusCode::UNAUTHORIZED, 30004).await;
}

async fn an_address_spraying_names_is_throttled(backend: Backend) {
    let app = TestApp::start(backend).await;
    let (sprayer, elsewhere) = (client_from([127, 0, 0, 3]), client_from([127, 0, 0, 4]));
    // The default budget: 30 failures per address, whatever the names (one
    // more every 2 s: the guesses themselves take a while).
    let failed = guess_until_throttled(&app, &sprayer, |i| format!("user-{i}")).await;
    assert!((30..=34).contains(&failed), "{failed} guesses before a 429");
    expect_throttled(login(&app, &sprayer, "admin", PASSWORD).await).await;
    let response = login(&app, &elsewhere, "admin", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Peak resident memory of this process so far, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

async fn guessers_that_hang_up_never_exceed_the_hash_bound(backend: Backend) {
    let app = TestApp::start(backend).await;
    let bound = app.users.password_hash_load().bound;
    let rss_before = peak_rss();
    // 64 wrong passwords at once from four addresses (within their budgets),
    // hanging up one after the other, each while others wait for a turn:
    // were a turn freed by the hang-up, the next would start another hash.
    let mut guesses = Vec::new();
    for i in 0..64u8 {
        let client = client_from([127, 0, 1, i % 4]);
        let url = app.url(LIST);
        let patience = Duration::from_millis(20 + 4 * u64::from(i));
        guesses.push(tokio::spawn(async move {
            let _ = client
                .get(url)
                .basic_auth(format!("user-{i}"), Some("wrong-password"))
                .timeout(patience)
                .send()
                .await;
        }));
    }
    for guess in guesses {
        guess.await.unwrap();
    }
    // The hashes outlive their requests; each holds its turn until done.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let load = app.users.password_hash_load();
        assert!(load.peak <= bound, "{load:?}");
        if load.running == 0 && load.peak > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "hashes still running: {load:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let load = app.users.password_hash_load();
    assert!(load.peak >= 1 && load.peak <= bound, "{load:?}");
    // Argon2 takes ~19 MiB a hash: 64 at once would be over 1 GiB.
    let grown = peak_rss().saturating_sub(rss_before);
    assert!(grown < 512 << 20, "peak RSS grew by {} MiB", grown >> 20);
    // A real login goes through at once afterwards.
    let started = Instant::now();
    let response = login(&app, &client_from([127, 0, 0, 5]), "admin", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(2));
}
