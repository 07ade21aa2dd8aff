//! Hosts and their agents: reports (what a host is and has installed),
//! `query_hosts` (each host against its release's patches, `currency`),
//! install requests, dropping a host, and the patch states that follow:
//! Partial-Apply / Partial-Remove until every host of the release is
//! current, `n/a` while it has none.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::patch_host;

use super::currency::{Currency, PatchView, assess};
use super::host_rows::{check, decode, encode, roles};
use super::metadata::Nevra;
use super::{
    APPLIED, AVAILABLE, NOT_APPLICABLE, PARTIAL_APPLY, PARTIAL_REMOVE, Patches, Reply, parse_stored,
};
use crate::db;
use crate::db::patch_hosts::Stored;
use crate::error::{Error, Result};

/// The agent's states.
pub const IDLE: &str = "idle";
pub const INSTALLING: &str = "installing";
pub const INSTALL_FAILED: &str = "install-failed";

/// Packages one report may list (a full RHEL host has a few thousand).
pub const MAX_PACKAGES: usize = 16_384;
/// Hosts read at once: a row holds a host's whole package list.
const PAGE: u64 = 8;
/// An agent that said `installing` and nothing since for this long has
/// died: it no longer holds apply and remove back.
pub const INSTALL_STALE: Duration = Duration::from_secs(15 * 60);

/// What an agent reports.
#[derive(Clone, Debug)]
pub struct HostReport {
    pub hostname: String,
    pub ip: String,
    pub personality: String,
    pub subfunctions: Vec<String>,
    pub sw_version: String,
    pub state: String,
    pub installed: Vec<Nevra>,
    /// This report ends an install (done or failed).
    pub finished: bool,
}

/// What a report did: the host now, and whether the report changed
/// anything but the time of its last report (a heartbeat does not).
#[derive(Clone, Debug)]
pub struct Reported {
    pub host: HostStatus,
    pub changed: bool,
}

/// A host as `query_hosts` describes it.
#[derive(Clone, Debug)]
pub struct HostStatus {
    pub hostname: String,
    pub ip: String,
    pub personality: String,
    pub subfunctions: Vec<String>,
    pub sw_version: String,
    pub state: String,
    pub secs_since_ack: i64,
    /// An install was asked for and no agent has finished it yet.
    pub install_requested: bool,
    pub currency: Currency,
    /// StarlingX's `interim_state`: a patch of the host's release was
    /// applied or removed after its last report (still partial).
    pub interim: bool,
    /// StarlingX's `allow_insvc_patching`: no host lacks (or must shed) a
    /// patch that requires a reboot. In a report's answer, this host's view.
    pub allow_insvc_patching: bool,
}

impl HostStatus {
    /// StarlingX's `requires_reboot`: the host's own, or any host's out of
    /// date while in-service patching is not allowed.
    pub fn requires_reboot(&self) -> bool {
        self.currency.requires_reboot || (!self.currency.current() && !self.allow_insvc_patching)
    }
}

/// A release's patches as hosts are judged against them.
pub(super) struct ReleaseView {
    patches: Vec<PatchView>,
    /// When the latest patch still partial was applied or removed.
    partial_since: Option<DateTime<Utc>>,
}

