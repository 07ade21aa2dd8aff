use chrono::{DateTime, Utc};
use entity::{api_token, user};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

pub struct NewToken<'a> {
    pub name: &'a str,
    pub user_id: i64,
    pub role: &'a str,
    pub token_hash: String,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn insert(
    db: &(impl ConnectionTrait + TransactionTrait),
    new: NewToken<'_>,
) -> Result<api_token::Model, DbErr> {
    let row = api_token::ActiveModel {
        name: Set(new.name.to_string()),
        user_id: Set(new.user_id),
        role: Set(new.role.to_string()),
        token_hash: Set(new.token_hash),
        created_at: Set(Utc::now()),
        expires_at: Set(new.expires_at),
        ..Default::default()
    };
    super::insert_committed(db, row).await
}

/// The token with this hash and its user, whatever its state.
pub async fn find_by_hash(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<(api_token::Model, Option<user::Model>)>, DbErr> {
    api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(token_hash))
        .find_also_related(user::Entity)
        .one(db)
        .await
}

/// Tokens with their users, oldest first; only `user_id`'s when given.
pub async fn list(
    db: &impl ConnectionTrait,
    user_id: Option<i64>,
) -> Result<Vec<(api_token::Model, Option<user::Model>)>, DbErr> {
    let mut query = api_token::Entity::find().find_also_related(user::Entity);
    if let Some(id) = user_id {
        query = query.filter(api_token::Column::UserId.eq(id));
    }
    query.order_by_asc(api_token::Column::Id).all(db).await
}

/// `limit` tokens from `offset` (of `user_id`, when given), and how many
/// there are in all.
pub async fn page(
    db: &impl ConnectionTrait,
    user_id: Option<i64>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<(api_token::Model, Option<user::Model>)>, u64), DbErr> {
    let mut query = api_token::Entity::find();
    if let Some(id) = user_id {
        query = query.filter(api_token::Column::UserId.eq(id));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .find_also_related(user::Entity)
        .order_by_asc(api_token::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<api_token::Model>, DbErr> {
    api_token::Entity::find_by_id(id).one(db).await
}

/// Marks a token revoked; `false` when there is no such token.
pub async fn revoke(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    let res = api_token::Entity::update_many()
        .col_expr(api_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(api_token::Column::Id.eq(id))
        .filter(api_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Records a use, at most once per `every`: a busy agent must not turn
/// each of its reads into a write.
pub async fn touch(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
    every: chrono::Duration,
) -> Result<(), DbErr> {
    api_token::Entity::update_many()
        .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
        .filter(api_token::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(api_token::Column::LastUsedAt.is_null())
                .add(api_token::Column::LastUsedAt.lt(now - every)),
        )
        .exec(db)
        .await?;
    Ok(())
}
