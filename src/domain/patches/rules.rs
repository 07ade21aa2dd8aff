//! The lifecycle's rules over values (pure): requirement closures, what
//! requires what, which RPMs a commit supersedes.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use super::metadata::{Nevra, compare_evr};

/// `ids` and everything they require, transitively (unknown ids are kept:
/// the caller refuses them).
pub fn closure(ids: &[String], requires: &BTreeMap<String, Vec<String>>) -> BTreeSet<String> {
    let mut all: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = ids.to_vec();
    while let Some(id) = todo.pop() {
        if all.insert(id.clone()) {
            todo.extend(requires.get(&id).into_iter().flatten().cloned());
        }
    }
    all
}

/// The patches that require `id` directly, by id.
pub fn required_by(id: &str, requires: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    requires
        .iter()
        .filter(|(_, reqs)| reqs.iter().any(|r| r == id))
        .map(|(other, _)| other.clone())
        .collect()
}

/// An RPM some patch carries, for the commit's reckoning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CarriedRpm {
    pub row_id: i64,
    pub patch_id: String,
    pub package_id: i64,
    pub file_name: String,
    pub nevra: Nevra,
    pub size: u64,
}

/// Of `rpms`, those superseded: a higher version of the same name and
/// arch is among them. The highest of each name and arch stays.
pub fn superseded(rpms: &[CarriedRpm]) -> Vec<&CarriedRpm> {
    let mut best: BTreeMap<(&str, &str), &CarriedRpm> = BTreeMap::new();
    for rpm in rpms {
        let key = (rpm.nevra.name.as_str(), rpm.nevra.arch.as_str());
        match best.get(&key) {
            Some(b) if compare_evr(&b.nevra, &rpm.nevra) != Ordering::Less => {}
            _ => {
                best.insert(key, rpm);
            }
        }
    }
    rpms.iter()
        .filter(|r| {
            let key = (r.nevra.name.as_str(), r.nevra.arch.as_str());
            best.get(&key).is_some_and(|b| b.row_id != r.row_id)
        })
        .collect()
}

/// The epoch in an rpm-md primary fragment (`<version epoch="1" …/>`); "0"
/// when it has none.
pub fn epoch_of_primary(primary: &str) -> String {
    primary
        .split_once("<version epoch=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(epoch, _)| epoch.to_owned())
        .unwrap_or_else(|| "0".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reqs(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn closures_follow_requirements_and_survive_cycles() {
        let r = reqs(&[("C", &["B"]), ("B", &["A"]), ("A", &["C"]), ("D", &[])]);
        let c = closure(&["C".into()], &r);
        assert_eq!(c.into_iter().collect::<Vec<_>>(), vec!["A", "B", "C"]);
        assert_eq!(required_by("A", &r), vec!["B"]);
        assert!(required_by("D", &r).is_empty());
    }

    #[test]
    fn the_highest_version_of_each_name_and_arch_stays() {
        let rpm = |row_id, name: &str, epoch: &str, version: &str| CarriedRpm {
            row_id,
            patch_id: format!("P{row_id}"),
            package_id: row_id,
            file_name: format!("{name}-{version}"),
            nevra: Nevra {
                name: name.into(),
                epoch: epoch.into(),
                version: version.into(),
                release: "1".into(),
                arch: "x86_64".into(),
            },
            size: 10,
        };
        let rpms = vec![
            rpm(1, "foo", "0", "1.2"),
            rpm(2, "foo", "0", "1.10"),
            rpm(3, "bar", "1", "1.0"),
            rpm(4, "bar", "0", "9.0"),
            rpm(5, "baz", "0", "1"),
        ];
        let gone: Vec<i64> = superseded(&rpms).iter().map(|r| r.row_id).collect();
        assert_eq!(gone, vec![1, 4]);
    }

    #[test]
    fn epochs_are_read_from_primary_fragments() {
        let p = r#"<package type="rpm"><name>a</name><version epoch="3" ver="1" rel="1"/>"#;
        assert_eq!(epoch_of_primary(p), "3");
        assert_eq!(epoch_of_primary("<package/>"), "0");
    }
}
