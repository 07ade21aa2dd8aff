use sea_orm::entity::prelude::*;

/// A resumable (tus) upload in progress or finished.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "uploads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: i64,
    pub length: i64,
    /// Bytes stored so far: the tus `Upload-Offset`.
    pub received_bytes: i64,
    pub metadata: String,
    pub file_name: String,
    pub declared_type: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    /// The BLAKE3 the client announced: the content key, written once.
    pub blake3: Option<String>,
    pub created_at: ChronoDateTimeUtc,
    pub expires_at: ChronoDateTimeUtc,
    pub lease_id: Option<String>,
    pub lease_expires_at: Option<ChronoDateTimeUtc>,
    pub takeover_requested: bool,
    pub package_id: Option<i64>,
    pub failure_kind: Option<String>,
    pub failure_message: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::upload_part::Entity")]
    Parts,
}

impl Related<super::upload_part::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Parts.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
