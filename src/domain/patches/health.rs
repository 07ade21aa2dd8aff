//! The doctor's check of patch states: a patch in Partial-Apply or
//! Partial-Remove waits for hosts to install. It is stuck when nothing is
//! on its way: a host of its release is not current and neither installs
//! nor has an install requested (or its last install failed).

use std::collections::BTreeMap;

use super::hosts::{INSTALL_FAILED, INSTALLING};
use super::{PARTIAL_APPLY, PARTIAL_REMOVE, Patches};
use crate::db;
use crate::domain::doctor::Check;
use crate::error::Result;

const NAME: &str = "patch states";

impl Patches {
    pub async fn doctor_check(&self) -> Check {
        match self.stuck().await {
            Ok((stuck, 0)) if stuck.is_empty() => Check::ok(NAME, "no patch in a partial state"),
            Ok((stuck, partial)) if stuck.is_empty() => Check::ok(
                NAME,
                format!("{partial} patches in a partial state, their hosts installing"),
            ),
            Ok((stuck, _)) => Check::warn(
                NAME,
                stuck
                    .iter()
                    .map(|(id, hosts)| format!("{id} waits for {}", hosts.join(", ")))
                    .collect::<Vec<_>>()
                    .join("; "),
                "see `depot patch query-hosts`: run `depot patch host-install HOST` for each host \
                 named (after an install-failed, read its agent's log), make sure its agent runs, \
                 or `depot patch drop-host HOST` for a host that is gone",
            ),
            Err(e) => Check::warn(NAME, e.to_string(), "check the database"),
        }
    }

    /// Partial patches whose hosts do nothing about it (the hosts named,
    /// with their state), and how many patches are partial.
    async fn stuck(&self) -> Result<(BTreeMap<String, Vec<String>>, usize)> {
        let partial: Vec<_> = db::patches::list(&self.db, None)
            .await?
            .into_iter()
            .filter(|p| [PARTIAL_APPLY, PARTIAL_REMOVE].contains(&p.patchstate.as_str()))
            .collect();
        let mut idle_hosts: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for host in self.hosts().await? {
            let waiting = host.state != INSTALLING && !host.install_requested;
            if !host.currency.current() && (waiting || host.state == INSTALL_FAILED) {
                idle_hosts
                    .entry(host.sw_version.clone())
                    .or_default()
                    .push(format!("{} ({})", host.hostname, host.state));
            }
        }
        let stuck = partial
            .iter()
            .filter_map(|p| {
                idle_hosts
                    .get(&p.sw_version)
                    .map(|hosts| (format!("{} ({})", p.id, p.patchstate), hosts.clone()))
            })
            .collect();
        Ok((stuck, partial.len()))
    }
}
