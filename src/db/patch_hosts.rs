//! Hosts reporting to the patch service (`patch_hosts`): one row per host
//! name, rewritten by each report; read a page at a time (a row holds a
//! host's whole package list).

use chrono::{DateTime, Utc};
use entity::patch_host;
use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};

/// What a report writes.
#[derive(Clone, Debug)]
pub struct Report {
    pub hostname: String,
    pub ip: String,
    pub personality: String,
    pub subfunctions: String,
    pub sw_version: String,
    pub state: String,
    pub installed: String,
    /// The agent ends an install with this report: the request is done.
    pub finished: bool,
}

/// How a report was stored.
pub enum Stored {
    /// The row as it is now; `changed` unless the report changed nothing
    /// but its time.
    Host {
        row: patch_host::Model,
        changed: bool,
    },
    /// A new host, and `max` are known already.
    Full { max: u64 },
}

/// Writes a report: a new host only while fewer than `max` are known, and
/// the cap holds under concurrent first reports (`insert_capped`). The
/// install request stays until a report says the install `finished`: an
/// agent that dies mid-install leaves it for the next one. A report that
/// changes nothing but the time (a heartbeat) is told apart, in one
/// statement, so that it need not be audited.
pub async fn report(db: &DatabaseConnection, r: Report, max: u64) -> Result<Stored, DbErr> {
    let now = Utc::now();
    // Unchanged but for the time (and with no install request to end): a
    // heartbeat.
    let mut same = patch_host::Entity::update_many()
        .col_expr(patch_host::Column::ReportedAt, Expr::value(now))
        .filter(patch_host::Column::Hostname.eq(r.hostname.clone()))
        .filter(patch_host::Column::Ip.eq(r.ip.clone()))
        .filter(patch_host::Column::Personality.eq(r.personality.clone()))
        .filter(patch_host::Column::Subfunctions.eq(r.subfunctions.clone()))
        .filter(patch_host::Column::SwVersion.eq(r.sw_version.clone()))
        .filter(patch_host::Column::State.eq(r.state.clone()))
        .filter(patch_host::Column::Installed.eq(r.installed.clone()));
    if r.finished {
        same = same.filter(patch_host::Column::InstallRequested.eq(false));
    }
    if same.exec(db).await?.rows_affected > 0 {
        return found(db, &r.hostname, false).await;
    }
    if update(db, &r, now).await? {
        return found(db, &r.hostname, true).await;
    }
    let row = patch_host::Model {
        hostname: r.hostname.clone(),
        ip: r.ip.clone(),
        personality: r.personality.clone(),
        subfunctions: r.subfunctions.clone(),
        sw_version: r.sw_version.clone(),
        state: r.state.clone(),
        installed: r.installed.clone(),
        install_requested: false,
        reported_at: now,
        created_at: now,
    };
    // Not inserted: depot is full, or the same host's first report raced
    // this one in (then this one is its update).
    if insert_capped(db, &row, max).await? || update(db, &r, now).await? {
        return found(db, &r.hostname, true).await;
    }
    Ok(Stored::Full { max })
}

/// Rewrites a known host's row; false when the host is unknown.
async fn update(db: &DatabaseConnection, r: &Report, now: DateTime<Utc>) -> Result<bool, DbErr> {
    let mut update = patch_host::Entity::update_many()
        .col_expr(patch_host::Column::Ip, Expr::value(r.ip.clone()))
        .col_expr(
            patch_host::Column::Personality,
            Expr::value(r.personality.clone()),
        )
        .col_expr(
            patch_host::Column::Subfunctions,
            Expr::value(r.subfunctions.clone()),
        )
        .col_expr(
            patch_host::Column::SwVersion,
            Expr::value(r.sw_version.clone()),
        )
        .col_expr(patch_host::Column::State, Expr::value(r.state.clone()))
        .col_expr(
            patch_host::Column::Installed,
            Expr::value(r.installed.clone()),
        )
        .col_expr(patch_host::Column::ReportedAt, Expr::value(now));
    if r.finished {
        update = update.col_expr(patch_host::Column::InstallRequested, Expr::value(false));
    }
    let done = update
        .filter(patch_host::Column::Hostname.eq(r.hostname.clone()))
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

async fn found(db: &DatabaseConnection, hostname: &str, changed: bool) -> Result<Stored, DbErr> {
    let row = find(db, hostname)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("host {hostname} just written")))?;
    Ok(Stored::Host { row, changed })
}

/// Any fixed key: the lock that orders new hosts on PostgreSQL.
const NEW_HOST_LOCK: i64 = 0x6465_706f_7468_6f73; // "depothos"

