use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Sorting compares bytes on both backends: PostgreSQL's default
        // collation follows the server's locale, SQLite's is binary.
        let text = |col: Package| {
            let mut def = ColumnDef::new(col);
            def.string_len(255).not_null();
            if manager.get_database_backend() == sea_orm_migration::sea_orm::DbBackend::Postgres {
                def.extra("COLLATE \"C\"");
            }
            def
        };
        // One row per stored object, keyed by its content address. Package rows
        // point here; the row is also the lock that serialises "last reference
        // deleted" against "new reference added".
        manager
            .create_table(
                Table::create()
                    .table(Blob::Table)
                    .col(
                        ColumnDef::new(Blob::Key)
                            .string_len(200)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Blob::Size).big_integer().not_null())
                    .col(ColumnDef::new(Blob::Sha1).string_len(40).not_null())
                    .col(ColumnDef::new(Blob::Md5).string_len(32).not_null())
                    .col(ColumnDef::new(Blob::Sha256).string_len(64).not_null())
                    .col(
                        ColumnDef::new(Blob::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Package::Table)
                    .col(
                        ColumnDef::new(Package::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(text(Package::Name))
                    .col(text(Package::FileName))
                    .col(ColumnDef::new(Package::Extension).string_len(16).not_null())
                    .col(ColumnDef::new(Package::Size).big_integer().not_null())
                    .col(ColumnDef::new(Package::Sha1).string_len(40).not_null())
                    .col(ColumnDef::new(Package::BlobKey).string_len(200).not_null())
                    .col(text(Package::Type))
                    .col(text(Package::Version))
                    .col(text(Package::Release))
                    .col(text(Package::BuildNumber))
                    .col(text(Package::OperatingSystem))
                    .col(text(Package::OsFamily))
                    .col(text(Package::Architecture))
                    .col(ColumnDef::new(Package::Deletable).boolean().not_null())
                    .col(
                        ColumnDef::new(Package::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Package::Table, Package::BlobKey)
                            .to(Blob::Table, Blob::Key),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create()
                    .name("ux_package_file_name")
                    .table(Package::Table)
                    .col(Package::FileName)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (name, col) in [
            ("ix_package_blob_key", Package::BlobKey),
            ("ix_package_type", Package::Type),
            ("ix_package_name", Package::Name),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Package::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Package::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Blob::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Blob {
    #[sea_orm(iden = "blobs")]
    Table,
    Key,
    Size,
    Sha1,
    Md5,
    Sha256,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Package {
    #[sea_orm(iden = "packages")]
    Table,
    Id,
    Name,
    FileName,
    Extension,
    Size,
    Sha1,
    BlobKey,
    Type,
    Version,
    Release,
    BuildNumber,
    OperatingSystem,
    OsFamily,
    Architecture,
    Deletable,
    CreatedAt,
}
