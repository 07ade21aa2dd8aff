use sea_orm::entity::prelude::*;

/// An RPM's rpm-md fragments (its `<package>` elements of primary.xml,
/// filelists.xml and other.xml), computed once when it is stored.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "repo_packages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub package_id: i64,
    /// SHA-256 of the whole file.
    pub pkgid: String,
    pub primary: String,
    pub filelists: String,
    pub other: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
