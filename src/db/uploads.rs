//! Resumable uploads. Every state change is one conditional UPDATE, so that
//! replicas sharing the database agree on who writes what without talking.

use chrono::{DateTime, Utc};
use entity::{upload, upload_part};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait, UpdateMany,
};

pub async fn insert(
    db: &(impl ConnectionTrait + TransactionTrait),
    row: upload::Model,
) -> Result<(), DbErr> {
    super::insert_committed(db, upload::ActiveModel::from(row)).await?;
    Ok(())
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<upload::Model>, DbErr> {
    upload::Entity::find_by_id(id.to_string()).one(db).await
}

/// No lease, or one whose holder stopped renewing it.
fn lease_free(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(upload::Column::LeaseId.is_null())
        .add(upload::Column::LeaseExpiresAt.lt(now))
}

/// Takes the lease of a live, unfinished upload that has `offset` bytes.
pub async fn acquire(
    db: &impl ConnectionTrait,
    id: &str,
    offset: i64,
    lease: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let res = upload::Entity::update_many()
        .col_expr(upload::Column::LeaseId, Expr::value(lease))
        .col_expr(upload::Column::LeaseExpiresAt, Expr::value(until))
        .col_expr(upload::Column::TakeoverRequested, Expr::value(false))
        .filter(upload::Column::Id.eq(id))
        .filter(upload::Column::ReceivedBytes.eq(offset))
        .filter(upload::Column::ExpiresAt.gt(now))
        .filter(upload::Column::PackageId.is_null())
        .filter(upload::Column::FailureKind.is_null())
        .filter(lease_free(now))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Asks the holder of a live lease at `offset` to give way.
pub async fn request_takeover(
    db: &impl ConnectionTrait,
    id: &str,
    offset: i64,
) -> Result<(), DbErr> {
    upload::Entity::update_many()
        .col_expr(upload::Column::TakeoverRequested, Expr::value(true))
        .filter(upload::Column::Id.eq(id))
        .filter(upload::Column::ReceivedBytes.eq(offset))
        .filter(upload::Column::LeaseId.is_not_null())
        .exec(db)
        .await?;
    Ok(())
}

/// What the holder of a lease finds when it looks at its upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseStatus {
    /// Still its own, and nobody asked for it.
    Held,
    /// Still its own, and a newer request asked it to give way.
    TakeoverRequested,
    /// No longer its own (expired and taken, or the upload is gone).
    Lost,
}

/// Whether `lease` still holds the upload, and whether someone asked its
/// holder to give way.
pub async fn lease_status(
    db: &impl ConnectionTrait,
    id: &str,
    lease: &str,
) -> Result<LeaseStatus, DbErr> {
    let row = upload::Entity::find()
        .filter(upload::Column::Id.eq(id))
        .filter(upload::Column::LeaseId.eq(lease))
        .one(db)
        .await?;
    Ok(match row {
        None => LeaseStatus::Lost,
        Some(row) if row.takeover_requested => LeaseStatus::TakeoverRequested,
        Some(_) => LeaseStatus::Held,
    })
}

/// Declines a takeover: the holder's client is still sending.
pub async fn decline_takeover(
    db: &impl ConnectionTrait,
    id: &str,
    lease: &str,
) -> Result<(), DbErr> {
    upload::Entity::update_many()
        .col_expr(upload::Column::TakeoverRequested, Expr::value(false))
        .filter(upload::Column::Id.eq(id))
        .filter(upload::Column::LeaseId.eq(lease))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn renew(
    db: &impl ConnectionTrait,
    id: &str,
    lease: &str,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let res = upload::Entity::update_many()
        .col_expr(upload::Column::LeaseExpiresAt, Expr::value(until))
        .filter(upload::Column::Id.eq(id))
        .filter(upload::Column::LeaseId.eq(lease))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub async fn release(db: &impl ConnectionTrait, id: &str, lease: &str) -> Result<(), DbErr> {
    clear_lease(upload::Entity::update_many())
        .filter(upload::Column::Id.eq(id))
        .filter(upload::Column::LeaseId.eq(lease))
        .exec(db)
        .await?;
    Ok(())
}

/// What committing a part does to the upload's offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offset {
    /// Moves past the part: more parts are to come.
    Advance,
    /// Stays at the part's start: the last part's bytes count once the
    /// package exists (`finish`), so that a HEAD never reports a complete
    /// upload that could still fail to be stored.
    Hold,
}

/// Records a stored part, if the lease is still ours and nobody moved the
/// offset; `false` otherwise (the part is not ours to keep). The offset moves
/// past it as `offset` says.
pub async fn commit_part(
    db: &DatabaseConnection,
    lease: &str,
    part: upload_part::Model,
    expires_at: DateTime<Utc>,
    offset: Offset,
) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    let mut update = upload::Entity::update_many()
        .col_expr(upload::Column::ExpiresAt, Expr::value(expires_at))
        .filter(upload::Column::Id.eq(part.upload_id.as_str()))
        .filter(upload::Column::LeaseId.eq(lease))
        .filter(upload::Column::ReceivedBytes.eq(part.start));
    if offset == Offset::Advance {
        update = update.col_expr(
            upload::Column::ReceivedBytes,
            Expr::value(part.start + part.length),
        );
    }
    if update.exec(&txn).await?.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(false);
    }
    upload_part::ActiveModel::from(part).insert(&txn).await?;
    txn.commit().await?;
    Ok(true)
}

