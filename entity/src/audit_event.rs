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
    /// Requests this event stands for: more than 1 for aggregated refusals.
    pub count: i64,
    /// The last of those requests, when more than one.
    pub last_at: Option<ChronoDateTimeUtc>,
    /// The start of the bearer token a refused attempt presented.
    pub token_hint: Option<String>,
    /// The trace id the client sent in `traceparent`.
    pub trace_link: Option<String>,
    /// The package an upload stored.
    pub package_id: Option<i64>,
    pub package_file: Option<String>,
    pub package_sha1: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
