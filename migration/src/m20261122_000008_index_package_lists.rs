use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The list API filters by type and operating system and sorts by creation
/// time (OCP's default view): indexes that serve the filter, the order and
/// the count without reading the table (measured in BENCHMARKS.md).
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let indexes: [(&str, &[Package]); 3] = [
            (
                "ix_package_type_os_created",
                &[
                    Package::Type,
                    Package::OperatingSystem,
                    Package::CreatedAt,
                    Package::Id,
                ],
            ),
            (
                "ix_package_type_family_created",
                &[
                    Package::Type,
                    Package::OsFamily,
                    Package::CreatedAt,
                    Package::Id,
                ],
            ),
            ("ix_package_created", &[Package::CreatedAt, Package::Id]),
        ];
        for (name, cols) in indexes {
            let mut index = Index::create();
            index.name(name).table(Package::Table);
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "ix_package_type_os_created",
            "ix_package_type_family_created",
            "ix_package_created",
        ] {
            manager
                .drop_index(Index::drop().name(name).table(Package::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Package {
    #[sea_orm(iden = "packages")]
    Table,
    Id,
    Type,
    OperatingSystem,
    OsFamily,
    CreatedAt,
}
