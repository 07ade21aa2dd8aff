use sea_orm::entity::prelude::*;

/// A metadata file of a repository's publication (`<sha256>-primary.xml.gz`…)
/// and the object that holds it; once superseded, kept for a grace period.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "repo_files")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub repo_id: i64,
    pub name: String,
    pub object_key: String,
    pub size: i64,
    /// When a publication without it became current; `None` while current.
    pub superseded_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
