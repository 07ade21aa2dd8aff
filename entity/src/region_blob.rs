use sea_orm::entity::prelude::*;

/// A blob's replication status in one region.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "region_blobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub blob_key: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub region: String,
    pub size: i64,
    /// `pending`, `copying`, `present` or `failed`.
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_attempt_at: ChronoDateTimeUtc,
    pub lease_owner: Option<String>,
    pub lease_until: Option<ChronoDateTimeUtc>,
    pub verified_at: Option<ChronoDateTimeUtc>,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