/// Inserts `row` if fewer than `max` hosts are known, counting and inserting
/// in one statement: SQLite runs a writing statement under its one write
/// lock, taken before it reads; PostgreSQL's READ COMMITTED would let two
/// statements count the same rows, so new hosts first take a transaction's
/// advisory lock there (on every replica: the lock is the database's).
/// Heartbeats of known hosts never take it. False when not inserted (full,
/// or the host exists).
async fn insert_capped(
    db: &DatabaseConnection,
    row: &patch_host::Model,
    max: u64,
) -> Result<bool, DbErr> {
    use patch_host::Column as C;
    let count = Query::select()
        .expr(Func::count(Expr::col(C::Hostname)))
        .from(patch_host::Entity)
        .to_owned();
    let values = Query::select()
        .exprs([
            Expr::val(row.hostname.clone()),
            Expr::val(row.ip.clone()),
            Expr::val(row.personality.clone()),
            Expr::val(row.subfunctions.clone()),
            Expr::val(row.sw_version.clone()),
            Expr::val(row.state.clone()),
            Expr::val(row.installed.clone()),
            Expr::val(row.install_requested),
            Expr::val(row.reported_at),
            Expr::val(row.created_at),
        ])
        .and_where(Expr::SubQuery(None, Box::new(count.into())).lt(max as i64))
        .to_owned();
    let insert = Query::insert()
        .into_table(patch_host::Entity)
        .columns([
            C::Hostname,
            C::Ip,
            C::Personality,
            C::Subfunctions,
            C::SwVersion,
            C::State,
            C::Installed,
            C::InstallRequested,
            C::ReportedAt,
            C::CreatedAt,
        ])
        .select_from(values)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .on_conflict(OnConflict::column(C::Hostname).do_nothing().to_owned())
        .to_owned();
    let inserted = if db.get_database_backend() == DbBackend::Postgres {
        let txn = db.begin().await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [NEW_HOST_LOCK.into()],
        ))
        .await?;
        let done = txn.execute(&insert).await?;
        txn.commit().await?;
        done
    } else {
        db.execute(&insert).await?
    };
    Ok(inserted.rows_affected() > 0)
}

/// Up to `limit` hosts (of `release`, when given) after host name `after`.
pub async fn page(
    db: &impl ConnectionTrait,
    release: Option<&str>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<patch_host::Model>, DbErr> {
    let mut q = patch_host::Entity::find().order_by_asc(patch_host::Column::Hostname);
    if let Some(release) = release {
        q = q.filter(patch_host::Column::SwVersion.eq(release));
    }
    if let Some(after) = after {
        q = q.filter(patch_host::Column::Hostname.gt(after));
    }
    q.limit(limit).all(db).await
}

/// `limit` hosts from `offset` by host name, and how many there are.
pub async fn window(
    db: &impl ConnectionTrait,
    offset: u64,
    limit: u64,
) -> Result<(Vec<patch_host::Model>, u64), DbErr> {
    let total = patch_host::Entity::find().count(db).await?;
    let rows = patch_host::Entity::find()
        .order_by_asc(patch_host::Column::Hostname)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

pub async fn find(
    db: &impl ConnectionTrait,
    hostname: &str,
) -> Result<Option<patch_host::Model>, DbErr> {
    patch_host::Entity::find_by_id(hostname.to_owned())
        .one(db)
        .await
}

/// Asks a host's agent to install; false when the host is unknown.
pub async fn request_install(db: &impl ConnectionTrait, hostname: &str) -> Result<bool, DbErr> {
    let done = patch_host::Entity::update_many()
        .col_expr(patch_host::Column::InstallRequested, Expr::value(true))
        .filter(patch_host::Column::Hostname.eq(hostname))
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

/// Forgets a host; its release, or `None` when it was unknown.
pub async fn delete(db: &DatabaseConnection, hostname: &str) -> Result<Option<String>, DbErr> {
    let Some(row) = find(db, hostname).await? else {
        return Ok(None);
    };
    patch_host::Entity::delete_by_id(hostname.to_owned())
        .exec(db)
        .await?;
    Ok(Some(row.sw_version))
}

/// Hosts of `release` installing, by a report newer than `since`.
pub async fn installing(
    db: &impl ConnectionTrait,
    release: &str,
    since: DateTime<Utc>,
) -> Result<Vec<String>, DbErr> {
    patch_host::Entity::find()
        .select_only()
        .column(patch_host::Column::Hostname)
        .filter(patch_host::Column::SwVersion.eq(release))
        .filter(patch_host::Column::State.eq("installing"))
        .filter(patch_host::Column::ReportedAt.gt(since))
        .order_by_asc(patch_host::Column::Hostname)
        .into_tuple()
        .all(db)
        .await
}