impl Patches {
    /// Stores an agent's report; the host as `query_hosts` now sees it (its
    /// `install_requested` tells the agent to install). A new host past
    /// `--patch-max-hosts` is refused.
    pub async fn report(&self, report: HostReport) -> Result<Reported> {
        check(&report)?;
        if db::patches::find_release(&self.db, &report.sw_version)
            .await?
            .is_none()
        {
            return Err(Error::PatchUnknown(format!(
                "release {} is unrecognized",
                report.sw_version
            )));
        }
        let release = report.sw_version.clone();
        let stored = db::patch_hosts::report(
            &self.db,
            db::patch_hosts::Report {
                hostname: report.hostname,
                ip: report.ip,
                personality: report.personality,
                subfunctions: serde_json::to_string(&report.subfunctions)
                    .map_err(Error::internal)?,
                sw_version: report.sw_version,
                state: report.state,
                installed: encode(&report.installed),
                finished: report.finished,
            },
            self.max_hosts,
        )
        .await?;
        let (row, changed) = match stored {
            Stored::Host { row, changed } => (row, changed),
            Stored::Full { max } => {
                return Err(Error::HostLimit(format!(
                    "depot tracks at most {max} hosts (--patch-max-hosts); drop one first"
                )));
            }
        };
        crate::metrics::patch_event("host-report");
        let views = self.views(&release).await?;
        let status = status_of(&row, &views)?;
        self.refresh_after(&release, status.currency.current())
            .await?;
        if changed {
            tracing::info!(host = %status.hostname, state = %status.state, "host report");
        }
        Ok(Reported {
            host: status,
            changed,
        })
    }

