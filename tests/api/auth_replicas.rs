//! Revocation at once everywhere: two servers on one database, each caching
//! what it verified; a revoked token, a changed password, a removed user or a
//! demoted one stops working on both within a second, whether the change came
//! through the other server or the CLI. On SQLite and on PostgreSQL (with
//! local files: the store plays no part here).

use std::future::Future;
use std::time::{Duration, Instant};

use depot::config::Secret;
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::common::{Backend, PASSWORD, TestApp, Who, config_for, fresh_postgres_url};
use crate::tokens::create_token;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Db {
    Sqlite,
    Postgres,
}

macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite_local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Db::Sqlite).await
                }
            )*
        }
        mod postgres_local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Db::Postgres).await
                }
            )*
        }
    };
}

db_tests!(
    revoked_tokens_stop_on_every_replica,
    changed_passwords_stop_on_every_replica,
    removed_users_stop_on_every_replica,
    demoted_users_stop_on_every_replica,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_local_a_lost_watch_trusts_no_cache() {
    a_lost_watch_trusts_no_cache(Db::Postgres).await
}

/// Two servers on one database and one store.
async fn replicas(db: Db) -> (TestApp, TestApp) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(Backend::SqliteLocal, dir.path()).await;
    if db == Db::Postgres {
        config.database_url = fresh_postgres_url().await;
    }
    // `Backend` names the store's kind for the harness: local files here.
    let a = TestApp::start_config(Backend::SqliteLocal, config.clone(), dir).await;
    let other = tempfile::tempdir().unwrap();
    let b = TestApp::start_config(Backend::SqliteLocal, config, other).await;
    (a, b)
}

const LIST: &str = "/api/v2/software-packages";
/// Needs PACKAGE_MANAGER: 404 when permitted, 403 when not.
const MANAGE: &str = "/api/v2/software-packages/999999";

async fn basic(app: &TestApp, method: Method, path: &str, name: &str, pw: &str) -> StatusCode {
    let request = app.http.request(method, app.url(path));
    request
        .basic_auth(name, Some(pw))
        .send()
        .await
        .unwrap()
        .status()
}

async fn bearer(app: &TestApp, method: Method, path: &str, token: &str) -> StatusCode {
    let request = app.http.request(method, app.url(path));
    request.bearer_auth(token).send().await.unwrap().status()
}

