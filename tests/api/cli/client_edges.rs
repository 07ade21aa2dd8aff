//! The `depot` client as a new user meets it: what it says while it retries
//! a dead server and how soon it gives up, its help, its table, one line per
//! failure, an empty `DEPOT_TOKEN`, packages named by id or file name.

use std::process::Output;
use std::time::{Duration, Instant};

use tokio::process::Command;

use crate::backend_tests;
use crate::common::{Backend, PASSWORD, TestApp, Who, envelope};

backend_tests!(a_new_user_meets_no_rough_edges);

const BIN: &str = env!("CARGO_BIN_EXE_depot");

/// `depot ARGS` with exactly the environment `env` of depot's own variables.
async fn depot(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    for name in ["DEPOT_URL", "DEPOT_TOKEN", "DEPOT_USER", "DEPOT_PASSWORD"] {
        command.env_remove(name);
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn a_new_user_meets_no_rough_edges(backend: Backend) {
    // Nobody listening: every retry is said, and it gives up within seconds
    // with the cause said once.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let dead = format!("http://{closed}");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("check.sh");
    std::fs::write(&script, "#!/bin/sh\necho ok\n").unwrap();
    let started = Instant::now();
    let out = depot(
        &[("DEPOT_URL", &dead), ("DEPOT_TOKEN", "depot_x")],
        &["push", script.to_str().unwrap()],
    )
    .await;
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{}",
        text(&out)
    );
    let said = stderr(&out);
    let retries = said.lines().filter(|l| l.contains("retrying in")).count();
    assert_eq!(retries, 3, "{said}");
    assert!(
        said.contains(&format!("cannot connect to {dead}")),
        "{said}"
    );
    let last: Vec<&str> = said.lines().filter(|l| l.contains("gave up")).collect();
    assert_eq!(last.len(), 1, "the cause is said once: {said}");
    assert!(!said.contains("Connect): tcp connect error"), "{said}");

    // Help for every filter and argument.
    let help = stdout(&depot(&[], &["ls", "--help"]).await);
    for filter in ["--type", "--version", "--os", "--arch", "--keyword"] {
        let line = help.lines().find(|l| l.trim_start().starts_with(filter));
        let line = line.unwrap_or_else(|| panic!("{filter}: {help}"));
        // The description is on the flag's line or the next one.
        let described = line.split_whitespace().count() > 2
            || help
                .lines()
                .skip_while(|l| *l != line)
                .nth(1)
                .is_some_and(|l| !l.trim().is_empty() && !l.trim_start().starts_with('-'));
        assert!(described, "{filter} has no help: {help}");
    }
    for (command, words) in [
        ("push", "RPM packages and scripts"),
        ("pull", "its id"),
        ("rm", "ids"),
    ] {
        let help = stdout(&depot(&[], &[command, "--help"]).await);
        assert!(help.contains(words), "{command}: {help}");
    }

    let app = TestApp::start(backend).await;
    let server = app.base.clone();
    // An empty DEPOT_TOKEN is no token: --user works beside it.
    let basic = [
        ("DEPOT_URL", server.as_str()),
        ("DEPOT_TOKEN", ""),
        ("DEPOT_PASSWORD", PASSWORD),
    ];
    let out = depot(
        &basic,
        &["push", "--user", "manager", script.to_str().unwrap()],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let printed = stdout(&out);
    let (id, name) = printed.trim().split_once('\t').expect("ID<TAB>NAME");
    assert_eq!(name, "check.sh");
    let as_manager = [
        ("DEPOT_URL", server.as_str()),
        ("DEPOT_TOKEN", ""),
        ("DEPOT_USER", "manager"),
        ("DEPOT_PASSWORD", PASSWORD),
    ];

    // One failing file: its cause once, on one line.
    std::fs::write(&script, "#!/bin/sh\necho different\n").unwrap();
    let out = depot(&as_manager, &["push", script.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", text(&out));

    // The table's columns line up.
    app.upload_ok(
        "an-install-script-with-a-long-name.sh",
        b"echo 1\n".to_vec(),
    )
    .await;
    let out = depot(&as_manager, &["ls"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    let file_at = lines[0].find("FILE").unwrap();
    let id_end = lines[0].find("ID").unwrap() + 2;
    for line in &lines[1..] {
        assert!(line[file_at..].ends_with(".sh"), "{table}");
        assert!(line[..id_end].trim().parse::<i64>().is_ok(), "{table}");
    }

    // pull and rm both take an id or a file name.
    let out_dir = tempfile::tempdir().unwrap();
    let to = out_dir.path().to_str().unwrap();
    for target in [id, "check.sh"] {
        let out = depot(&as_manager, &["pull", target, "-o", to]).await;
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = depot(&as_manager, &["rm", "check.sh"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stdout(&out).trim(), format!("deleted {id}\tcheck.sh"));
    let out = depot(
        &as_manager,
        &["rm", "an-install-script-with-a-long-name.sh"],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let (_, list) = envelope(app.get(Who::Viewer, "/api/v2/software-packages").await).await;
    assert_eq!(list["data"]["page"]["totalElements"], 0);
    let out = depot(&as_manager, &["rm", "gone.sh"]).await;
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
}
