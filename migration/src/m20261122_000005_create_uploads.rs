use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A resumable (tus) upload: its state here, its bytes in the object
        // store as parts, so any replica can take the next PATCH.
        manager
            .create_table(
                Table::create()
                    .table(Upload::Table)
                    .col(
                        ColumnDef::new(Upload::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Upload::UserId).big_integer().not_null())
                    .col(ColumnDef::new(Upload::Length).big_integer().not_null())
                    .col(
                        ColumnDef::new(Upload::ReceivedBytes)
                            .big_integer()
                            .not_null(),
                    )
                    // The client's Upload-Metadata header, echoed back on HEAD.
                    .col(ColumnDef::new(Upload::Metadata).text().not_null())
                    .col(ColumnDef::new(Upload::FileName).text().not_null())
                    .col(ColumnDef::new(Upload::DeclaredType).string_len(32))
                    .col(ColumnDef::new(Upload::Sha1).string_len(40))
                    .col(ColumnDef::new(Upload::Sha256).string_len(64))
                    .col(
                        ColumnDef::new(Upload::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Upload::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    // A lease: the one request writing to (or finishing) the upload.
                    .col(ColumnDef::new(Upload::LeaseId).string_len(36))
                    .col(ColumnDef::new(Upload::LeaseExpiresAt).timestamp_with_time_zone())
                    // Set by a PATCH that finds the lease held: the holder gives
                    // way if its client has gone quiet (a half-open connection).
                    .col(
                        ColumnDef::new(Upload::TakeoverRequested)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(Upload::PackageId).big_integer())
                    // Why the finished upload was refused (kind, message), for later GETs.
                    .col(ColumnDef::new(Upload::FailureKind).string_len(16))
                    .col(ColumnDef::new(Upload::FailureMessage).text())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uploads_expires_at")
                    .table(Upload::Table)
                    .col(Upload::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UploadPart::Table)
                    .col(
                        ColumnDef::new(UploadPart::UploadId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(ColumnDef::new(UploadPart::Start).big_integer().not_null())
                    .col(ColumnDef::new(UploadPart::Length).big_integer().not_null())
                    .col(ColumnDef::new(UploadPart::ObjectPath).text().not_null())
                    .primary_key(
                        Index::create()
                            .col(UploadPart::UploadId)
                            .col(UploadPart::Start),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(UploadPart::Table, UploadPart::UploadId)
                            .to(Upload::Table, Upload::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UploadPart::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Upload::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Upload {
    #[sea_orm(iden = "uploads")]
    Table,
    Id,
    UserId,
    Length,
    ReceivedBytes,
    Metadata,
    FileName,
    DeclaredType,
    Sha1,
    Sha256,
    CreatedAt,
    ExpiresAt,
    LeaseId,
    LeaseExpiresAt,
    TakeoverRequested,
    PackageId,
    FailureKind,
    FailureMessage,
}

#[derive(DeriveIden)]
enum UploadPart {
    #[sea_orm(iden = "upload_parts")]
    Table,
    UploadId,
    Start,
    Length,
    ObjectPath,
}
