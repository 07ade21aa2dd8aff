use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Regions (each an object store agents near it download from) and, per
/// blob and region, the replication status: pending, copying (claimed by a
/// worker until its lease ends), present (verified), failed (retried after
/// `next_attempt_at`). Status rows are written in the transaction of the
/// package that needs them: no event that can be lost.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Regions::Table)
                    .col(
                        ColumnDef::new(Regions::Name)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Regions::StorageUrl).text().not_null())
                    .col(ColumnDef::new(Regions::S3Endpoint).text().null())
                    .col(ColumnDef::new(Regions::S3Region).text().null())
                    .col(ColumnDef::new(Regions::S3PublicEndpoint).text().null())
                    .col(ColumnDef::new(Regions::AccessKeyId).text().null())
                    .col(ColumnDef::new(Regions::SecretAccessKey).text().null())
                    // Comma-separated CIDRs of the region's clients.
                    .col(ColumnDef::new(Regions::Cidrs).text().not_null().default(""))
                    .col(
                        ColumnDef::new(Regions::Home)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Regions::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RegionBlob::Table)
                    .col(ColumnDef::new(RegionBlob::BlobKey).string().not_null())
                    .col(ColumnDef::new(RegionBlob::Region).string_len(64).not_null())
                    .col(ColumnDef::new(RegionBlob::Size).big_integer().not_null())
                    .col(ColumnDef::new(RegionBlob::State).string_len(16).not_null())
                    .col(
                        ColumnDef::new(RegionBlob::Attempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(RegionBlob::LastError).text().null())
                    .col(
                        ColumnDef::new(RegionBlob::NextAttemptAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(RegionBlob::LeaseOwner).text().null())
                    .col(
                        ColumnDef::new(RegionBlob::LeaseUntil)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(RegionBlob::VerifiedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(RegionBlob::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RegionBlob::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(RegionBlob::BlobKey)
                            .col(RegionBlob::Region),
                    )
                    .to_owned(),
            )
            .await?;
        // What the workers look for: a region's due rows in a state.
        manager
            .create_index(
                Index::create()
                    .name("idx_region_blobs_due")
                    .table(RegionBlob::Table)
                    .col(RegionBlob::State)
                    .col(RegionBlob::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_region_blobs_region")
                    .table(RegionBlob::Table)
                    .col(RegionBlob::Region)
                    .col(RegionBlob::State)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RegionBlob::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Regions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Regions {
    #[sea_orm(iden = "regions")]
    Table,
    Name,
    StorageUrl,
    S3Endpoint,
    S3Region,
    S3PublicEndpoint,
    AccessKeyId,
    SecretAccessKey,
    Cidrs,
    Home,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RegionBlob {
    #[sea_orm(iden = "region_blobs")]
    Table,
    BlobKey,
    Region,
    Size,
    State,
    Attempts,
    LastError,
    NextAttemptAt,
    LeaseOwner,
    LeaseUntil,
    VerifiedAt,
    CreatedAt,
    UpdatedAt,
}
