use sea_orm::entity::prelude::*;

/// A release patches are made for (`sw_version`, `19.12`) and its base
/// repository: depot's RPMs of that distribution tag (`el7`), which a
/// patch's RPMs must be newer than.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "patch_releases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    pub base_os: String,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
