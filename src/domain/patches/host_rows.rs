//! An agent's report checked, and a host's row encoded and decoded (its
//! subfunctions and installed packages are JSON text in `patch_hosts`).

use std::collections::BTreeSet;

use entity::patch_host;

use super::hosts::{HostReport, IDLE, INSTALL_FAILED, INSTALLING, MAX_PACKAGES};
use super::metadata::Nevra;
use crate::error::{Error, Result};

/// Subfunctions one host may name.
const MAX_SUBFUNCTIONS: usize = 16;
/// Longest name, version, release or arch of a reported package.
const MAX_FIELD: usize = 256;

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub(super) fn check(r: &HostReport) -> Result<()> {
    if !valid_name(&r.hostname) || !valid_name(&r.personality) {
        return Err(Error::invalid(
            "a host name and personality are letters, digits, '.', '_', '-' (at most 64)",
        ));
    }
    if r.subfunctions.len() > MAX_SUBFUNCTIONS || !r.subfunctions.iter().all(|s| valid_name(s)) {
        return Err(Error::invalid(format!(
            "at most {MAX_SUBFUNCTIONS} subfunctions, each a name like a personality"
        )));
    }
    if r.ip.len() > 64 {
        return Err(Error::invalid("an address is at most 64 characters"));
    }
    if ![IDLE, INSTALLING, INSTALL_FAILED].contains(&r.state.as_str()) {
        return Err(Error::invalid(format!(
            "state {:?}: one of {IDLE}, {INSTALLING}, {INSTALL_FAILED}",
            r.state
        )));
    }
    if r.installed.len() > MAX_PACKAGES {
        return Err(Error::invalid(format!(
            "a report lists at most {MAX_PACKAGES} packages ({} here)",
            r.installed.len()
        )));
    }
    let long = |n: &Nevra| {
        [&n.name, &n.epoch, &n.version, &n.release, &n.arch]
            .iter()
            .any(|f| f.len() > MAX_FIELD)
            || n.name.is_empty()
    };
    if r.installed.iter().any(long) {
        return Err(Error::invalid(format!(
            "a package's name is not empty, and its fields at most {MAX_FIELD} characters"
        )));
    }
    Ok(())
}

pub(super) fn roles(personality: &str, subfunctions: &[String]) -> BTreeSet<String> {
    let mut roles: BTreeSet<String> = subfunctions.iter().cloned().collect();
    roles.insert(personality.to_owned());
    roles
}

type Row = (String, String, String, String, String);

pub(super) fn encode(installed: &[Nevra]) -> String {
    let rows: Vec<Row> = installed
        .iter()
        .map(|n| {
            (
                n.name.clone(),
                n.epoch.clone(),
                n.version.clone(),
                n.release.clone(),
                n.arch.clone(),
            )
        })
        .collect();
    serde_json::to_string(&rows).unwrap_or_else(|_| "[]".into())
}

pub(super) fn decode(row: &patch_host::Model) -> Result<(Vec<String>, Vec<Nevra>)> {
    let unreadable =
        |e: serde_json::Error| Error::internal(format!("host {}'s row: {e}", row.hostname));
    let subfunctions: Vec<String> = serde_json::from_str(&row.subfunctions).map_err(unreadable)?;
    let rows: Vec<Row> = serde_json::from_str(&row.installed).map_err(unreadable)?;
    let installed = rows
        .into_iter()
        .map(|(name, epoch, version, release, arch)| Nevra {
            name,
            epoch,
            version,
            release,
            arch,
        })
        .collect();
    Ok((subfunctions, installed))
}
