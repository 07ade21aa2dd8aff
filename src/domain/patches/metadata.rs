//! `metadata.xml` of a patch, and the rules about its values (pure).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A patch's metadata as StarlingX writes it (readers use `findtext`, so
/// element order does not matter, and missing texts are empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchMetadata {
    pub id: String,
    pub sw_version: String,
    pub summary: String,
    pub description: String,
    pub install_instructions: String,
    pub warnings: String,
    /// `DEV`, `REL` or `OBS`.
    pub status: String,
    /// `Y` or `N`.
    pub unremovable: String,
    /// `Y` unless the XML says exactly `N`.
    pub reboot_required: String,
    pub apply_active_release_only: String,
    /// RPM file names (`name-ver-rel.arch.rpm`).
    pub contents: Vec<String>,
    pub requires: Vec<String>,
    /// Packages per personality (`controller`, `worker`, …).
    pub personalities: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize, Default)]
struct Xml {
    #[serde(default)]
    id: String,
    #[serde(default)]
    sw_version: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    install_instructions: String,
    #[serde(default)]
    warnings: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    unremovable: String,
    #[serde(default)]
    reboot_required: String,
    #[serde(default)]
    apply_active_release_only: String,
    #[serde(default)]
    contents: Contents,
    #[serde(default)]
    requires: Requires,
    #[serde(default, rename = "personality")]
    personalities: Vec<Personality>,
}

#[derive(Deserialize, Default)]
struct Contents {
    #[serde(default, rename = "rpm")]
    rpms: Vec<String>,
}

#[derive(Deserialize, Default)]
struct Requires {
    #[serde(default, rename = "req_patch_id")]
    ids: Vec<String>,
}

#[derive(Deserialize)]
struct Personality {
    #[serde(rename = "@type")]
    kind: String,
    #[serde(default, rename = "package")]
    packages: Vec<String>,
}

/// Reads `metadata.xml`; refuses one without an id or release, or with an
/// id no file name or URL segment could carry.
pub fn parse(xml: &[u8]) -> Result<PatchMetadata, String> {
    let text = std::str::from_utf8(xml).map_err(|_| "metadata.xml is not UTF-8".to_owned())?;
    let x: Xml = quick_xml::de::from_str(text).map_err(|e| format!("metadata.xml: {e}"))?;
    let trim = |s: String| s.trim().to_owned();
    let id = trim(x.id);
    check_id(&id)?;
    let sw_version = trim(x.sw_version);
    if sw_version.is_empty() {
        return Err("metadata.xml names no sw_version".into());
    }
    let mut personalities: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in x.personalities {
        let packages = p.packages.into_iter().map(trim);
        personalities
            .entry(trim(p.kind))
            .or_default()
            .extend(packages);
    }
    let reboot = trim(x.reboot_required);
    Ok(PatchMetadata {
        id,
        sw_version,
        summary: trim(x.summary),
        description: trim(x.description),
        install_instructions: trim(x.install_instructions),
        warnings: trim(x.warnings),
        status: trim(x.status),
        unremovable: if trim(x.unremovable) == "Y" { "Y" } else { "N" }.into(),
        reboot_required: if reboot == "N" { "N" } else { "Y" }.into(),
        apply_active_release_only: trim(x.apply_active_release_only),
        contents: x.contents.rpms.into_iter().map(trim).collect(),
        requires: x.requires.ids.into_iter().map(trim).collect(),
        personalities,
    })
}

/// A patch id: what StarlingX's ids are made of (`TC_19.12_PATCH_0003`).
pub fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not a patch id (letters, digits, '_', '-', '.'; at most 128)"
        ))
    }
}

/// An RPM's name, epoch, version, release and arch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nevra {
    pub name: String,
    pub epoch: String,
    pub version: String,
    pub release: String,
    pub arch: String,
}

impl Nevra {
    /// `[epoch:]version-release`, as StarlingX prints versions.
    pub fn evr(&self) -> String {
        match self.epoch.as_str() {
            "" | "0" => format!("{}-{}", self.version, self.release),
            e => format!("{e}:{}-{}", self.version, self.release),
        }
    }
}

/// RPM's label comparison (rpmvercmp on epoch, then version, then release;
/// an absent epoch is 0).
pub fn compare_evr(a: &Nevra, b: &Nevra) -> Ordering {
    let epoch = |e: &str| {
        if e.is_empty() {
            "0".to_owned()
        } else {
            e.to_owned()
        }
    };
    let a = rpm_version::Evr::new(epoch(&a.epoch), a.version.clone(), a.release.clone());
    let b = rpm_version::Evr::new(epoch(&b.epoch), b.version.clone(), b.release.clone());
    a.cmp(&b)
}
