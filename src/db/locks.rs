//! Named leases in the database: one holder at a time across replicas.

use chrono::{DateTime, Utc};
use entity::lock;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

/// Takes lease `name` for `holder` until `until`, if it is free or lapsed.
pub async fn try_acquire(
    db: &impl ConnectionTrait,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    // One statement: a new lease is inserted taken; an existing one is
    // taken only if free or lapsed (the upsert's condition), else nothing
    // changes and no row is counted.
    let row = lock::ActiveModel {
        name: Set(name.to_string()),
        holder: Set(Some(holder.to_string())),
        expires_at: Set(Some(until)),
    };
    let taken = lock::Entity::insert(row)
        .on_conflict(
            OnConflict::column(lock::Column::Name)
                .update_columns([lock::Column::Holder, lock::Column::ExpiresAt])
                .action_and_where(
                    Expr::col((lock::Entity, lock::Column::Holder))
                        .is_null()
                        .or(Expr::col((lock::Entity, lock::Column::ExpiresAt)).lt(now)),
                )
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(taken == 1)
}

pub async fn release(db: &impl ConnectionTrait, name: &str, holder: &str) -> Result<(), DbErr> {
    lock::Entity::update_many()
        .col_expr(lock::Column::Holder, Expr::value(Option::<String>::None))
        .col_expr(
            lock::Column::ExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(lock::Column::Name.eq(name))
        .filter(lock::Column::Holder.eq(holder))
        .exec(db)
        .await?;
    Ok(())
}

/// Extends `holder`'s lease `name` to `until`; `false` when it is no longer
/// theirs (it lapsed and another took it).
pub async fn renew(
    db: &impl ConnectionTrait,
    name: &str,
    holder: &str,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let res = lock::Entity::update_many()
        .col_expr(lock::Column::ExpiresAt, Expr::value(until))
        .filter(lock::Column::Name.eq(name))
        .filter(lock::Column::Holder.eq(holder))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Whether lease `name` is held now.
pub async fn is_held(
    db: &impl ConnectionTrait,
    name: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(lock::Entity::find()
        .filter(lock::Column::Name.eq(name))
        .filter(lock::Column::Holder.is_not_null())
        .filter(lock::Column::ExpiresAt.gte(now))
        .one(db)
        .await?
        .is_some())
}
