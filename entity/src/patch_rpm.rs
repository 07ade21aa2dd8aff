use sea_orm::entity::prelude::*;

/// An RPM a patch carries: the stored package, and its name and version as
/// the upload checks and commit compare them.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "patch_rpms")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub patch_id: String,
    pub package_id: i64,
    pub file_name: String,
    pub name: String,
    pub epoch: String,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub size: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
