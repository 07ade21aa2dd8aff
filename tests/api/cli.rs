//! The `depot` binary itself: `serve` on the embedded default, `migrate`,
//! `user`, `token`, `route`, `doctor`, and which of them may migrate.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_depot");

fn depot(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("DEPOT_DATA_DIR", data_dir)
        .env_remove("DEPOT_DATABASE_URL")
        .env_remove("DEPOT_STORAGE_URL")
        .env_remove("DEPOT_ADMIN_PASSWORD")
        .env("RUST_LOG", "warn");
    cmd
}

fn run(cmd: &mut Command, stdin: &str) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn user_commands_manage_the_embedded_database() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(depot(dir.path()).arg("migrate"), "");
    assert!(ok, "{out}{err}");

    let (ok, out, err) = run(
        depot(dir.path()).args([
            "user",
            "add",
            "alice",
            "--role",
            "manager",
            "--password-stdin",
        ]),
        "alice-password\n",
    );
    assert!(ok, "{out}{err}");
    let (ok, out, _) = run(
        depot(dir.path()).args(["user", "add", "bob", "--role", "viewer"]),
        "",
    );
    assert!(ok);
    assert!(
        out.contains("password: "),
        "a generated password is shown once: {out}"
    );

    let (ok, out, _) = run(depot(dir.path()).args(["user", "list"]), "");
    assert!(ok);
    assert!(
        out.contains("alice\tmanager") && out.contains("bob\tviewer"),
        "{out}"
    );

    // Refusals exit non-zero with a one-line cause.
    let (ok, _, err) = run(
        depot(dir.path()).args([
            "user",
            "add",
            "alice",
            "--role",
            "viewer",
            "--password-stdin",
        ]),
        "another-password\n",
    );
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = run(
        depot(dir.path()).args([
            "user",
            "add",
            "carol",
            "--role",
            "viewer",
            "--password-stdin",
        ]),
        "short\n",
    );
    assert!(!ok && err.contains("at least"), "{err}");
    let (ok, _, _) = run(
        depot(dir.path()).args(["user", "add", "dave", "--role", "root"]),
        "",
    );
    assert!(!ok);

    let (ok, _, _) = run(
        depot(dir.path()).args(["user", "passwd", "alice", "--password-stdin"]),
        "new-alice-password\n",
    );
    assert!(ok);
    let (ok, _, _) = run(depot(dir.path()).args(["user", "remove", "bob"]), "");
    assert!(ok);
    let (ok, _, err) = run(depot(dir.path()).args(["user", "remove", "bob"]), "");
    assert!(!ok && err.contains("no user"), "{err}");
}

/// Starts `depot serve` (logging at info) and hands its stderr over line by
/// line, so a test can read what it says and show it when something fails.
fn serve(cmd: &mut Command) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = cmd
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

#[tokio::test]
async fn serve_starts_on_the_embedded_default_and_prints_the_admin_password() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, rx) = serve(depot(dir.path()).args(["serve", "--listen", "127.0.0.1:0"]));
    let mut said = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut password, mut addr) = (None, None);
    while password.is_none() || addr.is_none() {
        let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            panic!(
                "no admin password or address printed; depot said:\n{}",
                said.join("\n")
            );
        };
        if let Some((_, p)) = line.split_once("with password ") {
            password = Some(p.trim().to_string());
        }
        if let Some((_, a)) = line.split_once("addr=") {
            addr = a.split_whitespace().next().map(str::to_string);
        }
        said.push(line);
    }
    let (password, addr) = (password.unwrap(), addr.unwrap());

    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    while client
        .get(format!("{base}/api/v2/time"))
        .send()
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "depot serve did not come up; it said:\n{}",
            said.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = client
        .get(format!("{base}/api/v2/software-packages"))
        .basic_auth("admin", Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(dir.path().join("depot.db").exists());
    assert!(dir.path().join("blobs").is_dir());
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn route_plans_over_a_yaml_file_and_lists_missing_packages() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = dir.path().join("dep.yml");
    std::fs::write(
        &yaml,
        "- version: 1.0.0.0\n  can_be_upgraded_to: [1.1.0.0]\n- version: 1.1.0.0\n  can_be_upgraded_to: [2.0.0.0]\n  require_from_binary: true\n",
    )
    .unwrap();
    let yaml = yaml.to_str().unwrap();
    // Only `migrate` and `serve` migrate; `route` needs a current schema.
    let (ok, out, err) = run(depot(dir.path()).arg("migrate"), "");
    assert!(ok, "{out}{err}");
    let args = [
        "route",
        "--from",
        "1.0.0.0",
        "--to",
        "2.0.0.0",
        "--yaml",
        yaml,
        "--architecture",
        "x86_64",
        "--distribution",
        "el7",
    ];
    let (ok, out, err) = run(depot(dir.path()).args(args), "");
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("route:        1.0.0.0 → 1.1.0.0 → 2.0.0.0"),
        "{out}"
    );
    assert!(
        out.contains("binary route: 1.0.0.0 → 1.1.0.0 → 2.0.0.0"),
        "{out}"
    );
    assert!(
        out.contains("MISSING oceanbase-ce-1.1.0.0-*.el7.x86_64.rpm"),
        "{out}"
    );

    let (ok, _, err) = run(
        depot(dir.path()).args([
            "route", "--from", "1.0.0.0", "--to", "3.0.0.0", "--yaml", yaml,
        ]),
        "",
    );
    assert!(!ok && err.contains("3.0.0.0"), "{err}");
}

