//! yum repositories: each RPM's rpm-md fragments, each repository's current
//! publication, its metadata files, the cache of compressed chunks, and the
//! signing key.

mod chunks;
mod members;

pub use chunks::*;
pub use members::*;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{package, repo, repo_file, repo_key, repo_package};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

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

/// Every (operating system, architecture) that has an RPM of its own
/// architecture, patches' RPMs aside: the repositories that exist without
/// being asked for.
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
        .filter(members::not_carried_by_patches())
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

/// The repository's row, read for a switch in transaction `txn`: written
/// first, so that SQLite's transaction is a writing one from the start (one
/// that has read can become writing only if nobody wrote meanwhile, else
/// fails at once, whatever the busy timeout), and PostgreSQL's holds the
/// row: the revision read here is the one the switch succeeds.
pub async fn current_for_switch(
    txn: &impl ConnectionTrait,
    os: &str,
    arch: &str,
) -> Result<Option<repo::Model>, DbErr> {
    // One statement: the no-op update takes the row, RETURNING reads it.
    Ok(repo::Entity::update_many()
        .col_expr(repo::Column::Revision, Expr::col(repo::Column::Revision))
        .filter(repo::Column::Os.eq(os))
        .filter(repo::Column::Arch.eq(arch))
        .exec_with_returning(txn)
        .await?
        .into_iter()
        .next())
}

/// Makes `publication` current over `existing` (from `current_for_switch`,
/// in the same transaction): the repository's row and its files. Files of
/// the previous publication it does not have are marked superseded. Answers
/// the object keys written for files the repository already had (same name,
/// same bytes), which the caller removes.
pub async fn switch(
    db: &impl ConnectionTrait,
    existing: Option<repo::Model>,
    publication: Switch,
    now: DateTime<Utc>,
) -> Result<Vec<String>, DbErr> {
    let existed = existing.is_some();
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
    // A file's name is its digest: one the repository already has (same
    // name, same bytes) stays, current again, and the object just written
    // for it is a duplicate. A statement for each step, not for each file.
    let had: HashMap<String, i64> = if existed {
        repo_file::Entity::find()
            .filter(repo_file::Column::RepoId.eq(repo_id))
            .filter(repo_file::Column::Name.is_in(names.iter().cloned()))
            .all(db)
            .await?
            .into_iter()
            .map(|f| (f.name, f.id))
            .collect()
    } else {
        HashMap::new()
    };
    let mut duplicates = Vec::new();
    let mut new = Vec::new();
    for (name, object_key, size) in publication.files {
        if had.contains_key(&name) {
            duplicates.push(object_key);
        } else {
            new.push(repo_file::ActiveModel {
                repo_id: Set(repo_id),
                name: Set(name),
                object_key: Set(object_key),
                size: Set(size),
                superseded_at: Set(None),
                ..Default::default()
            });
        }
    }
    if !had.is_empty() {
        repo_file::Entity::update_many()
            .col_expr(
                repo_file::Column::SupersededAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(repo_file::Column::Id.is_in(had.values().copied()))
            .exec(db)
            .await?;
    }
    if !new.is_empty() {
        repo_file::Entity::insert_many(new)
            .exec_without_returning(db)
            .await?;
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

/// Those of `keys` that a metadata file a repository references (current or
/// superseded) is stored under: what GC must leave alone in `repos/`.
pub async fn object_keys_among(
    db: &impl ConnectionTrait,
    keys: &[String],
) -> Result<Vec<String>, DbErr> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    repo_file::Entity::find()
        .select_only()
        .column(repo_file::Column::ObjectKey)
        .filter(repo_file::Column::ObjectKey.is_in(keys.iter().map(String::as_str)))
        .into_tuple()
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
