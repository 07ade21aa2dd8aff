//! Hosts reporting to the patch service (`patch_hosts`): one row per host
//! name, rewritten by each report; read a page at a time (a row holds a
//! host's whole package list).

use chrono::{DateTime, Utc};
use entity::patch_host;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
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
    /// The row as it is now.
    Host(patch_host::Model),
    /// A new host, and `max` are known already.
    Full { max: u64 },
}

/// Writes a report: a new host only while fewer than `max` are known. The
/// install request stays until a report says the install `finished`: an
/// agent that dies mid-install leaves it for the next one. Single
/// statements, no read-then-write transaction (SQLite would refuse one
/// under concurrent writers); two new hosts at the very same moment may
/// both pass the count.
pub async fn report(db: &DatabaseConnection, r: Report, max: u64) -> Result<Stored, DbErr> {
    let now = Utc::now();
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
    if done.rows_affected == 0 {
        if patch_host::Entity::find().count(db).await? >= max {
            return Ok(Stored::Full { max });
        }
        let row = patch_host::Model {
            hostname: r.hostname.clone(),
            ip: r.ip,
            personality: r.personality,
            subfunctions: r.subfunctions,
            sw_version: r.sw_version,
            state: r.state,
            installed: r.installed,
            install_requested: false,
            reported_at: now,
            created_at: now,
        };
        super::insert_committed(db, row.into_active_model()).await?;
    }
    let row = find(db, &r.hostname)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("host {} just written", r.hostname)))?;
    Ok(Stored::Host(row))
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
