//! The metadata database: connection, migrations, and the queries the domain
//! needs, one module per table. Nothing above this layer writes SQL.

pub mod audit;
pub mod credentials;
mod error;
pub mod locks;
pub mod obshell_keys;
pub mod packages;
pub mod patch_hosts;
pub mod patches;
pub mod region_blobs;
pub mod regions;
pub mod repos;
pub mod sessions;
pub mod tokens;
pub mod upgrades;
pub mod uploads;
pub mod users;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    AccessMode, ActiveModelBehavior, ActiveModelTrait, ConnectOptions, ConnectionTrait, Database,
    DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait, IntoActiveModel,
    IsolationLevel, TransactionSession, TransactionTrait,
};

use crate::error::{Error, Result};
use crate::metrics::METRICS;

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
    // Pinging each connection as it leaves the pool (sqlx's default) is a round
    // trip per statement. Instead a connection is tested only when it may have
    // gone stale: idle for a while, or shortly after a statement failed (a
    // restarted or overloaded server leaves dead connections in the pool; each
    // is then found by a ping instead of failing a request). sqlx still pings
    // each connection when it is returned, in the background, and closes it if
    // that fails.
    let last_failure = Arc::new(FailureClock::new());
    let mut options = ConnectOptions::new(url);
    let suspect = last_failure.clone();
    options
        .test_before_acquire(false)
        .map_sqlx_postgres_before_acquire(move |conn, meta| {
            let test = meta.idle_for >= PING_AFTER_IDLE || suspect.within(TEST_AFTER_FAILURE);
            Box::pin(async move {
                if test {
                    use sea_orm::sqlx::Connection;
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .max_connections(if sqlite { 8 } else { 16 })
        .connect_timeout(Duration::from_secs(10))
        // A request waits this long for a connection before answering 503: long
        // enough for a burst, short enough not to look like a hang.
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        // On every pooled connection: readers do not block the writer, and a
        // writer waits for the lock instead of failing at once.
        // A SQLite connection whose COMMIT or ROLLBACK failed (a full disk) can
        // be left inside a transaction that sqlx no longer tracks, or tracks
        // one that SQLite already ended. Either way its next "transaction"
        // would be a savepoint of a transaction that never commits, holding
        // the write lock: such a connection is closed, not reused.
        .map_sqlx_sqlite_before_acquire({
            let suspect = last_failure.clone();
            move |conn, _meta| {
                let probe = suspect.within(TEST_AFTER_FAILURE);
                Box::pin(async move { Ok(sqlite_idle(conn, probe).await) })
            }
        })
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30))
        });
    let mut db = Database::connect(options).await?;
    db.set_metric_callback(move |info| {
        if info.failed {
            last_failure.record();
        }
        let outcome = if info.failed { "error" } else { "ok" };
        METRICS
            .db_seconds
            .with_label_values(&[outcome])
            .observe(info.elapsed.as_secs_f64());
    });
    Ok(db)
}

/// Whether a pooled SQLite connection is outside any transaction, as it must
/// be between uses. sqlx's own count is always checked; SQLite's is probed
/// (a `BEGIN` fails inside a transaction) shortly after a statement failed,
/// the only time the two can disagree.
async fn sqlite_idle(conn: &mut sea_orm::sqlx::SqliteConnection, probe: bool) -> bool {
    use sea_orm::sqlx::{Connection, Executor};
    if conn.is_in_transaction() {
        tracing::warn!("closing a database connection left inside a transaction");
        return false;
    }
    if !probe {
        return true;
    }
    match conn.execute("BEGIN").await {
        Ok(_) => conn.execute("ROLLBACK").await.is_ok(),
        Err(_) => {
            tracing::warn!("closing a database connection left inside a transaction");
            false
        }
    }
}

/// A read-only transaction that sees the database as it was at its first
/// read, whatever commits meanwhile: PostgreSQL's REPEATABLE READ, and on
/// SQLite a transaction's own WAL snapshot (which writers do not wait for).
pub async fn snapshot(db: &DatabaseConnection) -> Result<DatabaseTransaction> {
    Ok(match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        }
        _ => db.begin().await?,
    })
}

/// Inserts a row and returns it as stored, committed before it is returned.
///
/// On SQLite an `INSERT … RETURNING` outside a transaction commits only when
/// sqlx resets the statement after reading its row, and sqlx drops what that
/// reset reports: a commit that fails there (a full disk) would lose a row
/// the caller already holds. In a transaction of its own, the `COMMIT`
/// reports the failure. Inside a caller's transaction this is a savepoint.
pub async fn insert_committed<C, A>(
    db: &C,
    row: A,
) -> Result<<A::Entity as EntityTrait>::Model, DbErr>
where
    C: ConnectionTrait + TransactionTrait,
    A: ActiveModelTrait + ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    if db.get_database_backend() != DbBackend::Sqlite {
        return row.insert(db).await;
    }
    let txn = db.begin().await?;
    let model = row.insert(&txn).await?;
    txn.commit().await?;
    Ok(model)
}

/// A pooled connection idle this long is pinged before use.
const PING_AFTER_IDLE: Duration = Duration::from_secs(10);
/// After a failed statement, connections are pinged before use for this long.
const TEST_AFTER_FAILURE: Duration = Duration::from_secs(10);

/// When a statement last failed, lock-free: read on every acquire.
struct FailureClock {
    origin: Instant,
    /// Milliseconds after `origin`, plus one; 0 for never.
    last: AtomicU64,
}

impl FailureClock {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn record(&self) {
        let ms = self.origin.elapsed().as_millis() as u64 + 1;
        self.last.store(ms, Ordering::Relaxed);
    }

    fn within(&self, window: Duration) -> bool {
        match self.last.load(Ordering::Relaxed) {
            0 => false,
            at => {
                let now = self.origin.elapsed().as_millis() as u64 + 1;
                now.saturating_sub(at) < window.as_millis() as u64
            }
        }
    }
}

pub async fn migrate(db: &DatabaseConnection) -> Result<()> {
    Migrator::up(db, None).await?;
    Ok(())
}

/// Migrations this binary knows that the database has not had.
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<Vec<String>> {
    Ok(Migrator::get_pending_migrations_read_only(db)
        .await?
        .iter()
        .map(|m| m.name().to_string())
        .collect())
}

/// How many migrations this binary has.
pub fn known_migrations() -> usize {
    Migrator::migrations().len()
}

/// The database's size on disk, as the database reports it.
pub async fn size_bytes(db: &DatabaseConnection) -> Result<Option<u64>> {
    use sea_orm::Statement;
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => "SELECT pg_database_size(current_database())::bigint AS size",
        DbBackend::Sqlite => {
            "SELECT page_count * page_size AS size FROM pragma_page_count(), pragma_page_size()"
        }
        _ => return Ok(None),
    };
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    Ok(row
        .and_then(|r| r.try_get::<i64>("", "size").ok())
        .map(|n| n.max(0) as u64))
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
