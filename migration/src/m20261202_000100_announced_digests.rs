use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// An upload that announces its digest is written once, under its content
/// key, when depot can name the key in time: a resumable upload keeps the
/// BLAKE3 its client announced, and a SHA-256 finds the key of bytes depot
/// holds already through an index.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Upload::Table)
                    .add_column(ColumnDef::new(Upload::Blake3).string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Blob::Table)
                    .col(Blob::Sha256)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Blob::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Upload::Table)
                    .drop_column(Upload::Blake3)
                    .to_owned(),
            )
            .await
    }
}

const INDEX: &str = "ix_blob_sha256";

#[derive(DeriveIden, Clone, Copy)]
enum Upload {
    #[sea_orm(iden = "uploads")]
    Table,
    Blake3,
}

#[derive(DeriveIden, Clone, Copy)]
enum Blob {
    #[sea_orm(iden = "blobs")]
    Table,
    Sha256,
}
