use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The list's `keyword` (a substring of the lowercased name) without a scan
/// of `packages`: the distinct names, kept by triggers in `package_names`,
/// are matched first (a trigram index on PostgreSQL), and `packages` is then
/// read through its index on `name`. A repository holds few names and many
/// versions of each, so the names are few; a trigram index on `packages`
/// itself would still visit every matching row to count them, tens of
/// thousands at a million packages (BENCHMARKS.md, "Lists at 1 M packages").
///
/// Names are only added: removing the last package of a name races an upload
/// of the same name (neither sees the other's uncommitted row), and a name
/// without packages matches nothing, so an extra one costs only its row.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        let mut name = ColumnDef::new(PackageName::Name);
        name.string_len(255).not_null().primary_key();
        if postgres {
            // As `packages.name`, so that the two compare without a cast.
            name.extra("COLLATE \"C\"");
        }
        manager
            .create_table(
                Table::create()
                    .table(PackageName::Table)
                    .col(name)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "INSERT INTO package_names (name) SELECT DISTINCT name FROM packages",
        )
        .await?;
        if postgres {
            db.execute_unprepared(POSTGRES_TRIGGERS).await?;
            db.execute_unprepared(POSTGRES_TRIGRAMS).await?;
        } else {
            for trigger in SQLITE_TRIGGERS {
                db.execute_unprepared(trigger).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "DROP TRIGGER IF EXISTS packages_name_insert ON packages;
                 DROP TRIGGER IF EXISTS packages_name_update ON packages;
                 DROP FUNCTION IF EXISTS package_names_add();",
            )
            .await?;
        } else {
            db.execute_unprepared(
                "DROP TRIGGER IF EXISTS packages_name_insert;
                 DROP TRIGGER IF EXISTS packages_name_update;",
            )
            .await?;
        }
        manager
            .drop_table(Table::drop().table(PackageName::Table).to_owned())
            .await
    }
}

const POSTGRES_TRIGGERS: &str = r#"
CREATE FUNCTION package_names_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO package_names (name) VALUES (NEW.name) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER packages_name_insert AFTER INSERT ON packages
    FOR EACH ROW EXECUTE FUNCTION package_names_add();
CREATE TRIGGER packages_name_update AFTER UPDATE OF name ON packages
    FOR EACH ROW EXECUTE FUNCTION package_names_add();
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

const SQLITE_TRIGGERS: [&str; 2] = [
    "CREATE TRIGGER packages_name_insert AFTER INSERT ON packages BEGIN
         INSERT OR IGNORE INTO package_names (name) VALUES (NEW.name);
     END",
    "CREATE TRIGGER packages_name_update AFTER UPDATE OF name ON packages BEGIN
         INSERT OR IGNORE INTO package_names (name) VALUES (NEW.name);
     END",
];

#[derive(DeriveIden)]
enum PackageName {
    #[sea_orm(iden = "package_names")]
    Table,
    Name,
}
