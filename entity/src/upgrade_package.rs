use sea_orm::entity::prelude::*;

/// What obshell's UpgradePkgInfo adds to a package.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upgrade_packages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub package_id: i64,
    pub installed_size: i64,
    /// Main header + payload: the file without lead and signature.
    pub payload_size: i64,
    /// MD5 of the main header + payload.
    pub md5: String,
    pub upgrade_dep_yaml: String,
    pub gmt_modify: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::package::Entity",
        from = "Column::PackageId",
        to = "super::package::Column::Id"
    )]
    Package,
}

impl Related<super::package::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Package.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