/// Polls `works` until it says no, for at most a second after `since`.
async fn stops_within_a_second<F, Fut>(what: &str, since: Instant, works: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    loop {
        let polled = Instant::now();
        if !works().await {
            eprintln!(
                "{what}: refused {} ms after the change",
                (polled - since).as_millis()
            );
            return;
        }
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "{what}: still accepted a second after the change"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `depot ARGS` against `app`'s database; returns when it has exited
/// (its change committed).
async fn cli(app: &TestApp, args: &[&str], stdin: &str) -> Instant {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_depot"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DEPOT_DATABASE_URL", &app.config.database_url)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "depot {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Instant::now()
}

async fn token_for(app: &TestApp, user: &str) -> (String, String) {
    let created = create_token(app, json!({"name": "t", "user": user})).await;
    (
        created["id"].to_string(),
        created["token"].as_str().unwrap().to_string(),
    )
}

async fn token_works(app: &TestApp, token: &str) -> bool {
    bearer(app, Method::GET, LIST, token).await == StatusCode::OK
}

async fn password_works(app: &TestApp, name: &str, password: &str) -> bool {
    basic(app, Method::GET, LIST, name, password).await == StatusCode::OK
}

async fn token_manages(app: &TestApp, token: &str) -> bool {
    bearer(app, Method::DELETE, MANAGE, token).await == StatusCode::NOT_FOUND
}

async fn password_manages(app: &TestApp, name: &str) -> bool {
    basic(app, Method::DELETE, MANAGE, name, PASSWORD).await == StatusCode::NOT_FOUND
}

async fn revoke_over_http(app: &TestApp, id: &str) {
    let path = format!("/api/v2/tokens/{id}");
    let response = app.request(Who::Admin, Method::DELETE, &path).send().await;
    assert_eq!(response.unwrap().status(), StatusCode::OK);
}

async fn revoked_tokens_stop_on_every_replica(db: Db) {
    let (a, b) = replicas(db).await;
    // Through the other server.
    let (id, token) = token_for(&a, "viewer").await;
    assert!(token_works(&b, &token).await && token_works(&b, &token).await);
    revoke_over_http(&a, &id).await;
    let since = Instant::now();
    assert!(
        !token_works(&a, &token).await,
        "the revoking server refuses it at once"
    );
    stops_within_a_second("token revoked on the other server", since, || {
        token_works(&b, &token)
    })
    .await;

    // Through the CLI.
    let (id, token) = token_for(&a, "viewer").await;
    for app in [&a, &b] {
        assert!(token_works(app, &token).await && token_works(app, &token).await);
    }
    let since = cli(&a, &["token", "revoke", &id], "").await;
    for (what, app) in [("a", &a), ("b", &b)] {
        stops_within_a_second(&format!("token revoked by the CLI ({what})"), since, || {
            token_works(app, &token)
        })
        .await;
    }
}

async fn changed_passwords_stop_on_every_replica(db: Db) {
    let (a, b) = replicas(db).await;
    assert!(password_works(&b, "viewer", PASSWORD).await);
    assert!(password_works(&b, "viewer", PASSWORD).await);
    let first = "first-new-password";
    a.users
        .set_password("viewer", &Secret::new(first))
        .await
        .unwrap();
    let since = Instant::now();
    stops_within_a_second("password changed on the other server", since, || {
        password_works(&b, "viewer", PASSWORD)
    })
    .await;
    for app in [&a, &b] {
        assert!(password_works(app, "viewer", first).await);
        assert!(password_works(app, "viewer", first).await);
    }
    let second = "second-new-password";
    let args = ["user", "passwd", "viewer", "--password-stdin"];
    let since = cli(&a, &args, &format!("{second}\n")).await;
    for (what, app) in [("a", &a), ("b", &b)] {
        stops_within_a_second(
            &format!("password changed by the CLI ({what})"),
            since,
            || password_works(app, "viewer", first),
        )
        .await;
        assert!(password_works(app, "viewer", second).await);
    }
}

async fn removed_users_stop_on_every_replica(db: Db) {
    let (a, b) = replicas(db).await;
    let (_, token) = token_for(&a, "viewer").await;
    for app in [&a, &b] {
        for _ in 0..2 {
            assert!(password_works(app, "viewer", PASSWORD).await);
            assert!(token_works(app, &token).await);
        }
    }
    let since = cli(&a, &["user", "remove", "viewer"], "").await;
    for (what, app) in [("a", &a), ("b", &b)] {
        stops_within_a_second(&format!("removed user's password ({what})"), since, || {
            password_works(app, "viewer", PASSWORD)
        })
        .await;
        stops_within_a_second(&format!("removed user's token ({what})"), since, || {
            token_works(app, &token)
        })
        .await;
    }
}

async fn demoted_users_stop_on_every_replica(db: Db) {
    let (a, b) = replicas(db).await;
    let (_, token) = token_for(&a, "manager").await;
    for app in [&a, &b] {
        for _ in 0..2 {
            assert!(password_manages(app, "manager").await);
            assert!(token_manages(app, &token).await);
        }
    }
    // `depot user role`, a process of its own.
    let since = cli(&a, &["user", "role", "manager", "viewer"], "").await;
    for (what, app) in [("a", &a), ("b", &b)] {
        stops_within_a_second(&format!("demoted user's password ({what})"), since, || {
            password_manages(app, "manager")
        })
        .await;
        stops_within_a_second(&format!("demoted user's token ({what})"), since, || {
            token_manages(app, &token)
        })
        .await;
        // Still a viewer.
        assert!(password_works(app, "manager", PASSWORD).await);
    }
}

/// PostgreSQL: the watch's connections are killed; until they are back the
/// servers read every credential, so a revocation meanwhile still holds.
async fn a_lost_watch_trusts_no_cache(db: Db) {
    let (a, b) = replicas(db).await;
    let (id, token) = token_for(&a, "viewer").await;
    assert!(token_works(&b, &token).await && token_works(&b, &token).await);
    // Two servers, each with a reader and a listener, once both are up.
    let admin = depot::db::connect(&a.config.database_url).await.unwrap();
    let watches = "FROM pg_stat_activity WHERE datname = current_database() \
         AND query NOT LIKE '%pg_stat_activity%' \
         AND (query LIKE '%FROM credential_epoch%' OR query LIKE 'LISTEN%')";
    let sql = |select: &str| {
        sea_orm::Statement::from_string(admin.get_database_backend(), format!("{select} {watches}"))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while admin.query_all_raw(sql("SELECT pid")).await.unwrap().len() < 4 {
        assert!(
            Instant::now() < deadline,
            "the watch connections never showed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let killed = admin
        .query_all_raw(sql("SELECT pg_terminate_backend(pid)"))
        .await;
    assert_eq!(killed.unwrap().len(), 4, "the watch connections");
    revoke_over_http(&a, &id).await;
    let since = Instant::now();
    stops_within_a_second("token revoked while the watch was down", since, || {
        token_works(&b, &token)
    })
    .await;

    // Back, and caching again: the next revocation still holds within a second.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (id, token) = token_for(&a, "viewer").await;
    assert!(token_works(&b, &token).await && token_works(&b, &token).await);
    let since = cli(&a, &["token", "revoke", &id], "").await;
    stops_within_a_second("token revoked after the watch came back", since, || {
        token_works(&b, &token)
    })
    .await;
}
