//! One page of the patches and of the hosts, for `query` and `query_hosts`
//! with `page`/`size`: the console shows a page at a time, and reads no
//! more than it shows (a host's row holds its whole package list).

use std::collections::BTreeMap;

use super::hosts::status_of;
use super::{APPLIED, AVAILABLE, COMMITTED, HostStatus, PatchInfo, Patches, Show, info_of};
use crate::db;
use crate::domain::window::Window;
use crate::error::Result;

impl Patches {
    /// A page of `query`'s patches (by id), and how many it lists in all.
    pub async fn query_page(
        &self,
        show: Show,
        release: Option<&str>,
        window: Window,
    ) -> Result<(Vec<PatchInfo>, u64)> {
        let state = match show {
            Show::All => None,
            Show::Available => Some(AVAILABLE),
            Show::Applied => Some(APPLIED),
            Show::Committed => Some(COMMITTED),
        };
        let (rows, total) =
            db::patches::page(&self.db, release, state, window.offset(), window.size).await?;
        let patches = rows
            .into_iter()
            .map(|row| info_of(row, Vec::new()))
            .collect::<Result<_>>()?;
        Ok((patches, total))
    }

    /// A page of `hosts` (by host name), and how many hosts there are.
    pub async fn hosts_page(&self, window: Window) -> Result<(Vec<HostStatus>, u64)> {
        let (rows, total) = db::patch_hosts::window(&self.db, window.offset(), window.size).await?;
        let mut views = BTreeMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            if !views.contains_key(&row.sw_version) {
                views.insert(row.sw_version.clone(), self.views(&row.sw_version).await?);
            }
            out.push(status_of(row, &views[&row.sw_version])?);
        }
        // allow_insvc_patching is a verdict on every host (`hosts`), not
        // only on this page's; hosts are bounded (`--patch-max-hosts`).
        if !out.is_empty() {
            let allow = self.hosts().await?.iter().all(|h| h.allow_insvc_patching);
            for h in &mut out {
                h.allow_insvc_patching = allow;
            }
        }
        Ok((out, total))
    }
}