    /// Every host against its release's patches, by host name.
    pub async fn hosts(&self) -> Result<Vec<HostStatus>> {
        let mut views: BTreeMap<String, ReleaseView> = BTreeMap::new();
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = db::patch_hosts::page(&self.db, None, after.as_deref(), PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.hostname.clone());
            for row in &page {
                if !views.contains_key(&row.sw_version) {
                    let v = self.views(&row.sw_version).await?;
                    views.insert(row.sw_version.clone(), v);
                }
                out.push(status_of(row, &views[&row.sw_version])?);
            }
        }
        // As StarlingX: one host out of date on a reboot-required patch
        // stops in-service patching for all of them.
        let allow = !out.iter().any(|h| h.currency.requires_reboot);
        for h in &mut out {
            h.allow_insvc_patching = allow;
        }
        Ok(out)
    }

    /// `host_install_async`: the host's agent installs on its next report.
    pub async fn host_install(&self, hostname: &str) -> Result<Reply> {
        if !db::patch_hosts::request_install(&self.db, hostname).await? {
            return Err(Error::PatchUnknown(format!("{hostname} is unrecognized")));
        }
        crate::metrics::patch_event("host-install");
        tracing::info!(host = hostname, "install requested");
        let mut reply = Reply::default();
        reply.info(format!(
            "Patch installation request sent to {hostname}. The host installs on its agent's next report."
        ));
        Ok(reply)
    }

    /// `drop_host`: forgets a host (it reappears when its agent reports).
    pub async fn drop_host(&self, hostname: &str) -> Result<Reply> {
        let Some(release) = db::patch_hosts::delete(&self.db, hostname).await? else {
            return Err(Error::PatchUnknown(format!("{hostname} is unrecognized")));
        };
        crate::metrics::patch_event("host-drop");
        tracing::info!(host = hostname, "host dropped");
        self.refresh(&release).await?;
        let mut reply = Reply::default();
        reply.info(format!("{hostname} has been dropped"));
        Ok(reply)
    }

    /// Refuses a change of `releases` while one of their hosts installs.
    pub(super) async fn refuse_if_installing(&self, releases: &BTreeSet<String>) -> Result<()> {
        let since = Utc::now() - INSTALL_STALE;
        for release in releases {
            let busy = db::patch_hosts::installing(&self.db, release, since).await?;
            if !busy.is_empty() {
                tracing::info!(hosts = ?busy, "apply or remove refused: hosts installing");
                return Err(Error::HostsInstalling(
                    "Rejected: One or more nodes are installing patches.".into(),
                ));
            }
        }
        Ok(())
    }

    /// Sets the patch states of `release` from its hosts: with none, `n/a`;
    /// applied patches are Applied once every host is current, else
    /// Partial-Apply; removed ones Partial-Remove until then, then Available.
    pub(super) async fn refresh(&self, release: &str) -> Result<()> {
        let views = self.views(release).await?;
        let (mut hosts, mut current) = (0usize, true);
        let mut after: Option<String> = None;
        loop {
            let page =
                db::patch_hosts::page(&self.db, Some(release), after.as_deref(), PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.hostname.clone());
            for row in &page {
                hosts += 1;
                current &= status_of(row, &views)?.currency.current();
            }
        }
        self.settle(release, hosts > 0, current).await
    }

    /// After one host's report: when it is not current, the release is not
    /// either, with no need to read its other hosts; when it is, they are
    /// read only if a patch's state waits for them (partial or `n/a`). A
    /// fleet reporting in steady state costs one host each.
    async fn refresh_after(&self, release: &str, host_current: bool) -> Result<()> {
        if !host_current {
            return self.settle(release, true, false).await;
        }
        let waiting = db::patches::list(&self.db, Some(release))
            .await?
            .iter()
            .any(|p| {
                [PARTIAL_APPLY, PARTIAL_REMOVE, NOT_APPLICABLE].contains(&p.patchstate.as_str())
            });
        if waiting {
            self.refresh(release).await
        } else {
            Ok(())
        }
    }

    /// Moves the patch states of `release`: whether it has hosts, and
    /// whether all of them are current.
    async fn settle(&self, release: &str, any_hosts: bool, current: bool) -> Result<()> {
        let mut moves: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for row in db::patches::list(&self.db, Some(release)).await? {
            let to = match (row.repostate.as_str(), row.patchstate.as_str()) {
                (APPLIED, _) if !any_hosts => NOT_APPLICABLE,
                (APPLIED, _) if current => APPLIED,
                (APPLIED, _) => PARTIAL_APPLY,
                (AVAILABLE, _) if !any_hosts => NOT_APPLICABLE,
                (AVAILABLE, PARTIAL_REMOVE) if !current => PARTIAL_REMOVE,
                (AVAILABLE, _) => AVAILABLE,
                _ => continue,
            };
            if row.patchstate != to {
                moves.entry(to).or_default().push(row.id);
            }
        }
        for (state, ids) in moves {
            tracing::info!(patches = ?ids, state, "patch state");
            db::patches::set_patchstate(&self.db, &ids, state).await?;
        }
        Ok(())
    }

    /// The patches of `release` with their RPMs, for `assess`.
    pub(super) async fn views(&self, release: &str) -> Result<ReleaseView> {
        let rows = db::patches::list(&self.db, Some(release)).await?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut rpms: BTreeMap<String, Vec<Nevra>> = BTreeMap::new();
        for r in db::patches::rpms(&self.db, Some(&ids)).await? {
            rpms.entry(r.patch_id).or_default().push(Nevra {
                name: r.name,
                epoch: r.epoch,
                version: r.version,
                release: r.release,
                arch: r.arch,
            });
        }
        let mut out = Vec::new();
        let mut partial_since = None;
        for row in rows {
            if [PARTIAL_APPLY, PARTIAL_REMOVE].contains(&row.patchstate.as_str()) {
                partial_since = partial_since.max(Some(row.updated_at));
            }
            let meta = parse_stored(&row)?;
            out.push(PatchView {
                served: db::patches::SERVED_STATES.contains(&row.repostate.as_str()),
                reboot_required: meta.reboot_required != "N",
                personalities: meta.personalities,
                rpms: rpms.remove(&row.id).unwrap_or_default(),
            });
        }
        Ok(ReleaseView {
            patches: out,
            partial_since,
        })
    }
}

pub(super) fn status_of(row: &patch_host::Model, view: &ReleaseView) -> Result<HostStatus> {
    let (subfunctions, installed) = decode(row)?;
    let currency = assess(
        &roles(&row.personality, &subfunctions),
        &installed,
        &view.patches,
    );
    Ok(HostStatus {
        hostname: row.hostname.clone(),
        ip: row.ip.clone(),
        personality: row.personality.clone(),
        subfunctions,
        sw_version: row.sw_version.clone(),
        state: row.state.clone(),
        secs_since_ack: (Utc::now() - row.reported_at).num_seconds().max(0),
        install_requested: row.install_requested,
        interim: view.partial_since.is_some_and(|t| t > row.reported_at),
        allow_insvc_patching: !currency.requires_reboot,
        currency,
    })
}
