use sea_orm_migration::prelude::*;

/// The hosts that report to depot's patch service (StarlingX's
/// `query_hosts`): one row per host name, rewritten by each report.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PatchHost::Table)
                    .col(
                        ColumnDef::new(PatchHost::Hostname)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(PatchHost::Ip).string_len(64).not_null())
                    .col(
                        ColumnDef::new(PatchHost::Personality)
                            .string_len(64)
                            .not_null(),
                    )
                    // JSON array of names.
                    .col(ColumnDef::new(PatchHost::Subfunctions).text().not_null())
                    .col(
                        ColumnDef::new(PatchHost::SwVersion)
                            .string_len(64)
                            .not_null(),
                    )
                    // idle, installing, install-failed
                    .col(ColumnDef::new(PatchHost::State).string_len(32).not_null())
                    // JSON array of [name, epoch, version, release, arch].
                    .col(ColumnDef::new(PatchHost::Installed).text().not_null())
                    .col(
                        ColumnDef::new(PatchHost::InstallRequested)
                            .boolean()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PatchHost::ReportedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PatchHost::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("patch_hosts_release")
                    .table(PatchHost::Table)
                    .col(PatchHost::SwVersion)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PatchHost::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum PatchHost {
    #[sea_orm(iden = "patch_hosts")]
    Table,
    Hostname,
    Ip,
    Personality,
    Subfunctions,
    SwVersion,
    State,
    Installed,
    InstallRequested,
    ReportedAt,
    CreatedAt,
}
