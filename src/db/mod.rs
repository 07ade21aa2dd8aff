//! The metadata database: connection, migrations, and the queries the domain
//! needs, one module per table. Nothing above this layer writes SQL.

pub mod packages;
pub mod users;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

use crate::error::{Error, Result};

pub async fn connect(url: &str) -> Result<DatabaseConnection> {
    let sqlite = url.starts_with("sqlite:");
    if sqlite {
        create_sqlite_parent(url)?;
    } else if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        return Err(Error::invalid(format!(
            "unsupported database URL (use sqlite://PATH or postgres://…): {}",
            redact_url(url)
        )));
    }
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(if sqlite { 8 } else { 16 })
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        // Readers do not block the writer, and the writer waits instead of failing.
        db.execute_unprepared("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .await?;
    }
    Ok(db)
}

pub async fn migrate(db: &DatabaseConnection) -> Result<()> {
    Migrator::up(db, None).await?;
    Ok(())
}

fn create_sqlite_parent(url: &str) -> Result<()> {
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::invalid(format!("cannot create {}: {e}", parent.display())))?;
    }
    Ok(())
}

/// A database URL fit for logs and errors: the password replaced.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}
