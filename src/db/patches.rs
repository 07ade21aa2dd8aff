//! StarlingX patches: releases, patches, the RPMs they carry, and what the
//! upload checks compare against (the base repository's versions).

use chrono::Utc;
use entity::{package, patch, patch_release, patch_rpm, repo_package};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

/// The distribution tag under which releases' updates repositories are
/// served: `/repos/patches/<release>/`.
pub const UPDATES_OS: &str = "patches";

/// The states whose patches' RPMs the updates repository serves.
pub const SERVED_STATES: [&str; 2] = ["Applied", "Committed"];

/// The applied and committed patches of `release`.
pub async fn served(db: &impl ConnectionTrait, release: &str) -> Result<Vec<patch::Model>, DbErr> {
    patch::Entity::find()
        .filter(patch::Column::SwVersion.eq(release))
        .filter(patch::Column::Repostate.is_in(SERVED_STATES))
        .order_by_asc(patch::Column::Id)
        .all(db)
        .await
}

pub async fn insert_release(
    db: &(impl ConnectionTrait + TransactionTrait),
    name: &str,
    base_os: &str,
) -> Result<patch_release::Model, DbErr> {
    super::insert_committed(
        db,
        patch_release::ActiveModel {
            name: Set(name.into()),
            base_os: Set(base_os.into()),
            created_at: Set(Utc::now()),
        },
    )
    .await
}

