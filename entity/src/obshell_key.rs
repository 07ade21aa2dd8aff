use sea_orm::entity::prelude::*;

/// An RSA key obshell's clients encrypt their auth headers to. The highest
/// generation is current; the one before it is still accepted for a while
/// after a rotation.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "obshell_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub generation: i64,
    /// PKCS#8 PEM.
    pub private_key: String,
    pub created_at: ChronoDateTimeUtc,
}

/// Never the private key.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("obshell_key::Model")
            .field("id", &self.id)
            .field("generation", &self.generation)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
