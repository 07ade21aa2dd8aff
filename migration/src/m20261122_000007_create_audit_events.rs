use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvent::Table)
                    .col(
                        ColumnDef::new(AuditEvent::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuditEvent::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // A user name (or the name a failed login tried); empty when none was given.
                    .col(ColumnDef::new(AuditEvent::Actor).string_len(128).not_null())
                    // The token the actor used, if any.
                    .col(ColumnDef::new(AuditEvent::TokenId).big_integer())
                    .col(ColumnDef::new(AuditEvent::Action).string_len(64).not_null())
                    .col(ColumnDef::new(AuditEvent::Target).text().not_null())
                    // `success`, `refused` (4xx) or `failed` (5xx).
                    .col(
                        ColumnDef::new(AuditEvent::Outcome)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditEvent::Status).integer().not_null())
                    .col(
                        ColumnDef::new(AuditEvent::Address)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuditEvent::TraceId)
                            .string_len(32)
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("audit_events_at", AuditEvent::At),
            ("audit_events_actor", AuditEvent::Actor),
            ("audit_events_action", AuditEvent::Action),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditEvent::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditEvent::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditEvent {
    #[sea_orm(iden = "audit_events")]
    Table,
    Id,
    At,
    Actor,
    TokenId,
    Action,
    Target,
    Outcome,
    Status,
    Address,
    TraceId,
}
