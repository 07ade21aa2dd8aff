//! Regions and each blob's replication status per region (`regions`,
//! `region_blobs`). A status row is claimed by one worker at a time: an
//! `UPDATE` whose condition only one replica can meet (the row is due, or
//! its holder's lease lapsed), so no two replicas copy the same blob.

use chrono::{DateTime, Utc};
use entity::{package, region, region_blob};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, Order,
    QueryFilter, QueryOrder, QuerySelect,
};

pub use super::region_blobs::*;

/// The states of a status row.
pub const PENDING: &str = "pending";
pub const COPYING: &str = "copying";
pub const PRESENT: &str = "present";
pub const FAILED: &str = "failed";

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<region::Model>, DbErr> {
    region::Entity::find()
        .order_by_asc(region::Column::Name)
        .all(db)
        .await
}

pub async fn find(db: &impl ConnectionTrait, name: &str) -> Result<Option<region::Model>, DbErr> {
    region::Entity::find_by_id(name.to_string()).one(db).await
}

pub async fn insert(db: &impl ConnectionTrait, row: region::Model) -> Result<(), DbErr> {
    region::Entity::insert(region::ActiveModel::from(row))
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Takes the write lock for a configuration change first (SQLite: a
/// transaction that reads before it writes fails when another writes
/// meanwhile; PostgreSQL: concurrent changes queue on the rows).
pub async fn lock_all(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    region::Entity::update_many()
        .col_expr(region::Column::Home, Expr::col(region::Column::Home))
        .filter(Expr::value(1).eq(1))
        .exec(db)
        .await?;
    Ok(())
}

/// Makes `name` the one home region.
pub async fn set_home(db: &impl ConnectionTrait, name: &str) -> Result<(), DbErr> {
    region::Entity::update_many()
        .col_expr(region::Column::Home, Expr::value(false))
        .filter(region::Column::Name.ne(name))
        .exec(db)
        .await?;
    region::Entity::update_many()
        .col_expr(region::Column::Home, Expr::value(true))
        .filter(region::Column::Name.eq(name))
        .exec(db)
        .await?;
    Ok(())
}

/// Removes a region and its status rows; `false` when there was none.
pub async fn delete(db: &impl ConnectionTrait, name: &str) -> Result<bool, DbErr> {
    region_blob::Entity::delete_many()
        .filter(region_blob::Column::Region.eq(name))
        .exec(db)
        .await?;
    let res = region::Entity::delete_by_id(name.to_string())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Status rows for blob `key` in every region, in the caller's transaction
/// (the package's): `present` in `local` (the store the ingest wrote to),
/// `pending` elsewhere. Existing rows are left as they are. With no region
/// configured, nothing.
pub async fn enqueue_blob(
    db: &impl ConnectionTrait,
    key: &str,
    size: i64,
    local: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let state = Expr::case(
        Expr::col(region::Column::Name).eq(local.unwrap_or("")),
        Expr::value(PRESENT),
    )
    .finally(Expr::value(PENDING));
    let select = Query::select()
        .expr(Expr::value(key))
        .column(region::Column::Name)
        .expr(Expr::value(size))
        .expr(state)
        .expr(Expr::value(now))
        .expr(Expr::value(now))
        .expr(Expr::value(now))
        .from(region::Entity)
        // SQLite reads `… FROM t ON CONFLICT` as a join without a WHERE.
        .and_where(Expr::value(1).eq(1))
        .to_owned();
    insert_select(db, select).await
}

/// Rows in `region` (in `state`) for every stored package's blob that has
/// none (a region added after them, a row lost): what the reconciler backfills.
pub async fn backfill(
    db: &impl ConnectionTrait,
    region: &str,
    state: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let missing = Query::select()
        .expr(Expr::value(1))
        .from(region_blob::Entity)
        .and_where(
            Expr::col((region_blob::Entity, region_blob::Column::BlobKey))
                .equals((package::Entity, package::Column::BlobKey)),
        )
        .and_where(Expr::col((region_blob::Entity, region_blob::Column::Region)).eq(region))
        .to_owned();
    let select = Query::select()
        .distinct()
        .column((package::Entity, package::Column::BlobKey))
        .expr(Expr::value(region))
        .column((package::Entity, package::Column::Size))
        .expr(Expr::value(state))
        .expr(Expr::value(now))
        .expr(Expr::value(now))
        .expr(Expr::value(now))
        .from(package::Entity)
        .and_where(Expr::exists(missing).not())
        .to_owned();
    let before = count(db, Some(region)).await?;
    insert_select(db, select).await?;
    Ok(count(db, Some(region)).await?.saturating_sub(before))
}

async fn insert_select(
    db: &impl ConnectionTrait,
    select: sea_orm::sea_query::SelectStatement,
) -> Result<(), DbErr> {
    use region_blob::Column as C;
    let insert = Query::insert()
        .into_table(region_blob::Entity)
        .columns([
            C::BlobKey,
            C::Region,
            C::Size,
            C::State,
            C::NextAttemptAt,
            C::CreatedAt,
            C::UpdatedAt,
        ])
        .select_from(select)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .on_conflict(
            OnConflict::columns([C::BlobKey, C::Region])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    db.execute(&insert).await?;
    Ok(())
}

async fn count(db: &impl ConnectionTrait, region: Option<&str>) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    let mut q = region_blob::Entity::find();
    if let Some(region) = region {
        q = q.filter(region_blob::Column::Region.eq(region));
    }
    q.count(db).await
}

/// The regions where blob `key` is known to be present.
pub async fn present_in(db: &impl ConnectionTrait, key: &str) -> Result<Vec<String>, DbErr> {
    region_blob::Entity::find()
        .select_only()
        .column(region_blob::Column::Region)
        .filter(region_blob::Column::BlobKey.eq(key))
        .filter(region_blob::Column::State.eq(PRESENT))
        .into_tuple::<String>()
        .all(db)
        .await
}

/// Up to `limit` rows of blobs no package references, recorded before `before`.
pub async fn unreferenced(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<region_blob::Model>, DbErr> {
    let used = Query::select()
        .expr(Expr::value(1))
        .from(package::Entity)
        .and_where(
            Expr::col((package::Entity, package::Column::BlobKey))
                .equals((region_blob::Entity, region_blob::Column::BlobKey)),
        )
        .to_owned();
    region_blob::Entity::find()
        .filter(Expr::exists(used).not())
        .filter(region_blob::Column::CreatedAt.lt(before))
        .limit(limit)
        .all(db)
        .await
}

/// Removes a status row unless a live copy holds it; `false` when one does
/// (or the row is gone). On PostgreSQL the row stays locked until the
/// caller's transaction ends, so no worker claims it meanwhile.
pub async fn delete_unless_copying(
    db: &impl ConnectionTrait,
    key: &str,
    region: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    use region_blob::Column as C;
    let res = region_blob::Entity::delete_many()
        .filter(C::BlobKey.eq(key))
        .filter(C::Region.eq(region))
        .filter(
            Condition::any()
                .add(C::State.ne(COPYING))
                .add(C::LeaseUntil.lt(now)),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Per region and state: rows, bytes, and the oldest row's last change.
#[derive(Debug, FromQueryResult)]
pub struct StateCount {
    pub region: String,
    pub state: String,
    pub rows: i64,
    pub bytes: Option<i64>,
    pub oldest: Option<DateTime<Utc>>,
}

pub async fn state_counts(db: &impl ConnectionTrait) -> Result<Vec<StateCount>, DbErr> {
    use region_blob::Column as C;
    region_blob::Entity::find()
        .select_only()
        .column(C::Region)
        .column(C::State)
        .column_as(Expr::col(C::BlobKey).count(), "rows")
        .column_as(
            Expr::col(C::Size).sum().cast_as(Alias::new("BIGINT")),
            "bytes",
        )
        .column_as(Expr::col(C::CreatedAt).min(), "oldest")
        .group_by(C::Region)
        .group_by(C::State)
        .into_model::<StateCount>()
        .all(db)
        .await
}

/// A region's most recent error, and when.
pub async fn last_error(
    db: &impl ConnectionTrait,
    region: &str,
) -> Result<Option<(String, DateTime<Utc>)>, DbErr> {
    use region_blob::Column as C;
    region_blob::Entity::find()
        .select_only()
        .column(C::LastError)
        .column(C::UpdatedAt)
        .filter(C::Region.eq(region))
        .filter(C::LastError.is_not_null())
        .order_by(C::UpdatedAt, Order::Desc)
        .into_tuple::<(String, DateTime<Utc>)>()
        .one(db)
        .await
}
