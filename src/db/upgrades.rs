use chrono::Utc;
use entity::{package, upgrade_package};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};

/// The obshell fields of a package, without the package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpgradeDetails {
    pub installed_size: u64,
    pub payload_size: u64,
    pub md5: String,
    pub upgrade_dep_yaml: String,
}

/// Records (or refreshes) the obshell fields of package `id`.
pub async fn upsert(
    db: &impl ConnectionTrait,
    id: i64,
    details: &UpgradeDetails,
) -> Result<upgrade_package::Model, DbErr> {
    let row = upgrade_package::ActiveModel {
        package_id: Set(id),
        installed_size: Set(details.installed_size as i64),
        payload_size: Set(details.payload_size as i64),
        md5: Set(details.md5.clone()),
        upgrade_dep_yaml: Set(details.upgrade_dep_yaml.clone()),
        gmt_modify: Set(Utc::now()),
    };
    upgrade_package::Entity::insert(row)
        .on_conflict(
            OnConflict::column(upgrade_package::Column::PackageId)
                .update_columns([
                    upgrade_package::Column::InstalledSize,
                    upgrade_package::Column::PayloadSize,
                    upgrade_package::Column::Md5,
                    upgrade_package::Column::UpgradeDepYaml,
                    upgrade_package::Column::GmtModify,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    upgrade_package::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("upgrade package {id}")))
}

pub async fn find(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<upgrade_package::Model>, DbErr> {
    upgrade_package::Entity::find_by_id(id).one(db).await
}

pub async fn list(
    db: &impl ConnectionTrait,
) -> Result<Vec<(upgrade_package::Model, package::Model)>, DbErr> {
    let rows = upgrade_package::Entity::find()
        .find_also_related(package::Entity)
        .order_by_asc(upgrade_package::Column::PackageId)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(u, p)| Some((u, p?)))
        .collect())
}

/// The upgrade package of package `id`, with its package.
pub async fn find_with_package(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<(upgrade_package::Model, package::Model)>, DbErr> {
    let row = upgrade_package::Entity::find_by_id(id)
        .find_also_related(package::Entity)
        .one(db)
        .await?;
    Ok(row.and_then(|(u, p)| Some((u, p?))))
}

pub async fn delete_for_package(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    upgrade_package::Entity::delete_many()
        .filter(upgrade_package::Column::PackageId.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
