//! yum repositories: each RPM's rpm-md fragments, each repository's current
//! publication, its metadata files, and the signing key.

use chrono::{DateTime, Utc};
use entity::{blob, package, repo, repo_file, repo_key, repo_package};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect, RelationTrait,
};

/// An RPM in a repository, as a publication lists it.
#[derive(Clone, Debug)]
pub struct Member {
    pub package_id: i64,
    pub file_name: String,
    pub blob_key: String,
    pub size: i64,
    /// SHA-256 of the whole file: the pkgid.
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_fragments(
    db: &impl ConnectionTrait,
    row: repo_package::Model,
) -> Result<(), DbErr> {
    repo_package::Entity::insert(repo_package::ActiveModel::from(row))
        .on_conflict(
            OnConflict::column(repo_package::Column::PackageId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn delete_fragments(db: &impl ConnectionTrait, package_id: i64) -> Result<(), DbErr> {
    repo_package::Entity::delete_by_id(package_id)
        .exec(db)
        .await?;
    Ok(())
}

/// The RPMs of repository `os`/`arch`: that tag's `arch` and `noarch`
/// packages, in the order publications list them (name, then id); for
/// `patches`/`<release>`, the RPMs of the release's applied and committed
/// patches (`db::patches::UPDATES_OS`).
pub async fn members(
    db: &impl ConnectionTrait,
    os: &str,
    arch: &str,
) -> Result<Vec<Member>, DbErr> {
    if os == super::patches::UPDATES_OS {
        let ids = super::patches::updates_package_ids(db, arch).await?;
        return members_where(db, Condition::all().add(package::Column::Id.is_in(ids))).await;
    }
    // A patch's RPMs are served by its release's updates repository only.
    let carried = sea_orm::sea_query::Query::select()
        .column(entity::patch_rpm::Column::PackageId)
        .from(entity::patch_rpm::Entity)
        .to_owned();
    members_where(
        db,
        Condition::all()
            .add(package::Column::OperatingSystem.eq(os))
            .add(package::Column::Architecture.is_in([arch, "noarch"]))
            .add(package::Column::Id.not_in_subquery(carried)),
    )
    .await
}

async fn members_where(
    db: &impl ConnectionTrait,
    condition: Condition,
) -> Result<Vec<Member>, DbErr> {
    let rows: Vec<(i64, String, String, i64, DateTime<Utc>, String)> = package::Entity::find()
        .select_only()
        .columns([
            package::Column::Id,
            package::Column::FileName,
            package::Column::BlobKey,
            package::Column::Size,
            package::Column::CreatedAt,
        ])
        .column(blob::Column::Sha256)
        .join(JoinType::InnerJoin, package::Relation::Blob.def())
        .filter(package::Column::Extension.eq("rpm"))
        .filter(condition)
        .order_by_asc(package::Column::Name)
        .order_by_asc(package::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(package_id, file_name, blob_key, size, created_at, sha256)| Member {
                package_id,
                file_name,
                blob_key,
                size,
                sha256,
                created_at,
            },
        )
        .collect())
}

/// The fragments of `ids` that exist, in any order.
pub async fn fragments(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<Vec<repo_package::Model>, DbErr> {
    repo_package::Entity::find()
        .filter(repo_package::Column::PackageId.is_in(ids.iter().copied()))
        .all(db)
        .await
}

/// Which of `ids` have fragments.
pub async fn with_fragments(db: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<i64>, DbErr> {
    repo_package::Entity::find()
        .select_only()
        .column(repo_package::Column::PackageId)
        .filter(repo_package::Column::PackageId.is_in(ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await
}

/// Every (operating system, architecture) that has an RPM of its own
/// architecture: the repositories that exist without being asked for.
pub async fn tagged_arches(db: &impl ConnectionTrait) -> Result<Vec<(String, String)>, DbErr> {
    package::Entity::find()
        .select_only()
        .columns([
            package::Column::OperatingSystem,
            package::Column::Architecture,
        ])
        .distinct()
        .filter(package::Column::Extension.eq("rpm"))
        .filter(package::Column::OperatingSystem.ne(""))
        .filter(package::Column::Architecture.is_not_in(["noarch", "src"]))
        .into_tuple()
        .all(db)
        .await
}

pub async fn find(
    db: &impl ConnectionTrait,
    os: &str,
    arch: &str,
) -> Result<Option<repo::Model>, DbErr> {
    repo::Entity::find()
        .filter(repo::Column::Os.eq(os))
        .filter(repo::Column::Arch.eq(arch))
        .one(db)
        .await
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<repo::Model>, DbErr> {
    repo::Entity::find()
        .order_by_asc(repo::Column::Os)
        .order_by_asc(repo::Column::Arch)
        .all(db)
        .await
}

/// A publication to make current.
pub struct Switch {
    pub os: String,
    pub arch: String,
    pub revision: i64,
    pub content: String,
    pub package_count: i64,
    pub repomd: String,
    /// (name, object key, size) of its metadata files.
    pub files: Vec<(String, String, i64)>,
}

/// Makes `publication` current: the repository's row and its files. Files of
/// the previous publication it does not have are marked superseded. Answers
/// the object keys written for files the repository already had (same name,
/// same bytes), which the caller removes.
pub async fn switch(
    db: &impl ConnectionTrait,
    publication: Switch,
    now: DateTime<Utc>,
) -> Result<Vec<String>, DbErr> {
    // A write first: SQLite turns a transaction that has read into a writing
    // one only if nobody wrote meanwhile, else fails at once (SQLITE_BUSY,
    // whatever the busy timeout); one that writes first waits its turn.
    repo::Entity::update_many()
        .col_expr(repo::Column::Revision, Expr::col(repo::Column::Revision))
        .filter(repo::Column::Os.eq(&publication.os))
        .filter(repo::Column::Arch.eq(&publication.arch))
        .exec(db)
        .await?;
    let existing = find(db, &publication.os, &publication.arch).await?;
    let repo_id = match existing {
        Some(row) => {
            let mut row: repo::ActiveModel = row.into();
            row.revision = Set(publication.revision);
            row.content = Set(publication.content);
            row.package_count = Set(publication.package_count);
            row.repomd = Set(publication.repomd);
            row.published_at = Set(now);
            row.update(db).await?.id
        }
        None => {
            repo::ActiveModel {
                os: Set(publication.os),
                arch: Set(publication.arch),
                revision: Set(publication.revision),
                content: Set(publication.content),
                package_count: Set(publication.package_count),
                repomd: Set(publication.repomd),
                published_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await?
            .id
        }
    };
    let names: Vec<String> = publication.files.iter().map(|f| f.0.clone()).collect();
    let mut duplicates = Vec::new();
    for (name, object_key, size) in publication.files {
        match file(db, repo_id, &name).await? {
            Some(old) => {
                duplicates.push(object_key);
                repo_file::Entity::update_many()
                    .col_expr(
                        repo_file::Column::SupersededAt,
                        Expr::value(Option::<DateTime<Utc>>::None),
                    )
                    .filter(repo_file::Column::Id.eq(old.id))
                    .exec(db)
                    .await?;
            }
            None => {
                repo_file::ActiveModel {
                    repo_id: Set(repo_id),
                    name: Set(name),
                    object_key: Set(object_key),
                    size: Set(size),
                    superseded_at: Set(None),
                    ..Default::default()
                }
                .insert(db)
                .await?;
            }
        }
    }
    repo_file::Entity::update_many()
        .col_expr(repo_file::Column::SupersededAt, Expr::value(now))
        .filter(repo_file::Column::RepoId.eq(repo_id))
        .filter(repo_file::Column::SupersededAt.is_null())
        .filter(repo_file::Column::Name.is_not_in(names))
        .exec(db)
        .await?;
    Ok(duplicates)
}

pub async fn file(
    db: &impl ConnectionTrait,
    repo_id: i64,
    name: &str,
) -> Result<Option<repo_file::Model>, DbErr> {
    repo_file::Entity::find()
        .filter(repo_file::Column::RepoId.eq(repo_id))
        .filter(repo_file::Column::Name.eq(name))
        .one(db)
        .await
}

/// Files of repository `repo_id` superseded before `before`.
pub async fn expired_files(
    db: &impl ConnectionTrait,
    repo_id: i64,
    before: DateTime<Utc>,
) -> Result<Vec<repo_file::Model>, DbErr> {
    repo_file::Entity::find()
        .filter(repo_file::Column::RepoId.eq(repo_id))
        .filter(repo_file::Column::SupersededAt.lt(before))
        .all(db)
        .await
}

pub async fn delete_file(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    repo_file::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// The signing key: the newest row.
pub async fn signing_key(db: &impl ConnectionTrait) -> Result<Option<repo_key::Model>, DbErr> {
    repo_key::Entity::find()
        .order_by_desc(repo_key::Column::Id)
        .one(db)
        .await
}

/// Records `key` as key `id` unless a replica recorded one under that id first.
pub async fn insert_key(db: &impl ConnectionTrait, key: repo_key::Model) -> Result<(), DbErr> {
    repo_key::Entity::insert(repo_key::ActiveModel::from(key))
        .on_conflict(
            OnConflict::column(repo_key::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}
