//! Reading back what a publication wrote: repomd.xml's `<data>` entries and
//! primary.xml's packages, streamed (a primary of 100,000 packages is read
//! one element at a time). Pure.

use std::io::BufRead;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// The longest text of an element kept (digests and sizes are short).
const MAX_TEXT: usize = 1024;

/// A metadata file as repomd.xml describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataEntry {
    pub kind: String,
    pub href: String,
    pub checksum: String,
    pub open_checksum: String,
    pub size: u64,
    pub open_size: u64,
}

/// repomd.xml's revision and entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Repomd {
    pub revision: Option<i64>,
    pub data: Vec<DataEntry>,
}

/// A package as primary.xml lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackageRef {
    pub href: String,
    /// The `pkgid` checksum: SHA-256 of the whole RPM.
    pub pkgid: String,
    pub size: u64,
}

pub fn parse_repomd(xml: &str) -> Result<Repomd, String> {
    let mut out = Repomd::default();
    let mut current: Option<DataEntry> = None;
    walk(xml.as_bytes(), |element, attrs, text| {
        match (element, text) {
            ("revision", Some(t)) => out.revision = Some(number(t)? as i64),
            ("data", None) => {
                current = Some(DataEntry {
                    kind: attr(attrs, "type").unwrap_or_default(),
                    ..DataEntry::default()
                })
            }
            ("data", Some(_)) => out.data.extend(current.take()),
            (name, t) => {
                if let Some(entry) = current.as_mut() {
                    match (name, t) {
                        ("location", None) => entry.href = attr(attrs, "href").unwrap_or_default(),
                        ("checksum", Some(t)) => entry.checksum = t.to_string(),
                        ("open-checksum", Some(t)) => entry.open_checksum = t.to_string(),
                        ("size", Some(t)) => entry.size = number(t)?,
                        ("open-size", Some(t)) => entry.open_size = number(t)?,
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// Reads primary.xml, calling `each` for every package; answers the root's
/// `packages` count.
pub fn read_primary(
    xml: impl BufRead,
    mut each: impl FnMut(PackageRef) -> Result<(), String>,
) -> Result<Option<u64>, String> {
    let mut declared = None;
    let mut current: Option<PackageRef> = None;
    walk(xml, |element, attrs, text| {
        match (element, text) {
            ("metadata", None) => {
                declared = attr(attrs, "packages").map(|n| number(&n)).transpose()?
            }
            ("package", None) => current = Some(PackageRef::default()),
            ("package", Some(_)) => {
                if let Some(package) = current.take() {
                    each(package)?
                }
            }
            ("location", None) => {
                if let Some(p) = current.as_mut() {
                    p.href = attr(attrs, "href").unwrap_or_default();
                }
            }
            ("size", None) => {
                if let Some(p) = current.as_mut() {
                    p.size = attr(attrs, "package").map_or(Ok(0), |n| number(&n))?;
                }
            }
            ("checksum", Some(t)) => {
                if let Some(p) = current.as_mut() {
                    p.pkgid = t.to_string();
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(declared)
}

/// The file name an href ends with, percent-decoded.
pub fn file_name_of(href: &str) -> Option<String> {
    let last = href.rsplit('/').next().filter(|s| !s.is_empty())?;
    percent_encoding::percent_decode_str(last)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

type Attrs = Vec<(String, String)>;

/// Calls `visit(local name, attributes, None)` at each element's start and
/// `visit(local name, [], Some(text))` at its end.
fn walk(
    xml: impl BufRead,
    mut visit: impl FnMut(&str, &Attrs, Option<&str>) -> Result<(), String>,
) -> Result<(), String> {
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut text = String::new();
    let none = Attrs::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(e) => {
                text.clear();
                visit(&name(&e), &attributes(&e)?, None)?;
            }
            Event::Empty(e) => {
                let name = name(&e);
                visit(&name, &attributes(&e)?, None)?;
                visit(&name, &none, Some(""))?;
            }
            Event::Text(t) => {
                let t = t.decode().map_err(|e| e.to_string())?;
                if text.len() + t.len() <= MAX_TEXT {
                    text.push_str(&t);
                }
            }
            Event::End(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                visit(&name, &none, Some(text.trim()))?;
                text.clear();
            }
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}

fn name(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
}

fn attributes(e: &BytesStart<'_>) -> Result<Attrs, String> {
    e.attributes()
        .map(|a| {
            let a = a.map_err(|e| e.to_string())?;
            let value = a
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| e.to_string())?;
            Ok((
                String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned(),
                value.into_owned(),
            ))
        })
        .collect()
}

fn attr(attrs: &Attrs, key: &str) -> Option<String> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn number(text: &str) -> Result<u64, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::super::super::repomd::{DataFile, Kind, repomd};
    use super::*;

    #[test]
    fn reads_back_what_repomd_writes() {
        let file = DataFile {
            kind: Kind::Primary,
            sha256: "ab".repeat(32),
            size: 10,
            open_sha256: "cd".repeat(32),
            open_size: 20,
            timestamp: 7,
        };
        let parsed = parse_repomd(&repomd(42, std::slice::from_ref(&file))).unwrap();
        assert_eq!(parsed.revision, Some(42));
        assert_eq!(
            parsed.data,
            vec![DataEntry {
                kind: "primary".into(),
                href: format!("repodata/{}", file.name()),
                checksum: file.sha256.clone(),
                open_checksum: file.open_sha256.clone(),
                size: 10,
                open_size: 20,
            }]
        );
    }

    #[test]
    fn reads_packages_of_primary_one_by_one() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm"><name>a</name><checksum type="sha256" pkgid="YES">aa11</checksum>
<size package="123" installed="5" archive="6"/><location href="../../../api/v2/files/sys-package/a%2B1.rpm"/>
<format><rpm:provides><rpm:entry name="a"/></rpm:provides><file>/usr/bin/a</file></format></package>
<package type="rpm"><name>b&amp;c</name><checksum type="sha256" pkgid="YES">bb22</checksum>
<size package="7"/><location href="Packages/b.rpm"/></package>
</metadata>"#;
        let mut seen = Vec::new();
        let declared = read_primary(xml.as_bytes(), |p| {
            seen.push(p);
            Ok(())
        })
        .unwrap();
        assert_eq!(declared, Some(2));
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].pkgid, "aa11");
        assert_eq!(seen[0].size, 123);
        assert_eq!(file_name_of(&seen[0].href).as_deref(), Some("a+1.rpm"));
        assert_eq!(file_name_of(&seen[1].href).as_deref(), Some("b.rpm"));
        assert!(read_primary(&b"<metadata packages=\"x\">"[..], |_| Ok(())).is_err());
    }
}
