use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The compressed chunks of yum repository metadata: a run of consecutive
/// packages' primary, filelists and other entries, each a gzip member, kept
/// under a digest of what they hold, so that a publication recompresses
/// only the chunks a change touched. A cache: any row may go at any time.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RepoChunk::Table)
                    .col(
                        ColumnDef::new(RepoChunk::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RepoChunk::Primary).binary().not_null())
                    .col(ColumnDef::new(RepoChunk::Filelists).binary().not_null())
                    .col(ColumnDef::new(RepoChunk::Other).binary().not_null())
                    .col(
                        ColumnDef::new(RepoChunk::UsedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("repo_chunks_used_at")
                    .table(RepoChunk::Table)
                    .col(RepoChunk::UsedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RepoChunk::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum RepoChunk {
    #[sea_orm(iden = "repo_chunks")]
    Table,
    Id,
    Primary,
    Filelists,
    Other,
    UsedAt,
}
