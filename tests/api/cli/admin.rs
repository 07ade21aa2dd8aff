//! `depot user`, `token` and `route`, straight on the database.

use super::{depot, run};

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