/// `--log-format json`: one JSON object a line, and the trace id an answer
/// carries is on the log line of its request.
#[tokio::test]
async fn json_logs_carry_the_answers_trace_id() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, rx) = serve(
        depot(dir.path())
            .env("DEPOT_ADMIN_PASSWORD", "admin-password-1")
            .args(["serve", "--log-format", "json", "--listen", "127.0.0.1:0"]),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let next = || {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("depot kept logging");
        serde_json::from_str::<serde_json::Value>(&line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    };
    let addr = loop {
        let entry = next();
        if let Some(addr) = entry["fields"]["addr"].as_str() {
            break addr.to_string();
        }
    };
    let response = reqwest::get(format!("http://{addr}/api/v2/software-packages"))
        .await
        .unwrap();
    let trace_id = response.headers()["x-trace-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["traceId"], trace_id.as_str());
    loop {
        let entry = next();
        if entry["span"]["trace_id"] == trace_id.as_str()
            && entry["fields"]["message"] == "answered"
        {
            assert_eq!(entry["fields"]["status"], 401);
            assert_eq!(entry["span"]["route"], "/api/v2/software-packages");
            break;
        }
    }
    child.kill().unwrap();
    let _ = child.wait();
}

#[test]
fn token_commands_create_list_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(depot(dir.path()).arg("migrate"), "");
    assert!(ok, "{out}{err}");
    let (ok, out, err) = run(
        depot(dir.path()).args(["user", "add", "ci", "--role", "manager"]),
        "",
    );
    assert!(ok, "{out}{err}");

    let (ok, out, err) = run(
        depot(dir.path()).args([
            "token",
            "create",
            "deploy",
            "--user",
            "ci",
            "--expires",
            "30d",
        ]),
        "",
    );
    assert!(ok, "{out}{err}");
    // The secret alone on stdout, for `TOKEN=$(depot token create …)`.
    let secret = out.trim();
    assert!(
        secret.starts_with("depot_") && !secret.contains(' '),
        "{out}"
    );
    assert!(err.contains("shown only now"), "{err}");

    let (ok, out, _) = run(depot(dir.path()).args(["token", "list"]), "");
    assert!(ok);
    let line = out.lines().find(|l| l.contains("deploy")).expect("listed");
    assert!(
        line.contains("ci") && line.contains("manager") && line.contains("active"),
        "{line}"
    );
    assert!(!out.contains(secret), "the secret must not be listed");

    // At most the user's role; only existing users.
    let (ok, _, err) = run(
        depot(dir.path()).args(["token", "create", "x", "--user", "ci", "--role", "admin"]),
        "",
    );
    assert!(!ok && err.contains("at most"), "{err}");
    let (ok, _, err) = run(
        depot(dir.path()).args(["token", "create", "x", "--user", "nobody"]),
        "",
    );
    assert!(!ok && err.contains("no user"), "{err}");

    let id = line.split_whitespace().next().unwrap();
    let (ok, out, err) = run(depot(dir.path()).args(["token", "revoke", id]), "");
    assert!(ok, "{out}{err}");
    let (_, out, _) = run(
        depot(dir.path()).args(["token", "list", "--user", "ci"]),
        "",
    );
    assert!(out.contains("revoked"), "{out}");
}

#[test]
fn doctor_reports_pending_migrations_then_all_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(depot(dir.path()).arg("doctor"), "");
    assert!(!ok, "{out}{err}");
    assert!(out.contains("FAIL  migrations current"), "{out}");
    assert!(out.contains("depot migrate"), "{out}");
    assert!(err.contains("1 check(s) failed"), "{err}");

    let (ok, _, _) = run(depot(dir.path()).arg("migrate"), "");
    assert!(ok);
    let (ok, out, err) = run(depot(dir.path()).arg("doctor"), "");
    assert!(ok, "{out}{err}");
    for line in out.lines().filter(|l| !l.starts_with(' ')) {
        assert!(line.starts_with("OK"), "{out}");
    }
    assert!(
        out.contains("clock skew") && out.contains("store reachable"),
        "{out}"
    );
}

