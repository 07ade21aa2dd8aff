//! Apply, remove, delete and commit, by StarlingX's rules. Each change is
//! one statement over the patches' rows, after the checks; the release's
//! updates repository is told (and republished) after it.

use std::collections::{BTreeMap, BTreeSet};

use entity::patch;

use super::metadata::Nevra;
use super::rules::{self, CarriedRpm};
use super::{
    APPLIED, AVAILABLE, COMMITTED, PARTIAL_APPLY, PARTIAL_REMOVE, Patches, Reply, parse_stored,
};
use crate::db;
use crate::error::{Error, Result};

/// What a commit did, or would do (`dry_run`).
#[derive(Clone, Debug, Default)]
pub struct CommitReport {
    /// The patches committed: those asked for and all they require.
    pub patches: Vec<String>,
    /// Bytes of the superseded RPMs removed.
    pub freed: u64,
    pub reply: Reply,
}

impl Patches {
    async fn rows(&self, ids: &[String]) -> Result<BTreeMap<String, patch::Model>> {
        let mut rows = BTreeMap::new();
        let mut unknown = Vec::new();
        for id in ids {
            match db::patches::find(&self.db, id).await? {
                Some(row) => {
                    rows.insert(id.clone(), row);
                }
                None => unknown.push(format!("{id} is unrecognized")),
            }
        }
        if unknown.is_empty() {
            Ok(rows)
        } else {
            Err(Error::PatchUnknown(unknown.join("\n")))
        }
    }

    fn touch(&self, releases: BTreeSet<String>) {
        for release in releases {
            self.repo_changes.touch(db::patches::UPDATES_OS, &release);
        }
    }

    /// Puts patches into their release's updates repository; each needs its
    /// requirements applied, or applied in the same call.
    pub async fn apply(&self, ids: &[String]) -> Result<Reply> {
        let rows = self.rows(ids).await?;
        self.refuse_busy(&rows).await?;
        let mut reply = Reply::default();
        let mut refused = Vec::new();
        for (id, row) in &rows {
            for req in parse_stored(row)?.requires {
                let ok = ids.contains(&req)
                    || matches!(
                        db::patches::find(&self.db, &req)
                            .await?
                            .map(|r| r.repostate)
                            .as_deref(),
                        Some(APPLIED | COMMITTED)
                    );
                if !ok {
                    refused.push(format!("{id} requires {req}, which is not applied"));
                }
            }
        }
        if !refused.is_empty() {
            return Err(Error::PatchState(refused.join("\n")));
        }
        let mut changed = Vec::new();
        for (id, row) in &rows {
            if row.repostate == AVAILABLE {
                changed.push(id.clone());
                reply.info(format!("{id} is now in the repo"));
            } else {
                reply.info(format!("{id} is already in the repo"));
            }
        }
        self.finish(&rows, &changed, APPLIED, PARTIAL_APPLY, "apply")
            .await?;
        Ok(reply)
    }

    /// Takes patches out of the repository: not committed, not unremovable
    /// (unless `remove_unremovable`, sw-patch's `--removeunremovable`), not
    /// required by an applied patch that stays.
    pub async fn remove(&self, ids: &[String], remove_unremovable: bool) -> Result<Reply> {
        let rows = self.rows(ids).await?;
        self.refuse_busy(&rows).await?;
        let requires = self.requirements().await?;
        let mut refused = Vec::new();
        let mut reply = Reply::default();
        for (id, row) in &rows {
            let meta = parse_stored(row)?;
            if row.repostate == COMMITTED {
                refused.push(format!("{id} is committed and cannot be removed"));
            } else if meta.unremovable == "Y" && remove_unremovable {
                reply.warning(format!("Unremovable patch {id} being removed"));
            } else if meta.unremovable == "Y" {
                refused.push(format!("{id} is not removable."));
            }
            let mut by = Vec::new();
            for other in rules::required_by(id, &requires) {
                if ids.contains(&other) {
                    continue;
                }
                let state = db::patches::find(&self.db, &other)
                    .await?
                    .map(|r| r.repostate);
                if matches!(state.as_deref(), Some(APPLIED | COMMITTED)) {
                    by.push(other);
                }
            }
            if !by.is_empty() {
                refused.push(format!("{id} is required by: {}", by.join(", ")));
            }
        }
        if !refused.is_empty() {
            return Err(Error::PatchState(refused.join("\n")));
        }
        let mut changed = Vec::new();
        for (id, row) in &rows {
            if row.repostate == APPLIED {
                changed.push(id.clone());
                reply.info(format!("{id} has been removed from the repo"));
            } else {
                reply.info(format!("{id} is not in the repo"));
            }
        }
        self.finish(&rows, &changed, AVAILABLE, PARTIAL_REMOVE, "remove")
            .await?;
        Ok(reply)
    }

    /// The tail of apply and remove: `changed` move to `repostate`, their
    /// patch state `partial` until their release's hosts are current (or
    /// `n/a` without hosts), and their releases' repositories republish.
    async fn finish(
        &self,
        rows: &BTreeMap<String, patch::Model>,
        changed: &[String],
        repostate: &str,
        partial: &str,
        event: &str,
    ) -> Result<()> {
        let releases: BTreeSet<String> = changed
            .iter()
            .map(|id| rows[id].sw_version.clone())
            .collect();
        if !changed.is_empty() {
            db::patches::set_state(&self.db, changed, repostate, partial).await?;
        }
        for release in &releases {
            self.refresh(release).await?;
        }
        if !changed.is_empty() {
            crate::metrics::patch_event(event);
            tracing::info!(patches = ?changed, event, "patches changed");
        }
        self.touch(releases);
        Ok(())
    }

