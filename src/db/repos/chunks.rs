//! The cache of compressed metadata chunks (`domain::repos::chunks`).

use chrono::{DateTime, Utc};
use entity::repo_chunk;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

/// The cached chunks among `ids`.
pub async fn chunks(
    db: &impl ConnectionTrait,
    ids: &[String],
) -> Result<Vec<repo_chunk::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    repo_chunk::Entity::find()
        .filter(repo_chunk::Column::Id.is_in(ids.iter().map(String::as_str)))
        .all(db)
        .await
}

/// Caches `chunks`; one another publication cached first is left as it is
/// (the same id holds the same bytes).
pub async fn insert_chunks(
    db: &impl ConnectionTrait,
    chunks: Vec<repo_chunk::Model>,
) -> Result<(), DbErr> {
    if chunks.is_empty() {
        return Ok(());
    }
    repo_chunk::Entity::insert_many(chunks.into_iter().map(repo_chunk::ActiveModel::from))
        .on_conflict(
            OnConflict::column(repo_chunk::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Marks `ids` used at `now`, those last marked before `stale` only: a
/// chunk is written at most once per staleness period, not per publication.
pub async fn mark_chunks_used(
    db: &impl ConnectionTrait,
    ids: &[String],
    now: DateTime<Utc>,
    stale: DateTime<Utc>,
) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    repo_chunk::Entity::update_many()
        .col_expr(repo_chunk::Column::UsedAt, Expr::value(now))
        .filter(repo_chunk::Column::Id.is_in(ids.iter().map(String::as_str)))
        .filter(repo_chunk::Column::UsedAt.lt(stale))
        .exec(db)
        .await?;
    Ok(())
}

/// Removes the chunks no publication used since `before`; how many.
pub async fn prune_chunks(db: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    Ok(repo_chunk::Entity::delete_many()
        .filter(repo_chunk::Column::UsedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}

pub async fn delete_chunk(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    repo_chunk::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}
