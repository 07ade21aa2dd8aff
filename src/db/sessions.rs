//! `console_sessions`: the web console's sign-ins.

use chrono::{DateTime, Utc};
use entity::{console_session, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};

pub async fn insert(
    db: &(impl ConnectionTrait + TransactionTrait),
    session_hash: String,
    user_id: i64,
    expires_at: DateTime<Utc>,
) -> Result<console_session::Model, DbErr> {
    let row = console_session::ActiveModel {
        session_hash: Set(session_hash),
        user_id: Set(user_id),
        created_at: Set(Utc::now()),
        expires_at: Set(expires_at),
        ..Default::default()
    };
    super::insert_committed(db, row).await
}

/// The session with this hash and its user, whatever its state.
pub async fn find_by_hash(
    db: &impl ConnectionTrait,
    session_hash: &str,
) -> Result<Option<(console_session::Model, Option<user::Model>)>, DbErr> {
    console_session::Entity::find()
        .filter(console_session::Column::SessionHash.eq(session_hash))
        .find_also_related(user::Entity)
        .one(db)
        .await
}

/// Moves a session's expiry (idle expiry), unless it was moved since `before`.
pub async fn extend(
    db: &impl ConnectionTrait,
    id: i64,
    before: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    console_session::Entity::update_many()
        .col_expr(console_session::Column::ExpiresAt, Expr::value(expires_at))
        .filter(console_session::Column::Id.eq(id))
        .filter(console_session::Column::ExpiresAt.lt(before))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends a session; `false` when there was none with this hash.
pub async fn delete_by_hash(db: &impl ConnectionTrait, session_hash: &str) -> Result<bool, DbErr> {
    let res = console_session::Entity::delete_many()
        .filter(console_session::Column::SessionHash.eq(session_hash))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Removes sessions that expired before `now`; how many.
pub async fn delete_expired(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let res = console_session::Entity::delete_many()
        .filter(console_session::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Keeps a user's `keep` newest sessions and ends the others; how many ended.
pub async fn keep_newest(db: &impl ConnectionTrait, user_id: i64, keep: u64) -> Result<u64, DbErr> {
    let newest: Vec<i64> = console_session::Entity::find()
        .select_only()
        .column(console_session::Column::Id)
        .filter(console_session::Column::UserId.eq(user_id))
        .order_by_desc(console_session::Column::Id)
        .limit(keep)
        .into_tuple()
        .all(db)
        .await?;
    let Some(oldest_kept) = newest.last() else {
        return Ok(0);
    };
    let res = console_session::Entity::delete_many()
        .filter(console_session::Column::UserId.eq(user_id))
        .filter(console_session::Column::Id.lt(*oldest_kept))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Ends every session of the user of this name (their password changed).
pub async fn delete_for_user_name(db: &impl ConnectionTrait, name: &str) -> Result<u64, DbErr> {
    use sea_orm::sea_query::Query;
    let user_ids = Query::select()
        .column(user::Column::Id)
        .from(user::Entity)
        .and_where(user::Column::Name.eq(name))
        .to_owned();
    let res = console_session::Entity::delete_many()
        .filter(console_session::Column::UserId.in_subquery(user_ids))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
