//! The `depot` binary itself: `serve` on the embedded default, the admin
//! commands, and which commands may migrate.

mod admin;
mod client_edges;
mod migrations;
mod patch_hosts;
mod repo;
mod serve;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_depot");

pub fn depot(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("DEPOT_DATA_DIR", data_dir)
        .env_remove("DEPOT_DATABASE_URL")
        .env_remove("DEPOT_STORAGE_URL")
        .env_remove("DEPOT_ADMIN_PASSWORD")
        .env("RUST_LOG", "warn");
    cmd
}

pub fn run(cmd: &mut Command, stdin: &str) -> (bool, String, String) {
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

/// Starts `depot serve` (logging at info) and hands its stderr over line by
/// line, so a test can read what it says and show it when something fails.
pub fn serve(cmd: &mut Command) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
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
