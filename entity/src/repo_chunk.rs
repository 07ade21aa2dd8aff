use sea_orm::entity::prelude::*;

/// A run of consecutive packages' rpm-md entries, each file's a complete
/// gzip member, kept so that a publication recompresses only what changed.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "repo_chunks")]
pub struct Model {
    /// A digest of what the chunk holds (`domain::repos::chunks::key`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub primary: Vec<u8>,
    pub filelists: Vec<u8>,
    pub other: Vec<u8>,
    /// When a publication last used it: unused rows are pruned.
    pub used_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