/// Every table, index and trigger of the SQLite database at `url`, with its SQL.
async fn schema(url: &str) -> Vec<(String, String, Option<String>)> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let db = depot::db::connect(url).await.unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT type, name, sql FROM sqlite_master ORDER BY type, name",
        ))
        .await
        .unwrap();
    let schema = rows
        .iter()
        .map(|r| {
            (
                r.try_get("", "type").unwrap(),
                r.try_get("", "name").unwrap(),
                r.try_get("", "sql").unwrap(),
            )
        })
        .collect();
    db.close().await.unwrap();
    schema
}

/// Only `serve` and `migrate` change the schema: on a database one migration
/// behind, every other command that opens it refuses, naming `depot migrate`
/// and what is pending, and leaves the schema as it was.
#[tokio::test]
async fn commands_other_than_migrate_refuse_a_schema_behind() {
    use migration::{Migrator, MigratorTrait};

    let dir = tempfile::tempdir().unwrap();
    let url = depot::config::sqlite_url(&dir.path().join("depot.db"));
    // A new database: nothing is created in it.
    let (ok, out, err) = run(depot(dir.path()).args(["user", "list"]), "");
    assert!(
        !ok && err.contains("no schema yet") && err.contains("run `depot migrate` first"),
        "{out}{err}"
    );
    assert_eq!(schema(&url).await, vec![]);

    let (ok, out, err) = run(depot(dir.path()).arg("migrate"), "");
    assert!(ok, "{out}{err}");
    let db = depot::db::connect(&url).await.unwrap();
    Migrator::down(&db, Some(1)).await.unwrap();
    let pending = depot::db::pending_migrations(&db).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    db.close().await.unwrap();
    let behind = schema(&url).await;

    for args in [
        &["token", "list"][..],
        &["user", "add", "ops", "--role", "viewer"],
        &["audit"],
        &["route", "--from", "1.0.0.0", "--to", "2.0.0.0"],
        &["gc"],
    ] {
        let (ok, out, err) = run(depot(dir.path()).args(args), "");
        assert!(!ok, "{args:?} ran on a schema behind: {out}{err}");
        assert!(
            err.contains("1 migration(s) pending")
                && err.contains(&pending[0])
                && err.contains("run `depot migrate` first"),
            "{args:?}: {err}"
        );
        assert_eq!(schema(&url).await, behind, "{args:?} changed the schema");
    }
    // The doctor reports it, and changes nothing either.
    let (ok, out, _) = run(depot(dir.path()).arg("doctor"), "");
    assert!(!ok && out.contains("FAIL  migrations current"), "{out}");
    assert!(out.contains("1 pending"), "{out}");
    assert_eq!(schema(&url).await, behind, "doctor changed the schema");

    let (ok, out, err) = run(depot(dir.path()).arg("migrate"), "");
    assert!(ok, "{out}{err}");
    assert_ne!(schema(&url).await, behind);
    let (ok, out, err) = run(depot(dir.path()).args(["token", "list"]), "");
    assert!(ok, "{out}{err}");
}

/// With OTEL_EXPORTER_OTLP_ENDPOINT set, each request's span reaches the
/// collector under the envelope's traceId (the client's, from `traceparent`).
#[tokio::test]
async fn traces_are_exported_under_the_envelopes_trace_id() {
    use std::sync::{Arc, Mutex};
    let received = Arc::new(Mutex::new(String::new()));
    let sink = received.clone();
    let collector = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: String| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push_str(&body);
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let dir = tempfile::tempdir().unwrap();
    let (mut child, rx) = serve(
        depot(dir.path())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
            .env("OTEL_BSP_SCHEDULE_DELAY", "100"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("depot serve printed its address");
        if let Some((_, a)) = line.split_once("addr=") {
            break a.split_whitespace().next().unwrap().to_string();
        }
    };
    let client = reqwest::Client::new();
    let time = |traceparent: Option<&'static str>| {
        let mut request = client.get(format!("http://{addr}/api/v2/time"));
        if let Some(tp) = traceparent {
            request = request.header("traceparent", tp);
        }
        async move {
            let body: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            body["traceId"].as_str().unwrap().to_string()
        }
    };
    let own = time(None).await;
    let theirs = time(Some(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ))
    .await;
    assert_eq!(theirs, "4bf92f3577b34da6a3ce929d0e0e4736");
    loop {
        let got = received.lock().unwrap().clone();
        // OTLP/JSON writes ids as hex strings.
        if got.contains(&format!("\"{own}\"")) && got.contains(&format!("\"{theirs}\"")) {
            assert!(
                got.contains("\"00f067aa0ba902b7\""),
                "the client's span is the parent: {got}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "traces {own} and {theirs} never reached the collector; it got:\n{got}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    let _ = child.wait();
}
