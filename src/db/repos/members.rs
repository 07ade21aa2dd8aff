//! Which packages a repository has.

use chrono::{DateTime, Utc};
use entity::{blob, package, patch, patch_rpm, repo_package};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, JoinType, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, RelationTrait, Statement,
};

/// An RPM in a repository, as a publication lists it.
#[derive(Clone, Debug)]
pub struct Member {
    pub package_id: i64,
    /// The RPM's name: publications are ordered by it.
    pub name: String,
    pub file_name: String,
    pub blob_key: String,
    pub size: i64,
    /// SHA-256 of the whole file: the pkgid.
    pub sha256: String,
    pub created_at: DateTime<Utc>,
    /// Whether its rpm-md fragments are stored (not yet, for an RPM stored
    /// before repositories existed; never, for one whose header is unreadable).
    pub has_fragments: bool,
}

/// id, file name, blob key, size, created, name, SHA-256, has fragments.
type MemberRow = (
    i64,
    String,
    String,
    i64,
    DateTime<Utc>,
    String,
    String,
    bool,
);

/// The ids of the RPMs of repository `os`/`arch` (that tag's `arch` and
/// `noarch` packages) in the order publications list them, name then id.
pub async fn member_ids(
    db: &impl ConnectionTrait,
    os: &str,
    arch: &str,
) -> Result<Vec<i64>, DbErr> {
    let ids = package::Entity::find()
        .select_only()
        .column(package::Column::Id)
        .filter(members_of(os, arch))
        .order_by_asc(package::Column::Name)
        .order_by_asc(package::Column::Id);
    let backend = db.get_database_backend();
    if backend != DbBackend::Postgres {
        return ids.into_tuple().all(db).await;
    }
    // One value rather than a row a package: decoding 10,000 rows one by
    // one took longer than PostgreSQL took to find them. ARRAY(subquery)
    // keeps the subquery's order.
    let inner = backend.build(&QueryTrait::into_query(ids));
    let listed = db
        .query_one_raw(Statement {
            sql: format!("SELECT array_to_string(ARRAY({}), ',') AS ids", inner.sql),
            ..inner
        })
        .await?
        .map(|row| row.try_get::<String>("", "ids"))
        .transpose()?
        .unwrap_or_default();
    parse_ids(&listed)
}

/// Ids as `array_to_string` writes them: comma-separated, none for an empty list.
fn parse_ids(listed: &str) -> Result<Vec<i64>, DbErr> {
    if listed.is_empty() {
        return Ok(Vec::new());
    }
    listed
        .split(',')
        .map(|id| {
            id.parse()
                .map_err(|_| DbErr::Type(format!("{id:?} listed as a package id")))
        })
        .collect()
}

/// The packages `ids` as members, in no particular order.
pub async fn members_by_id(db: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<Member>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<MemberRow> = package::Entity::find()
        .select_only()
        .columns([
            package::Column::Id,
            package::Column::FileName,
            package::Column::BlobKey,
            package::Column::Size,
            package::Column::CreatedAt,
            package::Column::Name,
        ])
        .column(blob::Column::Sha256)
        .expr_as(Expr::exists(fragments_of_package()), "has_fragments")
        .join(JoinType::InnerJoin, package::Relation::Blob.def())
        .filter(package::Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(package_id, file_name, blob_key, size, created_at, name, sha256, has_fragments)| {
                Member {
                    package_id,
                    name,
                    file_name,
                    blob_key,
                    size,
                    sha256,
                    created_at,
                    has_fragments,
                }
            },
        )
        .collect())
}

/// The package's row of `repo_packages`, for an EXISTS in the same query.
fn fragments_of_package() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .expr(Expr::val(1))
        .from(repo_package::Entity)
        .and_where(
            Expr::col((repo_package::Entity, repo_package::Column::PackageId))
                .equals((package::Entity, package::Column::Id)),
        )
        .to_owned()
}

