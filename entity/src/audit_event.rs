use sea_orm::entity::prelude::*;

/// One change, or one refused attempt, as the audit log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: ChronoDateTimeUtc,
    pub actor: String,
    pub token_id: Option<i64>,
    pub action: String,
    pub target: String,
    pub outcome: String,
    pub status: i32,
    pub address: String,
    pub trace_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
