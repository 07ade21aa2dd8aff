use sea_orm::entity::prelude::*;

/// A StarlingX patch: its metadata (JSON of `metadata.xml`'s values) and
/// where it is in its lifecycle.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "patches")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub sw_version: String,
    /// `metadata.xml`'s values, as JSON.
    pub metadata: String,
    /// `DEV`, `REL`, `OBS`.
    pub status: String,
    /// `Available`, `Applied`, `Committed`: what the repository serves.
    pub repostate: String,
    /// `Available`, `Partial-Apply`, `Applied`, `Partial-Remove`, `Committed`, `n/a`.
    pub patchstate: String,
    pub created_at: ChronoDateTimeUtc,
    /// The last apply, remove, commit or re-upload (not a move of
    /// `patchstate`, which follows the hosts).
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
