use chrono::Utc;
use entity::user;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, TransactionTrait,
};

pub async fn find_by_name(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::Name.eq(name))
        .one(db)
        .await
}

pub async fn count(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    user::Entity::find().count(db).await
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<user::Model>, DbErr> {
    user::Entity::find()
        .order_by_asc(user::Column::Name)
        .all(db)
        .await
}

pub async fn insert(
    db: &(impl ConnectionTrait + TransactionTrait),
    name: &str,
    password_hash: String,
    role: &str,
) -> Result<user::Model, DbErr> {
    let row = user::ActiveModel {
        name: Set(name.to_string()),
        password_hash: Set(password_hash),
        role: Set(role.to_string()),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    super::insert_committed(db, row).await
}

pub async fn set_password(
    db: &impl ConnectionTrait,
    name: &str,
    password_hash: String,
) -> Result<bool, DbErr> {
    let res = user::Entity::update_many()
        .col_expr(
            user::Column::PasswordHash,
            sea_orm::sea_query::Expr::value(password_hash),
        )
        .filter(user::Column::Name.eq(name))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

pub async fn set_role(db: &impl ConnectionTrait, name: &str, role: &str) -> Result<bool, DbErr> {
    let res = user::Entity::update_many()
        .col_expr(user::Column::Role, sea_orm::sea_query::Expr::value(role))
        .filter(user::Column::Name.eq(name))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

pub async fn delete(db: &impl ConnectionTrait, name: &str) -> Result<bool, DbErr> {
    let res = user::Entity::delete_many()
        .filter(user::Column::Name.eq(name))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id).one(db).await
}
