use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Named leases for work that one replica at a time should do (the
        // garbage collector): portable where advisory locks are not (SQLite).
        manager
            .create_table(
                Table::create()
                    .table(Lock::Table)
                    .col(
                        ColumnDef::new(Lock::Name)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Lock::Holder).string_len(128))
                    .col(ColumnDef::new(Lock::ExpiresAt).timestamp_with_time_zone())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Lock::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Lock {
    #[sea_orm(iden = "locks")]
    Table,
    Name,
    Holder,
    ExpiresAt,
}
