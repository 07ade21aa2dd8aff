use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The RSA keys obshell's clients encrypt their auth headers to, one row per
/// generation, so that every replica uses the same. `generation` is unique:
/// replicas that create the first key at once (or rotate at once) race on
/// it, and the loser reads the winner's.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ObshellKey::Table)
                    .col(
                        ColumnDef::new(ObshellKey::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ObshellKey::Generation)
                            .big_integer()
                            .not_null()
                            .unique_key(),
                    )
                    // PKCS#8 PEM.
                    .col(ColumnDef::new(ObshellKey::PrivateKey).text().not_null())
                    .col(
                        ColumnDef::new(ObshellKey::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ObshellKey::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ObshellKey {
    #[sea_orm(iden = "obshell_keys")]
    Table,
    Id,
    Generation,
    PrivateKey,
    CreatedAt,
}
