//! Claiming and settling status rows (`region_blobs`): the workers' and the
//! reconciler's queries. `db::regions` re-exports them.

use chrono::{DateTime, Utc};
use entity::region_blob;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::regions::{COPYING, FAILED, PENDING, PRESENT};

/// Which rows a worker may take now: due pending or failed ones, and
/// copies whose worker's lease lapsed (it died or lost the database).
fn claimable(now: DateTime<Utc>) -> Condition {
    use region_blob::Column as C;
    Condition::any()
        .add(
            Condition::all()
                .add(C::State.is_in([PENDING, FAILED]))
                .add(C::NextAttemptAt.lte(now)),
        )
        .add(
            Condition::all()
                .add(C::State.eq(COPYING))
                .add(C::LeaseUntil.lt(now)),
        )
}

/// Up to `limit` rows a worker may claim, the longest waiting first.
pub async fn due(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<region_blob::Model>, DbErr> {
    region_blob::Entity::find()
        .filter(claimable(now))
        .order_by(region_blob::Column::NextAttemptAt, Order::Asc)
        .limit(limit)
        .all(db)
        .await
}

/// Claims a row for `owner` until `until`; `false` when another worker
/// took it first or it is not due.
pub async fn claim(
    db: &impl ConnectionTrait,
    key: &str,
    region: &str,
    owner: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    use region_blob::Column as C;
    let res = region_blob::Entity::update_many()
        .col_expr(C::State, Expr::value(COPYING))
        .col_expr(C::LeaseOwner, Expr::value(owner))
        .col_expr(C::LeaseUntil, Expr::value(until))
        .col_expr(C::Attempts, Expr::col(C::Attempts).add(1))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::BlobKey.eq(key))
        .filter(C::Region.eq(region))
        .filter(claimable(now))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

fn held(key: &str, region: &str, owner: &str) -> Condition {
    use region_blob::Column as C;
    Condition::all()
        .add(C::BlobKey.eq(key))
        .add(C::Region.eq(region))
        .add(C::State.eq(COPYING))
        .add(C::LeaseOwner.eq(owner))
}

/// Extends a held lease; `false` when it is no longer ours.
pub async fn extend(
    db: &impl ConnectionTrait,
    key: &str,
    region: &str,
    owner: &str,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let res = region_blob::Entity::update_many()
        .col_expr(region_blob::Column::LeaseUntil, Expr::value(until))
        .filter(held(key, region, owner))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Ends a held lease with the copy's outcome: present (verified now), or
/// failed with `error`, to be tried again at `next`.
pub async fn finish(
    db: &impl ConnectionTrait,
    key: &str,
    region: &str,
    owner: &str,
    outcome: Result<(), (&str, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    use region_blob::Column as C;
    let mut update = region_blob::Entity::update_many()
        .col_expr(C::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(C::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::UpdatedAt, Expr::value(now));
    update = match outcome {
        Ok(()) => update
            .col_expr(C::State, Expr::value(PRESENT))
            .col_expr(C::VerifiedAt, Expr::value(now))
            .col_expr(C::LastError, Expr::value(Option::<String>::None)),
        Err((error, next)) => update
            .col_expr(C::State, Expr::value(FAILED))
            .col_expr(C::LastError, Expr::value(error))
            .col_expr(C::NextAttemptAt, Expr::value(next)),
    };
    let res = update.filter(held(key, region, owner)).exec(db).await?;
    Ok(res.rows_affected == 1)
}

/// A present row whose object turned out missing or wrong (drift): pending again.
pub async fn requeue(
    db: &impl ConnectionTrait,
    key: &str,
    region: &str,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    use region_blob::Column as C;
    region_blob::Entity::update_many()
        .col_expr(C::State, Expr::value(PENDING))
        .col_expr(C::LastError, Expr::value(error))
        .col_expr(C::NextAttemptAt, Expr::value(now))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::BlobKey.eq(key))
        .filter(C::Region.eq(region))
        .filter(C::State.eq(PRESENT))
        .exec(db)
        .await?;
    Ok(())
}

/// Marks a present row verified now.
pub async fn verified(
    db: &impl ConnectionTrait,
    key: &str,
    region: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    region_blob::Entity::update_many()
        .col_expr(region_blob::Column::VerifiedAt, Expr::value(now))
        .filter(region_blob::Column::BlobKey.eq(key))
        .filter(region_blob::Column::Region.eq(region))
        .filter(region_blob::Column::State.eq(PRESENT))
        .exec(db)
        .await?;
    Ok(())
}

/// Up to `limit` present rows, the least recently verified first (those
/// never verified before all others).
pub async fn least_verified(
    db: &impl ConnectionTrait,
    region: Option<&str>,
    limit: u64,
) -> Result<Vec<region_blob::Model>, DbErr> {
    let mut q = region_blob::Entity::find().filter(region_blob::Column::State.eq(PRESENT));
    if let Some(region) = region {
        q = q.filter(region_blob::Column::Region.eq(region));
    }
    q.order_by(region_blob::Column::VerifiedAt, Order::Asc)
        .order_by(region_blob::Column::BlobKey, Order::Asc)
        .limit(limit)
        .all(db)
        .await
}

/// Up to `limit` present rows of `region` after blob key `after`, in key order.
pub async fn present_after(
    db: &impl ConnectionTrait,
    region: &str,
    after: &str,
    limit: u64,
) -> Result<Vec<region_blob::Model>, DbErr> {
    region_blob::Entity::find()
        .filter(region_blob::Column::Region.eq(region))
        .filter(region_blob::Column::State.eq(PRESENT))
        .filter(region_blob::Column::BlobKey.gt(after))
        .order_by(region_blob::Column::BlobKey, Order::Asc)
        .limit(limit)
        .all(db)
        .await
}

/// Failed rows due now: `depot region sync` does not wait for their backoff.
pub async fn retry_failed_now(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let res = region_blob::Entity::update_many()
        .col_expr(region_blob::Column::NextAttemptAt, Expr::value(now))
        .filter(region_blob::Column::State.eq(FAILED))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Whether a live copy (a claimed row whose lease holds) is writing blob
/// `key` into `region` now.
pub async fn copying_live(
    db: &impl ConnectionTrait,
    key: &str,
    region: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    use region_blob::Column as C;
    let live = region_blob::Entity::find()
        .filter(C::BlobKey.eq(key))
        .filter(C::Region.eq(region))
        .filter(C::State.eq(COPYING))
        .filter(C::LeaseUntil.gte(now))
        .count(db)
        .await?;
    Ok(live > 0)
}
