//! Whether a host is current (pure): what its release's applied patches
//! want installed for its personality and subfunctions, against what the
//! host reports installed. StarlingX's `missing_pkgs`, `to_remove`,
//! `requires_reboot`, `duplicated_pkgs`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use super::metadata::{Nevra, compare_evr};

/// A patch of the host's release, as the assessment needs it.
#[derive(Clone, Debug)]
pub struct PatchView {
    /// Applied or committed: the updates repository serves its RPMs.
    pub served: bool,
    pub reboot_required: bool,
    /// Package names per personality.
    pub personalities: BTreeMap<String, Vec<String>>,
    pub rpms: Vec<Nevra>,
}

/// What a host lacks and what it must shed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Currency {
    /// Served RPMs it must install (or upgrade to).
    pub missing: Vec<Nevra>,
    /// Installed RPMs of patches no longer served.
    pub to_remove: Vec<Nevra>,
    /// Installed RPMs that some patch of the release carries.
    pub installed: Vec<Nevra>,
    /// Names installed in more than one version (same arch): their versions.
    pub duplicated: BTreeMap<String, Vec<String>>,
    pub requires_reboot: bool,
}

impl Currency {
    pub fn current(&self) -> bool {
        self.missing.is_empty() && self.to_remove.is_empty()
    }
}

/// `name-[epoch:]version-release.arch`: how dnf and rpm name one package.
pub fn label(n: &Nevra) -> String {
    format!("{}-{}.{}", n.name, n.evr(), n.arch)
}

/// Epoch `0` and none are the same epoch.
fn key(n: &Nevra) -> (String, String, String, String, String) {
    let epoch = match n.epoch.as_str() {
        "" | "0" | "(none)" => String::new(),
        e => e.to_string(),
    };
    (
        n.name.clone(),
        epoch,
        n.version.clone(),
        n.release.clone(),
        n.arch.clone(),
    )
}

/// The host (its personality and subfunctions: `roles`) against its
/// release's `patches`.
pub fn assess(roles: &BTreeSet<String>, installed: &[Nevra], patches: &[PatchView]) -> Currency {
    // What the served patches want: the highest of each name and arch that
    // one of the host's roles lists.
    let mut wanted: BTreeMap<(String, String), (Nevra, bool)> = BTreeMap::new();
    let mut carried: BTreeSet<_> = BTreeSet::new();
    let mut unserved: BTreeMap<_, bool> = BTreeMap::new();
    for p in patches {
        let names: BTreeSet<&String> = p
            .personalities
            .iter()
            .filter(|(role, _)| roles.contains(*role))
            .flat_map(|(_, names)| names)
            .collect();
        for rpm in &p.rpms {
            carried.insert(key(rpm));
            if !p.served {
                unserved.insert(key(rpm), p.reboot_required);
                continue;
            }
            if !names.contains(&rpm.name) {
                continue;
            }
            let slot = (rpm.name.clone(), rpm.arch.clone());
            match wanted.get(&slot) {
                Some((have, _)) if compare_evr(have, rpm) != Ordering::Less => {}
                _ => {
                    wanted.insert(slot, (rpm.clone(), p.reboot_required));
                }
            }
        }
    }
    let wanted_keys: BTreeSet<_> = wanted.values().map(|(n, _)| key(n)).collect();
    let mut out = Currency::default();
    for rpm in installed {
        let k = key(rpm);
        if let Some(reboot) = unserved.get(&k)
            && !wanted_keys.contains(&k)
        {
            out.to_remove.push(rpm.clone());
            out.requires_reboot |= *reboot;
        }
        if carried.contains(&k) {
            out.installed.push(rpm.clone());
        }
    }
    for ((name, arch), (want, reboot)) in &wanted {
        let have = installed.iter().any(|i| {
            i.name == *name
                && i.arch == *arch
                && !out.to_remove.contains(i)
                && compare_evr(i, want) != Ordering::Less
        });
        if !have {
            out.missing.push(want.clone());
            out.requires_reboot |= *reboot;
        }
    }
    // In a stable order, whatever order rpm listed them in.
    out.to_remove.sort_by_key(label);
    out.installed.sort_by_key(label);
    let mut versions: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for rpm in installed {
        versions
            .entry((rpm.name.clone(), rpm.arch.clone()))
            .or_default()
            .push(rpm.evr());
    }
    for ((name, _), evrs) in versions {
        if evrs.len() > 1 {
            out.duplicated.entry(name).or_default().extend(evrs);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(name: &str, version: &str) -> Nevra {
        Nevra {
            name: name.into(),
            epoch: String::new(),
            version: version.into(),
            release: "1.el7".into(),
            arch: "x86_64".into(),
        }
    }

    fn patch(served: bool, rpms: Vec<Nevra>, controller: &[&str]) -> PatchView {
        let mut personalities = BTreeMap::new();
        personalities.insert(
            "controller".to_string(),
            controller.iter().map(|s| s.to_string()).collect(),
        );
        PatchView {
            served,
            reboot_required: false,
            personalities,
            rpms,
        }
    }

    fn roles(r: &[&str]) -> BTreeSet<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_served_package_of_the_role_is_missing_until_installed() {
        let patches = [patch(true, vec![n("foo", "1.1")], &["foo"])];
        let c = assess(&roles(&["controller"]), &[n("foo", "1.0")], &patches);
        assert_eq!(c.missing, vec![n("foo", "1.1")]);
        assert!(!c.current());
        let c = assess(&roles(&["controller"]), &[n("foo", "1.1")], &patches);
        assert!(c.current(), "{c:?}");
        assert_eq!(c.installed, vec![n("foo", "1.1")]);
        // Another role wants nothing of it.
        assert!(assess(&roles(&["worker"]), &[], &patches).current());
    }

    #[test]
    fn the_highest_served_version_is_wanted() {
        let patches = [
            patch(true, vec![n("foo", "1.1")], &["foo"]),
            patch(true, vec![n("foo", "1.2")], &["foo"]),
        ];
        let c = assess(&roles(&["controller"]), &[n("foo", "1.1")], &patches);
        assert_eq!(c.missing, vec![n("foo", "1.2")]);
    }

    #[test]
    fn packages_of_removed_patches_are_to_remove_and_the_served_one_missing() {
        let patches = [
            patch(true, vec![n("foo", "1.1")], &["foo"]),
            patch(false, vec![n("foo", "1.2")], &["foo"]),
        ];
        let c = assess(&roles(&["controller"]), &[n("foo", "1.2")], &patches);
        assert_eq!(c.to_remove, vec![n("foo", "1.2")]);
        assert_eq!(c.missing, vec![n("foo", "1.1")]);
        assert!(!c.current());
        // Epoch 0 is no epoch.
        let mut zero = n("foo", "1.1");
        zero.epoch = "0".into();
        assert!(assess(&roles(&["controller"]), &[zero], &patches).current());
    }

    #[test]
    fn reboots_and_duplicates_are_reported() {
        let mut p = patch(true, vec![n("foo", "1.1")], &["foo"]);
        p.reboot_required = true;
        let c = assess(
            &roles(&["controller"]),
            &[n("foo", "1.0"), n("foo", "0.9")],
            &[p],
        );
        assert!(c.requires_reboot);
        assert_eq!(c.duplicated["foo"].len(), 2);
    }
}
