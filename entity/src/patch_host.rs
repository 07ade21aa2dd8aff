use sea_orm::entity::prelude::*;

/// A host reporting to the patch service: what it is, what it has
/// installed, and whether an install was asked of it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "patch_hosts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub hostname: String,
    pub ip: String,
    pub personality: String,
    /// JSON array of names.
    pub subfunctions: String,
    pub sw_version: String,
    /// The agent's state: `idle`, `installing`, `install-failed`.
    pub state: String,
    /// JSON array of `[name, epoch, version, release, arch]`.
    pub installed: String,
    pub install_requested: bool,
    pub reported_at: ChronoDateTimeUtc,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
