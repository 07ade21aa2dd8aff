//! Schema migrations. This crate deliberately does not depend on `entity`:
//! old migrations must keep meaning what they meant when they shipped.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_packages;
mod m20261122_000002_create_users;
mod m20261122_000003_create_upgrade_packages;
mod m20261122_000004_create_api_tokens;
mod m20261122_000005_create_uploads;
mod m20261122_000006_create_locks;
mod m20261122_000007_create_audit_events;
mod m20261122_000008_index_package_lists;
mod m20261124_000001_audit_event_details;
mod m20261129_000009_create_credential_epoch;
mod m20261129_000010_create_obshell_keys;
mod m20261129_000011_create_repos;
mod m20261130_000100_create_patches;
mod m20261130_000200_create_regions;
mod m20261130_000300_create_console_sessions;
mod m20261130_000400_create_patch_hosts;
mod m20261130_000600_create_repo_chunks;
mod m20261201_000100_package_summaries;
mod m20261201_000200_repo_member_order;
mod m20261202_000100_announced_digests;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_packages::Migration),
            Box::new(m20261122_000002_create_users::Migration),
            Box::new(m20261122_000003_create_upgrade_packages::Migration),
            Box::new(m20261122_000004_create_api_tokens::Migration),
            Box::new(m20261122_000005_create_uploads::Migration),
            Box::new(m20261122_000006_create_locks::Migration),
            Box::new(m20261122_000007_create_audit_events::Migration),
            Box::new(m20261122_000008_index_package_lists::Migration),
            Box::new(m20261124_000001_audit_event_details::Migration),
            Box::new(m20261129_000009_create_credential_epoch::Migration),
            Box::new(m20261129_000010_create_obshell_keys::Migration),
            Box::new(m20261129_000011_create_repos::Migration),
            Box::new(m20261130_000100_create_patches::Migration),
            Box::new(m20261130_000200_create_regions::Migration),
            Box::new(m20261130_000300_create_console_sessions::Migration),
            Box::new(m20261130_000400_create_patch_hosts::Migration),
            Box::new(m20261130_000600_create_repo_chunks::Migration),
            Box::new(m20261201_000100_package_summaries::Migration),
            Box::new(m20261201_000200_repo_member_order::Migration),
            Box::new(m20261202_000100_announced_digests::Migration),
        ]
    }
}
