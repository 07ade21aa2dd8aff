use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// StarlingX-style patches: the releases patches are made for (each with its
/// base repository), the patches (metadata and lifecycle state), and the
/// RPMs each patch carries (stored as packages, referenced here).
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PatchRelease::Table)
                    .col(
                        ColumnDef::new(PatchRelease::Name)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(PatchRelease::BaseOs)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PatchRelease::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Patch::Table)
                    .col(
                        ColumnDef::new(Patch::Id)
                            .string_len(128)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Patch::SwVersion).string_len(64).not_null())
                    .col(ColumnDef::new(Patch::Metadata).text().not_null())
                    .col(ColumnDef::new(Patch::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Patch::Repostate).string_len(16).not_null())
                    .col(ColumnDef::new(Patch::Patchstate).string_len(16).not_null())
                    .col(
                        ColumnDef::new(Patch::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Patch::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("patches_sw_version")
                    .table(Patch::Table)
                    .col(Patch::SwVersion)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PatchRpm::Table)
                    .col(
                        ColumnDef::new(PatchRpm::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(PatchRpm::PatchId).string_len(128).not_null())
                    .col(ColumnDef::new(PatchRpm::PackageId).big_integer().not_null())
                    .col(
                        ColumnDef::new(PatchRpm::FileName)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(ColumnDef::new(PatchRpm::Name).string_len(255).not_null())
                    .col(ColumnDef::new(PatchRpm::Epoch).string_len(16).not_null())
                    .col(ColumnDef::new(PatchRpm::Version).string_len(128).not_null())
                    .col(ColumnDef::new(PatchRpm::Release).string_len(128).not_null())
                    .col(ColumnDef::new(PatchRpm::Arch).string_len(32).not_null())
                    .col(ColumnDef::new(PatchRpm::Size).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("patch_rpms_patch_file")
                    .table(PatchRpm::Table)
                    .col(PatchRpm::PatchId)
                    .col(PatchRpm::FileName)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("patch_rpms_name_arch")
                    .table(PatchRpm::Table)
                    .col(PatchRpm::Name)
                    .col(PatchRpm::Arch)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PatchRpm::Table.into_iden(),
            Patch::Table.into_iden(),
            PatchRelease::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum PatchRelease {
    #[sea_orm(iden = "patch_releases")]
    Table,
    Name,
    BaseOs,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Patch {
    #[sea_orm(iden = "patches")]
    Table,
    Id,
    SwVersion,
    Metadata,
    Status,
    Repostate,
    Patchstate,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PatchRpm {
    #[sea_orm(iden = "patch_rpms")]
    Table,
    Id,
    PatchId,
    PackageId,
    FileName,
    Name,
    Epoch,
    Version,
    Release,
    Arch,
    Size,
}
