use sea_orm_migration::prelude::*;

/// The web console's sign-ins: server-side sessions, in the database so
/// that every replica knows them.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ConsoleSession::Table)
                    .col(
                        ColumnDef::new(ConsoleSession::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    // SHA-256 of the cookie's secret, hex: the secret itself is never stored.
                    .col(
                        ColumnDef::new(ConsoleSession::SessionHash)
                            .string_len(64)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(ConsoleSession::UserId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ConsoleSession::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // Moves with use (idle expiry), never past the absolute lifetime.
                    .col(
                        ColumnDef::new(ConsoleSession::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ConsoleSession::Table, ConsoleSession::UserId)
                            .to(User::Table, User::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("console_sessions_user")
                    .table(ConsoleSession::Table)
                    .col(ConsoleSession::UserId)
                    .col(ConsoleSession::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("console_sessions_expiry")
                    .table(ConsoleSession::Table)
                    .col(ConsoleSession::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ConsoleSession::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ConsoleSession {
    #[sea_orm(iden = "console_sessions")]
    Table,
    Id,
    SessionHash,
    UserId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum User {
    #[sea_orm(iden = "users")]
    Table,
    Id,
}
