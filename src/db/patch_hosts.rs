//! Hosts reporting to the patch service (`patch_hosts`): one row per host
//! name, rewritten by each report; read a page at a time (a row holds a
//! host's whole package list).

use chrono::{DateTime, Utc};
use entity::patch_host;
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
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
/// agent that dies mid-install leaves it for the next one.
pub async fn report(db: &DatabaseConnection, r: Report, max: u64) -> Result<Stored, DbErr> {
    let txn = db.begin().await?;
    let now = Utc::now();
    let existing = patch_host::Entity::find_by_id(r.hostname.clone())
        .one(&txn)
        .await?;
    let row = match existing {
        Some(old) => {
            let requested = old.install_requested && !r.finished;
            let mut active = old.into_active_model();
            active.ip = Set(r.ip);
            active.personality = Set(r.personality);
            active.subfunctions = Set(r.subfunctions);
            active.sw_version = Set(r.sw_version);
            active.state = Set(r.state);
            active.installed = Set(r.installed);
            active.install_requested = Set(requested);
            active.reported_at = Set(now);
            active.update(&txn).await?
        }
        None => {
            if patch_host::Entity::find().count(&txn).await? >= max {
                txn.rollback().await?;
                return Ok(Stored::Full { max });
            }
            patch_host::Entity::insert(
                patch_host::Model {
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
                }
                .into_active_model(),
            )
            .exec_without_returning(&txn)
            .await?;
            patch_host::Entity::find_by_id(r.hostname)
                .one(&txn)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound("the host just written".into()))?
        }
    };
    txn.commit().await?;
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
