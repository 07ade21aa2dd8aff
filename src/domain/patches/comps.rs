//! The comps document of a release's updates repository (pure): one group
//! per personality, `updates-<personality>`, listing the packages of the
//! applied and committed patches, as StarlingX's `comps.xml` does.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::repos::xml::escape;

/// comps.xml for `groups` (personality → package names).
pub fn comps(groups: &BTreeMap<String, BTreeSet<String>>) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE comps PUBLIC \"-//Red Hat, Inc.//DTD Comps info//EN\" \"comps.dtd\">\n<comps>\n",
    );
    for (personality, packages) in groups {
        let id = escape(&format!("updates-{personality}"));
        out.push_str(&format!(
            "  <group>\n    <id>{id}</id>\n    <name>{id}</name>\n    <description>Packages of the applied patches for {}</description>\n    <default>true</default>\n    <uservisible>true</uservisible>\n    <packagelist>\n",
            escape(personality)
        ));
        for package in packages {
            out.push_str(&format!(
                "      <packagereq type=\"mandatory\">{}</packagereq>\n",
                escape(package)
            ));
        }
        out.push_str("    </packagelist>\n  </group>\n");
    }
    out.push_str("</comps>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_group_per_personality_with_its_packages() {
        let mut groups = BTreeMap::new();
        groups.insert(
            "controller".to_string(),
            ["foo", "bar"].map(String::from).into(),
        );
        groups.insert("worker".to_string(), ["a&b"].map(String::from).into());
        let xml = comps(&groups);
        assert!(xml.contains("<id>updates-controller</id>"));
        assert!(xml.contains("<packagereq type=\"mandatory\">bar</packagereq>\n      <packagereq type=\"mandatory\">foo</packagereq>"));
        assert!(xml.contains("a&amp;b"));
        assert_eq!(xml.matches("<group>").count(), 2);
    }
}
