use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One row counting changes to credentials (a password changed, a user
/// removed or demoted, a token revoked): every replica polls it, and drops
/// what it cached about credentials when it moves.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CredentialEpoch::Table)
                    .col(
                        ColumnDef::new(CredentialEpoch::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(CredentialEpoch::Epoch)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(CredentialEpoch::Table)
                    .columns([CredentialEpoch::Id, CredentialEpoch::Epoch])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CredentialEpoch::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum CredentialEpoch {
    #[sea_orm(iden = "credential_epoch")]
    Table,
    Id,
    Epoch,
}