    /// Refuses apply and remove while a host of the patches' releases installs.
    async fn refuse_busy(&self, rows: &BTreeMap<String, patch::Model>) -> Result<()> {
        let releases: BTreeSet<String> = rows.values().map(|r| r.sw_version.clone()).collect();
        self.refuse_if_installing(&releases).await
    }

    /// Deletes Available patches and the RPMs they brought.
    pub async fn delete(&self, ids: &[String]) -> Result<Reply> {
        let rows = self.rows(ids).await?;
        let refused: Vec<String> = rows
            .iter()
            .filter(|(_, row)| row.repostate != AVAILABLE)
            .map(|(id, _)| format!("Patch {id} not in Available state"))
            .collect();
        if !refused.is_empty() {
            return Err(Error::PatchState(refused.join("\n")));
        }
        let mut reply = Reply::default();
        for id in rows.keys() {
            let rpms = db::patches::rpms(&self.db, Some(std::slice::from_ref(id))).await?;
            db::patches::delete(&self.db, id).await?;
            for rpm in rpms {
                self.drop_package(rpm.package_id).await;
            }
            reply.info(format!("{id} has been deleted"));
        }
        crate::metrics::patch_event("delete");
        tracing::info!(patches = ?ids, "patches deleted");
        Ok(reply)
    }

    /// Removes a package no patch carries any more.
    async fn drop_package(&self, package_id: i64) {
        match db::patches::carried(&self.db, &[package_id]).await {
            Ok(still) if still.is_empty() => {
                if let Err(e) = self.packages.delete(package_id).await {
                    tracing::warn!(package = package_id, error = %e, "removing a patch's RPM");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(package = package_id, error = %e, "looking up a patch's RPM"),
        }
    }

    /// Commits released, applied patches and all they require: their
    /// superseded RPMs (lower versions of a name and arch among the
    /// release's committed and committing patches) are deleted. A dry run
    /// reports what would be committed and freed.
    pub async fn commit(&self, ids: &[String], dry_run: bool) -> Result<CommitReport> {
        let requires = self.requirements().await?;
        self.check_known(ids, &requires)?;
        let closure: Vec<String> = rules::closure(ids, &requires).into_iter().collect();
        let rows = self.rows(&closure).await?;
        let not_rel: Vec<&String> = rows
            .iter()
            .filter(|(_, r)| r.status != "REL")
            .map(|(id, _)| id)
            .collect();
        if !not_rel.is_empty() {
            return Err(Error::PatchState(format!(
                "A commit cannot be performed with non-REL status patches: {}",
                not_rel
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let not_applied: Vec<String> = rows
            .iter()
            .filter(|(_, r)| r.repostate != APPLIED && r.repostate != COMMITTED)
            .map(|(id, _)| format!("{id} is not applied"))
            .collect();
        if !not_applied.is_empty() {
            return Err(Error::PatchState(not_applied.join("\n")));
        }
        // Per release: what its committed and committing patches carry.
        let releases: BTreeSet<String> = rows.values().map(|r| r.sw_version.clone()).collect();
        let mut gone: Vec<CarriedRpm> = Vec::new();
        for release in &releases {
            let mut members: Vec<String> = db::patches::list(&self.db, Some(release))
                .await?
                .into_iter()
                .filter(|r| r.repostate == COMMITTED)
                .map(|r| r.id)
                .collect();
            members.extend(
                rows.values()
                    .filter(|r| r.sw_version == *release)
                    .map(|r| r.id.clone()),
            );
            let carried: Vec<CarriedRpm> = db::patches::rpms(&self.db, Some(&members))
                .await?
                .into_iter()
                .map(|r| CarriedRpm {
                    row_id: r.id,
                    patch_id: r.patch_id,
                    package_id: r.package_id,
                    file_name: r.file_name,
                    nevra: Nevra {
                        name: r.name,
                        epoch: r.epoch,
                        version: r.version,
                        release: r.release,
                        arch: r.arch,
                    },
                    size: r.size.max(0) as u64,
                })
                .collect();
            gone.extend(rules::superseded(&carried).into_iter().cloned());
        }
        let freed: u64 = gone.iter().map(|r| r.size).sum();
        let patches: Vec<String> = rows.keys().cloned().collect();
        let mut reply = Reply::default();
        let mib = freed as f64 / (1024.0 * 1024.0);
        if dry_run {
            reply.info(format!(
                "The following patches will be committed:\n  {}\nThis commit operation would free {mib:.2} MiB",
                patches.join("\n  ")
            ));
            return Ok(CommitReport {
                patches,
                freed,
                reply,
            });
        }
        for rpm in &gone {
            db::patches::delete_rpm(&self.db, rpm.row_id).await?;
            self.drop_package(rpm.package_id).await;
        }
        db::patches::set_state(&self.db, &patches, COMMITTED, COMMITTED).await?;
        crate::metrics::patch_event("commit");
        tracing::info!(patches = ?patches, freed, "patches committed");
        reply.info(format!(
            "The following patches have been committed:\n  {}\nThis commit operation freed {mib:.2} MiB",
            patches.join("\n  ")
        ));
        self.touch(releases);
        Ok(CommitReport {
            patches,
            freed,
            reply,
        })
    }
}
