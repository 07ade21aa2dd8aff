use sea_orm::entity::prelude::*;

/// The OpenPGP key that signs repomd.xml; the row with the highest id signs.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "repo_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub fingerprint: String,
    /// ASCII-armoured, unprotected: whoever reads the database can sign.
    pub secret_key: String,
    pub public_key: String,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
