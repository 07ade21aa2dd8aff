use sea_orm::entity::prelude::*;

/// A yum repository (`/repos/{os}/{arch}/`) and its current publication:
/// the row is the switch, so `repomd.xml` changes in one statement.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "repos")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub os: String,
    pub arch: String,
    /// `<revision>` of repomd.xml: strictly increasing.
    pub revision: i64,
    /// SHA-256 over the published packages (pkgid and file name, in order):
    /// a publication that would not change it is skipped.
    pub content: String,
    pub package_count: i64,
    pub repomd: String,
    pub published_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
