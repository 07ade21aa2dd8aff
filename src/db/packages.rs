use chrono::Utc;
use entity::{blob, package};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, TransactionTrait,
};

use crate::store::Staged;

mod list;
pub use list::{filtered, list};

/// A package about to be recorded.
#[derive(Clone, Debug)]
pub struct NewPackage {
    pub name: String,
    pub file_name: String,
    pub extension: String,
    pub package_type: String,
    pub version: String,
    pub release: String,
    pub build_number: String,
    pub operating_system: String,
    pub architecture: String,
    pub deletable: bool,
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<package::Model>, DbErr> {
    package::Entity::find_by_id(id).one(db).await
}

/// A package with its stored object's row (its digests).
pub async fn find_with_blob(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<(package::Model, Option<blob::Model>)>, DbErr> {
    package::Entity::find_by_id(id)
        .find_also_related(blob::Entity)
        .one(db)
        .await
}

pub async fn find_by_file_name(
    db: &impl ConnectionTrait,
    file_name: &str,
) -> Result<Option<package::Model>, DbErr> {
    package::Entity::find()
        .filter(package::Column::FileName.eq(file_name))
        .one(db)
        .await
}

pub async fn find_by_name(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Vec<package::Model>, DbErr> {
    package::Entity::find()
        .filter(package::Column::Name.eq(name))
        .order_by_asc(package::Column::Id)
        .all(db)
        .await
}

/// `alios7` → `alios`, `el8` → `el`; a tag without version digits is its own family.
pub fn os_family(os: &str) -> &str {
    os.trim_end_matches(|c: char| c.is_ascii_digit())
}

/// Records the blob, or touches its row if it exists. Either way the row is
/// locked until the transaction ends, which serialises this upload against a
/// delete of the same content (see `release_blob`).
pub async fn upsert_blob(db: &impl ConnectionTrait, staged: &Staged) -> Result<(), DbErr> {
    let row = blob::ActiveModel {
        key: Set(staged.key.to_string()),
        size: Set(staged.size as i64),
        sha1: Set(staged.digests.sha1.clone()),
        md5: Set(staged.digests.md5.clone()),
        sha256: Set(staged.digests.sha256.clone()),
        created_at: Set(Utc::now()),
    };
    blob::Entity::insert(row)
        .on_conflict(
            OnConflict::column(blob::Column::Key)
                .update_column(blob::Column::Size)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The key of stored bytes with this SHA-256 (lowercase hex), if any.
pub async fn blob_key_by_sha256(
    db: &impl ConnectionTrait,
    sha256: &str,
) -> Result<Option<String>, DbErr> {
    use sea_orm::QuerySelect;
    blob::Entity::find()
        .select_only()
        .column(blob::Column::Key)
        .filter(blob::Column::Sha256.eq(sha256))
        .into_tuple::<String>()
        .one(db)
        .await
}

/// Locks the blob row of `key`, creating a placeholder when there is none,
/// so that an upload of the same content waits for the caller's transaction
/// (the collector's, about to remove an object no row records).
pub async fn lock_or_hold_blob(
    db: &impl ConnectionTrait,
    key: &str,
    size: i64,
) -> Result<(), DbErr> {
    let row = blob::ActiveModel {
        key: Set(key.to_string()),
        size: Set(size),
        sha1: Set(String::new()),
        md5: Set(String::new()),
        sha256: Set(String::new()),
        created_at: Set(Utc::now()),
    };
    blob::Entity::insert(row)
        .on_conflict(
            OnConflict::column(blob::Column::Key)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    lock_blob(db, key).await?;
    Ok(())
}

/// Keys of the packages' objects whose object may be missing: all of them, for the caller to check.
pub async fn referenced_keys(db: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    use sea_orm::QuerySelect;
    package::Entity::find()
        .select_only()
        .column(package::Column::BlobKey)
        .distinct()
        .into_tuple::<String>()
        .all(db)
        .await
}

/// Those of `keys` that some package references.
pub async fn referenced_among(
    db: &impl ConnectionTrait,
    keys: &[String],
) -> Result<Vec<String>, DbErr> {
    use sea_orm::QuerySelect;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    package::Entity::find()
        .select_only()
        .column(package::Column::BlobKey)
        .distinct()
        .filter(package::Column::BlobKey.is_in(keys.iter().map(String::as_str)))
        .into_tuple::<String>()
        .all(db)
        .await
}

/// File names of the packages stored under `keys`.
pub async fn file_names_for_keys(
    db: &impl ConnectionTrait,
    keys: &[&String],
) -> Result<Vec<String>, DbErr> {
    use sea_orm::QuerySelect;
    package::Entity::find()
        .select_only()
        .column(package::Column::FileName)
        .filter(package::Column::BlobKey.is_in(keys.iter().map(|k| k.as_str())))
        .order_by_asc(package::Column::FileName)
        .into_tuple::<String>()
        .all(db)
        .await
}

/// Locks an existing blob row; false when there is none.
pub async fn lock_blob(db: &impl ConnectionTrait, key: &str) -> Result<bool, DbErr> {
    let res = blob::Entity::update_many()
        .col_expr(blob::Column::Size, Expr::col(blob::Column::Size))
        .filter(blob::Column::Key.eq(key))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

pub async fn delete_blob(db: &impl ConnectionTrait, key: &str) -> Result<(), DbErr> {
    blob::Entity::delete_by_id(key.to_string()).exec(db).await?;
    Ok(())
}

pub async fn references(db: &impl ConnectionTrait, key: &str) -> Result<u64, DbErr> {
    package::Entity::find()
        .filter(package::Column::BlobKey.eq(key))
        .count(db)
        .await
}

pub async fn insert(
    db: &(impl ConnectionTrait + TransactionTrait),
    new: &NewPackage,
    staged: &Staged,
) -> Result<package::Model, DbErr> {
    let row = package::ActiveModel {
        name: Set(new.name.clone()),
        file_name: Set(new.file_name.clone()),
        extension: Set(new.extension.clone()),
        size: Set(staged.size as i64),
        sha1: Set(staged.digests.sha1.clone()),
        blob_key: Set(staged.key.to_string()),
        r#type: Set(new.package_type.clone()),
        version: Set(new.version.clone()),
        release: Set(new.release.clone()),
        build_number: Set(new.build_number.clone()),
        os_family: Set(os_family(&new.operating_system).to_string()),
        operating_system: Set(new.operating_system.clone()),
        architecture: Set(new.architecture.clone()),
        deletable: Set(new.deletable),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    super::insert_committed(db, row).await
}

/// Deletes a package row; false when it was already gone.
pub async fn delete(db: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    Ok(package::Entity::delete_by_id(id)
        .exec(db)
        .await?
        .rows_affected
        > 0)
}

pub async fn mark_built_in(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    package::Entity::update_many()
        .col_expr(package::Column::Deletable, Expr::value(false))
        .filter(package::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn os_families() {
        assert_eq!(super::os_family("alios7"), "alios");
        assert_eq!(super::os_family("el8"), "el");
        assert_eq!(super::os_family("al8"), "al");
        assert_eq!(super::os_family(""), "");
    }
}
