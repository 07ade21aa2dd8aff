//! The `depot` binary itself: `serve` on the embedded default, `migrate`, `user`.

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn serve_starts_on_the_embedded_default_and_prints_the_admin_password() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = depot(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let found = BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| {
                line.split_once("with password ")
                    .map(|(_, p)| p.trim().to_string())
            });
        let _ = tx.send(found);
    });
    let password = rx.recv_timeout(Duration::from_secs(60)).ok().flatten();

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{base}/api/v2/time"))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "depot serve did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let password = password.expect("the generated admin password is printed");
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
