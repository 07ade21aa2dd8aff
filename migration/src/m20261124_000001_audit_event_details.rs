//! What a bounded, honest audit log needs beyond the first table: how many
//! requests an aggregated event stands for and until when, the token a
//! refused attempt presented, the client's own trace, and the package an
//! upload stored.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        let columns = [
            // Requests this event stands for: 1, or more for aggregated refusals.
            ColumnDef::new(AuditEvent::Count)
                .big_integer()
                .not_null()
                .default(1)
                .to_owned(),
            // The last of them, when more than one.
            ColumnDef::new(AuditEvent::LastAt)
                .timestamp_with_time_zone()
                .to_owned(),
            // The start of an unknown or refused bearer token (never the secret).
            ColumnDef::new(AuditEvent::TokenHint)
                .string_len(32)
                .to_owned(),
            // The trace id the client sent in `traceparent`.
            ColumnDef::new(AuditEvent::TraceLink)
                .string_len(32)
                .to_owned(),
            // The package an upload stored.
            ColumnDef::new(AuditEvent::PackageId)
                .big_integer()
                .to_owned(),
            ColumnDef::new(AuditEvent::PackageFile)
                .string_len(255)
                .to_owned(),
            ColumnDef::new(AuditEvent::PackageSha1)
                .string_len(40)
                .to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvent::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            AuditEvent::Count,
            AuditEvent::LastAt,
            AuditEvent::TokenHint,
            AuditEvent::TraceLink,
            AuditEvent::PackageId,
            AuditEvent::PackageFile,
            AuditEvent::PackageSha1,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvent::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditEvent {
    #[sea_orm(iden = "audit_events")]
    Table,
    Count,
    LastAt,
    TokenHint,
    TraceLink,
    PackageId,
    PackageFile,
    PackageSha1,
}