pub async fn find_release(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<patch_release::Model>, DbErr> {
    patch_release::Entity::find_by_id(name.to_owned())
        .one(db)
        .await
}

pub async fn releases(db: &impl ConnectionTrait) -> Result<Vec<patch_release::Model>, DbErr> {
    patch_release::Entity::find()
        .order_by_asc(patch_release::Column::Name)
        .all(db)
        .await
}

pub async fn delete_release(db: &impl ConnectionTrait, name: &str) -> Result<bool, DbErr> {
    let done = patch_release::Entity::delete_by_id(name.to_owned())
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<patch::Model>, DbErr> {
    patch::Entity::find_by_id(id.to_owned()).one(db).await
}

/// Every patch (of `release`, when given), by id.
pub async fn list(
    db: &impl ConnectionTrait,
    release: Option<&str>,
) -> Result<Vec<patch::Model>, DbErr> {
    let mut q = patch::Entity::find().order_by_asc(patch::Column::Id);
    if let Some(release) = release {
        q = q.filter(patch::Column::SwVersion.eq(release));
    }
    q.all(db).await
}

/// `limit` patches from `offset` by id (of `release`, in `repostate`, when
/// given), and how many there are in all.
pub async fn page(
    db: &impl ConnectionTrait,
    release: Option<&str>,
    repostate: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<(Vec<patch::Model>, u64), DbErr> {
    use sea_orm::PaginatorTrait;
    let mut q = patch::Entity::find();
    if let Some(release) = release {
        q = q.filter(patch::Column::SwVersion.eq(release));
    }
    if let Some(state) = repostate {
        q = q.filter(patch::Column::Repostate.eq(state));
    }
    let total = q.clone().count(db).await?;
    let rows = q
        .order_by_asc(patch::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// How many patches a release has.
pub async fn count_of_release(db: &impl ConnectionTrait, release: &str) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    patch::Entity::find()
        .filter(patch::Column::SwVersion.eq(release))
        .count(db)
        .await
}

/// Records a new patch and its RPMs, all or nothing.
pub async fn insert(
    db: &DatabaseConnection,
    row: patch::Model,
    rpms: Vec<patch_rpm::Model>,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    patch::Entity::insert(row.into_active_model())
        .exec_without_returning(&txn)
        .await?;
    for rpm in rpms {
        let mut active = rpm.into_active_model();
        active.id = NotSet;
        active.insert(&txn).await?;
    }
    txn.commit().await
}

/// Updates a patch's metadata (a re-upload).
pub async fn update_metadata(
    db: &impl ConnectionTrait,
    id: &str,
    metadata: String,
    status: String,
) -> Result<(), DbErr> {
    patch::ActiveModel {
        id: Set(id.into()),
        metadata: Set(metadata),
        status: Set(status),
        updated_at: Set(Utc::now()),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// Moves patches to a state (repostate and patchstate).
pub async fn set_state(
    db: &impl ConnectionTrait,
    ids: &[String],
    repostate: &str,
    patchstate: &str,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    patch::Entity::update_many()
        .col_expr(patch::Column::Repostate, Expr::value(repostate))
        .col_expr(patch::Column::Patchstate, Expr::value(patchstate))
        .col_expr(patch::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(patch::Column::Id.is_in(ids.iter().cloned()))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn delete(db: &DatabaseConnection, id: &str) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    patch_rpm::Entity::delete_many()
        .filter(patch_rpm::Column::PatchId.eq(id))
        .exec(&txn)
        .await?;
    patch::Entity::delete_by_id(id.to_owned())
        .exec(&txn)
        .await?;
    txn.commit().await
}

/// The RPMs of `ids` (every patch when empty), by patch and file name.
pub async fn rpms(
    db: &impl ConnectionTrait,
    ids: Option<&[String]>,
) -> Result<Vec<patch_rpm::Model>, DbErr> {
    let mut q = patch_rpm::Entity::find()
        .order_by_asc(patch_rpm::Column::PatchId)
        .order_by_asc(patch_rpm::Column::FileName);
    if let Some(ids) = ids {
        q = q.filter(patch_rpm::Column::PatchId.is_in(ids.iter().cloned()));
    }
    q.all(db).await
}

/// Patch RPMs of `name`/`arch` (any patch).
pub async fn rpms_named(
    db: &impl ConnectionTrait,
    name: &str,
    arch: &str,
) -> Result<Vec<patch_rpm::Model>, DbErr> {
    patch_rpm::Entity::find()
        .filter(patch_rpm::Column::Name.eq(name))
        .filter(patch_rpm::Column::Arch.eq(arch))
        .all(db)
        .await
}

pub async fn delete_rpm(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    patch_rpm::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// Which of `package_ids` some patch carries.
pub async fn carried(db: &impl ConnectionTrait, package_ids: &[i64]) -> Result<Vec<i64>, DbErr> {
    patch_rpm::Entity::find()
        .select_only()
        .column(patch_rpm::Column::PackageId)
        .filter(patch_rpm::Column::PackageId.is_in(package_ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await
}

/// The base repository's RPMs of `name` for `arch` (and noarch) that no
/// patch carries: package id, version, release.
pub async fn base_versions(
    db: &impl ConnectionTrait,
    base_os: &str,
    name: &str,
    arch: &str,
) -> Result<Vec<(i64, String, String)>, DbErr> {
    let rows: Vec<(i64, String, String)> = package::Entity::find()
        .select_only()
        .columns([
            package::Column::Id,
            package::Column::Version,
            package::Column::Release,
        ])
        .filter(package::Column::Extension.eq("rpm"))
        .filter(package::Column::OperatingSystem.eq(base_os))
        .filter(package::Column::Name.eq(name))
        .filter(package::Column::Architecture.is_in([arch, "noarch"]))
        .into_tuple()
        .all(db)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let carried = carried(db, &ids).await?;
    Ok(rows
        .into_iter()
        .filter(|r| !carried.contains(&r.0))
        .collect())
}

/// The primary fragments of packages (which hold their epochs), by package id.
pub async fn primaries(
    db: &impl ConnectionTrait,
    package_ids: &[i64],
) -> Result<Vec<(i64, String)>, DbErr> {
    repo_package::Entity::find()
        .select_only()
        .columns([
            repo_package::Column::PackageId,
            repo_package::Column::Primary,
        ])
        .filter(repo_package::Column::PackageId.is_in(package_ids.iter().copied()))
        .into_tuple()
        .all(db)
        .await
}

/// Sets the patch state of `ids` (their repository state unchanged).
/// `updated_at` stays the time of the last apply, remove or commit: hosts
/// that reported before it are in StarlingX's `interim_state`.
pub async fn set_patchstate(
    db: &impl ConnectionTrait,
    ids: &[String],
    patchstate: &str,
) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    if ids.is_empty() {
        return Ok(());
    }
    patch::Entity::update_many()
        .col_expr(patch::Column::Patchstate, Expr::value(patchstate))
        .filter(patch::Column::Id.is_in(ids.iter().cloned()))
        .exec(db)
        .await?;
    Ok(())
}
