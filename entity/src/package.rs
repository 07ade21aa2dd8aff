use sea_orm::entity::prelude::*;

/// A software package as the OCP API lists it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "packages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[sea_orm(unique)]
    pub file_name: String,
    pub extension: String,
    pub size: i64,
    pub sha1: String,
    pub blob_key: String,
    pub r#type: String,
    pub version: String,
    pub release: String,
    pub build_number: String,
    pub operating_system: String,
    /// The operating system without its version digits (`alios7` → `alios`).
    pub os_family: String,
    pub architecture: String,
    pub deletable: bool,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::blob::Entity",
        from = "Column::BlobKey",
        to = "super::blob::Column::Key"
    )]
    Blob,
}

impl Related<super::blob::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Blob.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