/// Whether `file_name` is a package of repository `os`/`arch`.
pub async fn is_member(
    db: &impl ConnectionTrait,
    os: &str,
    arch: &str,
    file_name: &str,
) -> Result<bool, DbErr> {
    Ok(package::Entity::find()
        .select_only()
        .column(package::Column::Id)
        .filter(members_of(os, arch))
        .filter(package::Column::FileName.eq(file_name))
        .into_tuple::<i64>()
        .one(db)
        .await?
        .is_some())
}

/// Whether repository `os`/`arch` has any RPM.
pub async fn has_members(db: &impl ConnectionTrait, os: &str, arch: &str) -> Result<bool, DbErr> {
    Ok(package::Entity::find()
        .select_only()
        .column(package::Column::Id)
        .filter(members_of(os, arch))
        .into_tuple::<i64>()
        .one(db)
        .await?
        .is_some())
}

/// The packages of repository `os`/`arch`: that tag's `arch` and `noarch`
/// RPMs, except patches' (served by their release's updates repository
/// only); for `patches`/`<release>`, the RPMs of the release's applied and
/// committed patches (`db::patches::UPDATES_OS`). Subqueries, so that no
/// list of ids is ever held.
fn members_of(os: &str, arch: &str) -> Condition {
    let rpms = Condition::all().add(package::Column::Extension.eq("rpm"));
    if os == crate::db::patches::UPDATES_OS {
        let served = Query::select()
            .column(patch::Column::Id)
            .from(patch::Entity)
            .and_where(patch::Column::SwVersion.eq(arch))
            .and_where(patch::Column::Repostate.is_in(crate::db::patches::SERVED_STATES))
            .to_owned();
        let packages = Query::select()
            .column(patch_rpm::Column::PackageId)
            .from(patch_rpm::Entity)
            .and_where(patch_rpm::Column::PatchId.in_subquery(served))
            .to_owned();
        return rpms.add(package::Column::Id.in_subquery(packages));
    }
    rpms.add(package::Column::OperatingSystem.eq(os))
        .add(package::Column::Architecture.is_in([arch, "noarch"]))
        .add(not_carried_by_patches())
}

/// Not one of a patch's RPMs: those belong to their release's updates
/// repository only, never to their distribution tag's.
pub(super) fn not_carried_by_patches() -> Condition {
    let carried = Query::select()
        .column(patch_rpm::Column::PackageId)
        .from(patch_rpm::Entity)
        .to_owned();
    Condition::all().add(package::Column::Id.not_in_subquery(carried))
}

/// A stored package, as `depot repo verify` checks a listed one against.
#[derive(Clone, Debug)]
pub struct Stored {
    pub file_name: String,
    pub sha256: String,
    pub size: i64,
    pub blob_key: String,
}

/// The packages stored under `names`.
pub async fn stored_by_file_names(
    db: &impl ConnectionTrait,
    names: &[String],
) -> Result<Vec<Stored>, DbErr> {
    let rows: Vec<(String, i64, String, String)> = package::Entity::find()
        .select_only()
        .columns([
            package::Column::FileName,
            package::Column::Size,
            package::Column::BlobKey,
        ])
        .column(blob::Column::Sha256)
        .join(JoinType::InnerJoin, package::Relation::Blob.def())
        .filter(package::Column::FileName.is_in(names.iter().map(String::as_str)))
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(file_name, size, blob_key, sha256)| Stored {
            file_name,
            sha256,
            size,
            blob_key,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::parse_ids;

    #[test]
    fn ids_listed_as_text_parse_in_order() {
        assert_eq!(parse_ids("").unwrap(), Vec::<i64>::new());
        assert_eq!(parse_ids("7").unwrap(), vec![7]);
        assert_eq!(parse_ids("3,1,2").unwrap(), vec![3, 1, 2]);
        assert!(parse_ids("1,,2").is_err());
        assert!(parse_ids("1,x").is_err());
    }
}
