//! The credential epoch: one counter row that every change to a credential
//! moves (in the change's own transaction), read by every replica on a
//! connection of its own; on PostgreSQL a NOTIFY at commit wakes them at once.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgListener, PgPoolOptions};
use sea_orm::sqlx::{self, ConnectOptions, PgConnection, SqliteConnection};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use tokio::sync::Notify;

const CHANNEL: &str = "depot_credentials";
const READ: &str = "SELECT epoch FROM credential_epoch WHERE id = 1";

/// Moves the epoch; on PostgreSQL, also tells every listener when `db` (a
/// transaction, normally) commits.
pub async fn bump(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(Statement::from_string(
        backend,
        "INSERT INTO credential_epoch (id, epoch) VALUES (1, 1) \
         ON CONFLICT (id) DO UPDATE SET epoch = credential_epoch.epoch + 1",
    ))
    .await?;
    if backend == DbBackend::Postgres {
        db.execute_raw(Statement::from_string(
            backend,
            format!("SELECT pg_notify('{CHANNEL}', '')"),
        ))
        .await?;
    }
    Ok(())
}

/// A replica's view of the epoch, on connections outside the pool (a busy
/// pool must not delay it).
pub struct EpochWatch {
    conn: Conn,
    /// Woken by a NOTIFY (PostgreSQL).
    woken: Arc<Notify>,
    listener: Option<tokio::task::JoinHandle<()>>,
}

enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl EpochWatch {
    pub async fn open(db: &DatabaseConnection) -> Result<Self, DbErr> {
        let woken = Arc::new(Notify::new());
        let (conn, listener) = match db.get_database_backend() {
            DbBackend::Sqlite => {
                let options = db.get_sqlite_connection_pool().connect_options();
                (
                    Conn::Sqlite(options.connect().await.map_err(sqlx_err)?),
                    None,
                )
            }
            DbBackend::Postgres => {
                let options = db.get_postgres_connection_pool().connect_options();
                let conn = options.connect().await.map_err(sqlx_err)?;
                // A pool of one, which the listener reconnects through.
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_lazy_with((*options).clone());
                let mut listener = PgListener::connect_with(&pool).await.map_err(sqlx_err)?;
                listener.listen(CHANNEL).await.map_err(sqlx_err)?;
                let task = tokio::spawn(forward(listener, woken.clone()));
                (Conn::Postgres(conn), Some(task))
            }
            other => return Err(DbErr::Custom(format!("no epoch watch on {other:?}"))),
        };
        Ok(Self {
            conn,
            woken,
            listener,
        })
    }

    /// The epoch now.
    pub async fn read(&mut self) -> Result<i64, DbErr> {
        let epoch = match &mut self.conn {
            Conn::Sqlite(c) => sqlx::query_scalar::<_, i64>(READ).fetch_optional(c).await,
            Conn::Postgres(c) => sqlx::query_scalar::<_, i64>(READ).fetch_optional(c).await,
        };
        Ok(epoch.map_err(sqlx_err)?.unwrap_or(0))
    }

    /// Returns after `timeout`, or earlier when a change was announced.
    pub async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.woken.notified()).await;
    }
}

impl Drop for EpochWatch {
    fn drop(&mut self) {
        if let Some(task) = &self.listener {
            task.abort();
        }
    }
}

/// Turns each notification into a wake-up; a lost connection wakes too
/// (what it missed is read from the epoch). The listener reconnects itself.
async fn forward(mut listener: PgListener, woken: Arc<Notify>) {
    loop {
        match listener.try_recv().await {
            Ok(_) => woken.notify_one(),
            Err(e) => {
                tracing::warn!(error = %e, "listening for credential changes failed; polling meanwhile");
                woken.notify_one();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn sqlx_err(e: sqlx::Error) -> DbErr {
    DbErr::Conn(sea_orm::RuntimeErr::SqlxError(Arc::new(e)))
}
