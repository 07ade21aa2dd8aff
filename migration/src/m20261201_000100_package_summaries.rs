use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Two summaries of `packages`, kept by triggers in the transaction that
/// changes a package, so that a list page at a million packages neither
/// scans the table nor visits every matching row (BENCHMARKS.md, "Lists at
/// 1 M packages"):
///
/// - `package_names`: every name a package has. The list's `keyword` (a
///   substring of the lowercased name) is matched against these few rows
///   (trigram-indexed on PostgreSQL), and `packages` then read through its
///   index on `name`. Names are only added: removing the last package of a
///   name would race an upload of the same name (neither sees the other's
///   uncommitted row), and a name without packages matches nothing.
/// - `package_counts`: how many packages there are of each type, name,
///   operating system and architecture; the list's total is their sum.
///   Rows at zero stay, for the same reason.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        // As in `packages`, so that the two compare without a conversion.
        let text = |col: Summary| {
            let mut def = ColumnDef::new(col);
            def.string_len(255).not_null();
            if postgres {
                def.extra("COLLATE \"C\"");
            }
            def
        };
        manager
            .create_table(
                Table::create()
                    .table(Summary::PackageNames)
                    .col(text(Summary::Name).primary_key())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Summary::PackageCounts)
                    .col(text(Summary::Type))
                    .col(text(Summary::Name))
                    .col(text(Summary::OperatingSystem))
                    .col(text(Summary::OsFamily))
                    .col(text(Summary::Architecture))
                    .col(ColumnDef::new(Summary::N).big_integer().not_null())
                    .primary_key(
                        Index::create()
                            .col(Summary::Type)
                            .col(Summary::Name)
                            .col(Summary::OperatingSystem)
                            .col(Summary::Architecture),
                    )
                    .to_owned(),
            )
            .await?;
        // Every sort the list offers, served by an index in either direction
        // (ties go by id, in the sort's direction); these replace the
        // single-column indexes on name and type.
        for (name, col) in SORTED {
            manager
                .create_index(
                    Index::create()
                        .name(format!("ix_package_sort_{name}"))
                        .table(Package::Table)
                        .col(col)
                        .col(Package::Id)
                        .to_owned(),
                )
                .await?;
        }
        for name in ["ix_package_name", "ix_package_type"] {
            manager
                .drop_index(Index::drop().name(name).table(Package::Table).to_owned())
                .await?;
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "INSERT INTO package_names (name) SELECT DISTINCT name FROM packages;
             INSERT INTO package_counts (type, name, operating_system, os_family, architecture, n)
                 SELECT type, name, operating_system, MIN(os_family), architecture, COUNT(*)
                 FROM packages GROUP BY type, name, operating_system, architecture;",
        )
        .await?;
        if postgres {
            db.execute_unprepared(POSTGRES_TRIGGERS).await?;
            db.execute_unprepared(POSTGRES_TRIGRAMS).await?;
        } else {
            for trigger in sqlite_triggers() {
                db.execute_unprepared(&trigger).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "DROP TRIGGER IF EXISTS packages_summarise ON packages;
                 DROP FUNCTION IF EXISTS packages_summarise();",
            )
            .await?;
        } else {
            db.execute_unprepared(
                "DROP TRIGGER IF EXISTS packages_summarise_insert;
                 DROP TRIGGER IF EXISTS packages_summarise_delete;
                 DROP TRIGGER IF EXISTS packages_summarise_update;",
            )
            .await?;
        }
        for (name, col) in [
            ("ix_package_name", Package::Name),
            ("ix_package_type", Package::Type),
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
        for (name, _) in SORTED {
            manager
                .drop_index(
                    Index::drop()
                        .name(format!("ix_package_sort_{name}"))
                        .table(Package::Table)
                        .to_owned(),
                )
                .await?;
        }
        for table in [Summary::PackageNames, Summary::PackageCounts] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// The sortable columns without an index that orders by them and then by
/// id: `id` is the key, `file_name` unique, `created_at` indexed already.
const SORTED: [(&str, Package); 6] = [
    ("name", Package::Name),
    ("version", Package::Version),
    ("type", Package::Type),
    ("os", Package::OperatingSystem),
    ("arch", Package::Architecture),
    ("size", Package::Size),
];

const POSTGRES_TRIGGERS: &str = r#"
CREATE FUNCTION packages_summarise() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE package_counts SET n = n - 1
            WHERE type = OLD.type AND name = OLD.name
              AND operating_system = OLD.operating_system AND architecture = OLD.architecture;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO package_names (name) VALUES (NEW.name) ON CONFLICT DO NOTHING;
        INSERT INTO package_counts (type, name, operating_system, os_family, architecture, n)
            VALUES (NEW.type, NEW.name, NEW.operating_system, NEW.os_family, NEW.architecture, 1)
            ON CONFLICT (type, name, operating_system, architecture)
            DO UPDATE SET n = package_counts.n + 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER packages_summarise
    AFTER INSERT OR DELETE OR UPDATE OF type, name, operating_system, os_family, architecture
    ON packages FOR EACH ROW EXECUTE FUNCTION packages_summarise();
"#;

/// pg_trgm is a trusted extension (PostgreSQL ≥ 13): a database owner may
/// create it. Where it is refused anyway (or its operator class is not on
/// the search path), depot scans the names instead: correct, and cheap
/// while names are few.
const POSTGRES_TRIGRAMS: &str = r#"
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX ix_package_names_trgm ON package_names USING gin (lower(name) gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'no trigram index (%): keyword searches scan package_names', SQLERRM;
END
$$;
"#;

const SQLITE_ADD: &str = "
    INSERT OR IGNORE INTO package_names (name) VALUES (NEW.name);
    INSERT INTO package_counts (type, name, operating_system, os_family, architecture, n)
        VALUES (NEW.type, NEW.name, NEW.operating_system, NEW.os_family, NEW.architecture, 1)
        ON CONFLICT (type, name, operating_system, architecture) DO UPDATE SET n = n + 1;";
const SQLITE_REMOVE: &str = "
    UPDATE package_counts SET n = n - 1
        WHERE type = OLD.type AND name = OLD.name
          AND operating_system = OLD.operating_system AND architecture = OLD.architecture;";

fn sqlite_triggers() -> [String; 3] {
    [
        format!(
            "CREATE TRIGGER packages_summarise_insert AFTER INSERT ON packages BEGIN {SQLITE_ADD} END"
        ),
        format!(
            "CREATE TRIGGER packages_summarise_delete AFTER DELETE ON packages BEGIN {SQLITE_REMOVE} END"
        ),
        format!(
            "CREATE TRIGGER packages_summarise_update \
             AFTER UPDATE OF type, name, operating_system, os_family, architecture ON packages \
             BEGIN {SQLITE_REMOVE} {SQLITE_ADD} END"
        ),
    ]
}

#[derive(DeriveIden, Clone, Copy)]
enum Summary {
    #[sea_orm(iden = "package_names")]
    PackageNames,
    #[sea_orm(iden = "package_counts")]
    PackageCounts,
    Type,
    Name,
    OperatingSystem,
    OsFamily,
    Architecture,
    N,
}

#[derive(DeriveIden, Clone, Copy)]
enum Package {
    #[sea_orm(iden = "packages")]
    Table,
    Id,
    Name,
    Version,
    Type,
    OperatingSystem,
    Architecture,
    Size,
}
