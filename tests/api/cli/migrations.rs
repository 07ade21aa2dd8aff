//! Who migrates: `migrate` and `serve` only; the doctor reports.

use super::{depot, run};

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
