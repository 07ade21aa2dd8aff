use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // What obshell reports beyond the package row it extends (one to one).
        manager
            .create_table(
                Table::create()
                    .table(UpgradePackage::Table)
                    .col(
                        ColumnDef::new(UpgradePackage::PackageId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(UpgradePackage::InstalledSize)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UpgradePackage::PayloadSize)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UpgradePackage::Md5)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UpgradePackage::UpgradeDepYaml)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UpgradePackage::GmtModify)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(UpgradePackage::Table, UpgradePackage::PackageId)
                            .to(Package::Table, Package::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UpgradePackage::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum UpgradePackage {
    #[sea_orm(iden = "upgrade_packages")]
    Table,
    PackageId,
    InstalledSize,
    PayloadSize,
    Md5,
    UpgradeDepYaml,
    GmtModify,
}

#[derive(DeriveIden)]
enum Package {
    #[sea_orm(iden = "packages")]
    Table,
    Id,
}