/// Parts at or past `offset`: left by a request that stored the last part
/// and then failed (or died) before the package existed.
pub async fn parts_from(
    db: &impl ConnectionTrait,
    id: &str,
    offset: i64,
) -> Result<Vec<upload_part::Model>, DbErr> {
    upload_part::Entity::find()
        .filter(upload_part::Column::UploadId.eq(id))
        .filter(upload_part::Column::Start.gte(offset))
        .all(db)
        .await
}

pub async fn delete_part(db: &impl ConnectionTrait, id: &str, start: i64) -> Result<(), DbErr> {
    upload_part::Entity::delete_many()
        .filter(upload_part::Column::UploadId.eq(id))
        .filter(upload_part::Column::Start.eq(start))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn parts(db: &impl ConnectionTrait, id: &str) -> Result<Vec<upload_part::Model>, DbErr> {
    upload_part::Entity::find()
        .filter(upload_part::Column::UploadId.eq(id))
        .order_by_asc(upload_part::Column::Start)
        .all(db)
        .await
}

/// Points a finished upload at its package, drops its parts and the lease;
/// `false` (and nothing changed) when the lease is no longer ours.
pub async fn finish(
    db: &DatabaseConnection,
    id: &str,
    lease: &str,
    length: i64,
    package_id: i64,
    expires_at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let outcome = upload::Entity::update_many()
        .col_expr(upload::Column::PackageId, Expr::value(package_id))
        .col_expr(upload::Column::ReceivedBytes, Expr::value(length))
        .col_expr(upload::Column::ExpiresAt, Expr::value(expires_at));
    settle(db, id, lease, outcome).await
}

/// Records why a complete upload was refused; its parts go. `false` (and
/// nothing changed) when the lease is no longer ours.
pub async fn fail(
    db: &DatabaseConnection,
    id: &str,
    lease: &str,
    kind: &str,
    message: &str,
) -> Result<bool, DbErr> {
    let outcome = upload::Entity::update_many()
        .col_expr(upload::Column::FailureKind, Expr::value(kind))
        .col_expr(upload::Column::FailureMessage, Expr::value(message));
    settle(db, id, lease, outcome).await
}

/// Ends a leased upload with `outcome`: records it, gives the lease back and
/// drops the parts, all or nothing.
async fn settle(
    db: &DatabaseConnection,
    id: &str,
    lease: &str,
    outcome: UpdateMany<upload::Entity>,
) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    let res = clear_lease(outcome)
        .filter(upload::Column::Id.eq(id))
        .filter(upload::Column::LeaseId.eq(lease))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(false);
    }
    delete_parts(&txn, id).await?;
    txn.commit().await?;
    Ok(true)
}

fn clear_lease(update: UpdateMany<upload::Entity>) -> UpdateMany<upload::Entity> {
    update
        .col_expr(upload::Column::LeaseId, Expr::value(Option::<String>::None))
        .col_expr(
            upload::Column::LeaseExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
}

async fn delete_parts(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    upload_part::Entity::delete_many()
        .filter(upload_part::Column::UploadId.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Removes an upload and its part rows; `false` when there was none.
pub async fn delete(db: &DatabaseConnection, id: &str) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    delete_parts(&txn, id).await?;
    let res = upload::Entity::delete_by_id(id.to_string())
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(res.rows_affected > 0)
}

/// Expired uploads nobody is writing to, oldest first.
pub async fn expired(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<upload::Model>, DbErr> {
    upload::Entity::find()
        .filter(upload::Column::ExpiresAt.lt(now))
        .filter(lease_free(now))
        .order_by_asc(upload::Column::ExpiresAt)
        .limit(limit)
        .all(db)
        .await
}

/// Takes the lease of an expired upload, to remove it.
pub async fn claim_expired(
    db: &impl ConnectionTrait,
    id: &str,
    lease: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let res = upload::Entity::update_many()
        .col_expr(upload::Column::LeaseId, Expr::value(lease))
        .col_expr(upload::Column::LeaseExpiresAt, Expr::value(until))
        .filter(upload::Column::Id.eq(id))
        .filter(upload::Column::ExpiresAt.lt(now))
        .filter(lease_free(now))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Uploads neither finished, refused nor expired.
pub async fn in_progress(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    upload::Entity::find()
        .filter(upload::Column::PackageId.is_null())
        .filter(upload::Column::FailureKind.is_null())
        .filter(upload::Column::ExpiresAt.gt(Utc::now()))
        .count(db)
        .await
}

/// How many uploads `user_id` has in progress, and the bytes they announce.
pub async fn in_progress_of(
    db: &impl ConnectionTrait,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<(u64, u64), DbErr> {
    let lengths: Vec<i64> = upload::Entity::find()
        .select_only()
        .column(upload::Column::Length)
        .filter(upload::Column::UserId.eq(user_id))
        .filter(upload::Column::PackageId.is_null())
        .filter(upload::Column::FailureKind.is_null())
        .filter(upload::Column::ExpiresAt.gt(now))
        // One more than any bound would allow is enough to judge.
        .limit(MAX_COUNTED)
        .into_tuple()
        .all(db)
        .await?;
    let bytes = lengths.iter().map(|l| *l as u64).sum();
    Ok((lengths.len() as u64, bytes))
}

/// Uploads counted per user at most (above any sane `--max-open-uploads`).
const MAX_COUNTED: u64 = 10_000;
