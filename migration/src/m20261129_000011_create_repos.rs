use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// yum/dnf repositories: each RPM's rpm-md fragments, computed once at ingest;
/// each repository's current publication (what `repomd.xml` serves, switched
/// in one statement); the metadata objects of publications, kept for a grace
/// period after they are superseded; the repositories' signing key.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RepoPackage::Table)
                    .col(
                        ColumnDef::new(RepoPackage::PackageId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RepoPackage::Pkgid).string_len(64).not_null())
                    .col(ColumnDef::new(RepoPackage::Primary).text().not_null())
                    .col(ColumnDef::new(RepoPackage::Filelists).text().not_null())
                    .col(ColumnDef::new(RepoPackage::Other).text().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Repo::Table)
                    .col(
                        ColumnDef::new(Repo::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Repo::Os).string_len(64).not_null())
                    .col(ColumnDef::new(Repo::Arch).string_len(64).not_null())
                    .col(ColumnDef::new(Repo::Revision).big_integer().not_null())
                    .col(ColumnDef::new(Repo::Content).string_len(64).not_null())
                    .col(ColumnDef::new(Repo::PackageCount).big_integer().not_null())
                    .col(ColumnDef::new(Repo::Repomd).text().not_null())
                    .col(
                        ColumnDef::new(Repo::PublishedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("repos_os_arch")
                    .table(Repo::Table)
                    .col(Repo::Os)
                    .col(Repo::Arch)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RepoFile::Table)
                    .col(
                        ColumnDef::new(RepoFile::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RepoFile::RepoId).big_integer().not_null())
                    .col(ColumnDef::new(RepoFile::Name).string_len(128).not_null())
                    .col(
                        ColumnDef::new(RepoFile::ObjectKey)
                            .string_len(256)
                            .not_null(),
                    )
                    .col(ColumnDef::new(RepoFile::Size).big_integer().not_null())
                    .col(ColumnDef::new(RepoFile::SupersededAt).timestamp_with_time_zone())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("repo_files_repo_name")
                    .table(RepoFile::Table)
                    .col(RepoFile::RepoId)
                    .col(RepoFile::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RepoKey::Table)
                    .col(
                        ColumnDef::new(RepoKey::Id)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(RepoKey::Fingerprint)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(RepoKey::SecretKey).text().not_null())
                    .col(ColumnDef::new(RepoKey::PublicKey).text().not_null())
                    .col(
                        ColumnDef::new(RepoKey::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RepoKey::Table.into_iden(),
            RepoFile::Table.into_iden(),
            Repo::Table.into_iden(),
            RepoPackage::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum RepoPackage {
    #[sea_orm(iden = "repo_packages")]
    Table,
    PackageId,
    Pkgid,
    Primary,
    Filelists,
    Other,
}

#[derive(DeriveIden)]
enum Repo {
    #[sea_orm(iden = "repos")]
    Table,
    Id,
    Os,
    Arch,
    Revision,
    Content,
    PackageCount,
    Repomd,
    PublishedAt,
}

#[derive(DeriveIden)]
enum RepoFile {
    #[sea_orm(iden = "repo_files")]
    Table,
    Id,
    RepoId,
    Name,
    ObjectKey,
    Size,
    SupersededAt,
}

#[derive(DeriveIden)]
enum RepoKey {
    #[sea_orm(iden = "repo_keys")]
    Table,
    Id,
    Fingerprint,
    SecretKey,
    PublicKey,
    CreatedAt,
}
