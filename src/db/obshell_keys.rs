//! obshell's RSA keys, one row per generation.

use chrono::Utc;
use entity::obshell_key;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, QueryOrder,
    QuerySelect,
};

/// The newest `n` generations, newest first.
pub async fn newest(db: &impl ConnectionTrait, n: u64) -> Result<Vec<obshell_key::Model>, DbErr> {
    obshell_key::Entity::find()
        .order_by_desc(obshell_key::Column::Generation)
        .limit(n)
        .all(db)
        .await
}

/// Adds generation `generation`; a unique violation when another process
/// added it first.
pub async fn insert(
    db: &impl ConnectionTrait,
    generation: i64,
    private_key_pem: String,
) -> Result<obshell_key::Model, DbErr> {
    obshell_key::ActiveModel {
        generation: Set(generation),
        private_key: Set(private_key_pem),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
}
