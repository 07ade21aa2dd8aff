//! One RPM's rpm-md fragments, as createrepo_c writes them: its `<package>`
//! element of primary.xml, filelists.xml and other.xml. Computed once, from
//! the header alone, when the package is stored; a publication only
//! concatenates them. Pure: header in, strings out.

use std::collections::HashSet;
use std::fmt::Write;

use rpm::PackageMetadata;
use rpm::{Dependency, DependencyFlags, FileFlags, FileType, IndexSignatureTag, IndexTag};

use super::xml::{element, escape};

/// createrepo_c's default `--changelog-limit`: other.xml stays bounded.
pub const CHANGELOG_LIMIT: usize = 10;

/// What the header does not say about a package file.
#[derive(Clone, Debug)]
pub struct FileFacts {
    /// SHA-256 of the whole file, lowercase hex: the pkgid.
    pub sha256: String,
    pub size: u64,
    /// Seconds since the epoch (createrepo_c: the file's mtime; depot: when it was stored).
    pub time: i64,
}

/// The `<location/>` a stored primary fragment carries: the href is filled
/// in by each publication (`with_location`), so that where packages are
/// downloaded from is decided in one place, at publication, and can change
/// (`--repos-public`, a download route's options) without recomputing fragments.
pub const LOCATION_SLOT: &str = "<location href=\"\"/>";

/// `primary` with its location slot filled with `href`.
pub fn with_location(primary: &str, href: &str) -> String {
    primary.replacen(
        LOCATION_SLOT,
        &format!("<location href=\"{}\"/>", escape(href)),
        1,
    )
}

/// The three `<package>` elements, each ending with a newline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fragments {
    pub primary: String,
    pub filelists: String,
    pub other: String,
}

struct Evr {
    epoch: String,
    version: String,
    release: String,
}

impl Evr {
    fn attributes(&self) -> String {
        format!(
            r#"epoch="{}" ver="{}" rel="{}""#,
            escape(&self.epoch),
            escape(&self.version),
            escape(&self.release)
        )
    }
}

/// The fragments of the package whose header is `meta`.
pub fn fragments(meta: &PackageMetadata, file: &FileFacts) -> Result<Fragments, String> {
    let text = |r: Result<&str, rpm::Error>| r.unwrap_or_default().to_string();
    let name = meta.get_name().map_err(|e| format!("no name: {e}"))?;
    let arch = if meta.is_source_package() {
        "src"
    } else {
        meta.get_arch().map_err(|e| format!("no arch: {e}"))?
    };
    let evr = Evr {
        epoch: meta.get_epoch().unwrap_or(0).to_string(),
        version: text(meta.get_version()),
        release: text(meta.get_release()),
    };
    let files = files(meta);
    let primary = primary(meta, name, arch, &evr, file, &files);

    let mut filelists = format!(
        "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">\n  <version {}/>\n",
        escape(&file.sha256),
        escape(name),
        escape(arch),
        evr.attributes()
    );
    for f in &files {
        let _ = writeln!(filelists, "  {}", f.element());
    }
    filelists.push_str("</package>\n");

    let mut other = format!(
        "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">\n  <version {}/>\n",
        escape(&file.sha256),
        escape(name),
        escape(arch),
        evr.attributes()
    );
    let mut changelogs = meta.get_changelog_entries().unwrap_or_default();
    // The header lists the newest first; createrepo_c keeps the newest and writes them oldest first.
    changelogs.truncate(CHANGELOG_LIMIT);
    for entry in changelogs.iter().rev() {
        let _ = writeln!(
            other,
            "  <changelog author=\"{}\" date=\"{}\">{}</changelog>",
            escape(&entry.name),
            entry.timestamp,
            escape(&entry.description)
        );
    }
    other.push_str("</package>\n");
    Ok(Fragments {
        primary,
        filelists,
        other,
    })
}

fn primary(
    meta: &PackageMetadata,
    name: &str,
    arch: &str,
    evr: &Evr,
    file: &FileFacts,
    files: &[File],
) -> String {
    let text = |r: Result<&str, rpm::Error>| r.unwrap_or_default().to_string();
    let mut out = String::from("<package type=\"rpm\">\n");
    element(&mut out, "  ", "name", name);
    element(&mut out, "  ", "arch", arch);
    let _ = writeln!(out, "  <version {}/>", evr.attributes());
    let _ = writeln!(
        out,
        "  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>",
        escape(&file.sha256)
    );
    element(&mut out, "  ", "summary", &text(meta.get_summary()));
    element(&mut out, "  ", "description", &text(meta.get_description()));
    element(&mut out, "  ", "packager", &text(meta.get_packager()));
    element(&mut out, "  ", "url", &text(meta.get_url()));
    let _ = writeln!(
        out,
        "  <time file=\"{}\" build=\"{}\"/>",
        file.time,
        meta.get_build_time().unwrap_or(0)
    );
    let _ = writeln!(
        out,
        "  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>",
        file.size,
        meta.get_installed_size().unwrap_or(0),
        archive_size(meta)
    );
    let _ = writeln!(out, "  {LOCATION_SLOT}");
    out.push_str("  <format>\n");
    element(&mut out, "    ", "rpm:license", &text(meta.get_license()));
    element(&mut out, "    ", "rpm:vendor", &text(meta.get_vendor()));
    element(&mut out, "    ", "rpm:group", &text(meta.get_group()));
    element(
        &mut out,
        "    ",
        "rpm:buildhost",
        &text(meta.get_build_host()),
    );
    element(
        &mut out,
        "    ",
        "rpm:sourcerpm",
        &text(meta.get_source_rpm()),
    );
    let offsets = meta.get_package_segment_offsets();
    let _ = writeln!(
        out,
        "    <rpm:header-range start=\"{}\" end=\"{}\"/>",
        offsets.header, offsets.payload
    );
    let provides = meta.get_provides().unwrap_or_default();
    let primary_files: HashSet<&str> = files
        .iter()
        .filter(|f| f.primary)
        .map(|f| f.path.as_str())
        .collect();
    let requires: Vec<Dependency> = keep_requires(
        meta.get_requires().unwrap_or_default(),
        &provides,
        &primary_files,
    );
    let lists: [(&str, Vec<Dependency>, bool); 8] = [
        ("provides", provides.clone(), false),
        ("requires", requires, true),
        ("conflicts", meta.get_conflicts().unwrap_or_default(), false),
        ("obsoletes", meta.get_obsoletes().unwrap_or_default(), false),
        ("suggests", meta.get_suggests().unwrap_or_default(), false),
        ("enhances", meta.get_enhances().unwrap_or_default(), false),
        (
            "recommends",
            meta.get_recommends().unwrap_or_default(),
            false,
        ),
        (
            "supplements",
            meta.get_supplements().unwrap_or_default(),
            false,
        ),
    ];
    for (list, deps, with_pre) in lists {
        let deps = dedup(deps);
        if deps.is_empty() {
            continue;
        }
        let _ = writeln!(out, "    <rpm:{list}>");
        for dep in &deps {
            let _ = writeln!(out, "      {}", entry(dep, with_pre));
        }
        let _ = writeln!(out, "    </rpm:{list}>");
    }
    for f in files.iter().filter(|f| f.primary) {
        let _ = writeln!(out, "    {}", f.element());
    }
    out.push_str("  </format>\n</package>\n");
    out
}

/// The payload's uncompressed size: the signature's, else the header's.
fn archive_size(meta: &PackageMetadata) -> u64 {
    let sig = &meta.signature;
    sig.get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE)
        .ok()
        .or_else(|| {
            sig.get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE)
                .ok()
                .map(u64::from)
        })
        .or_else(|| {
            meta.header
                .get_entry_data_as_u64(IndexTag::RPMTAG_LONGARCHIVESIZE)
                .ok()
        })
        .or_else(|| {
            meta.header
                .get_entry_data_as_u32(IndexTag::RPMTAG_ARCHIVESIZE)
                .ok()
                .map(u64::from)
        })
        .unwrap_or(0)
}

/// createrepo_c's rules: no `rpmlib(…)`, nothing the package's own primary
/// files or provides satisfy, and of `libc.so.6(GLIBC_x)` only the highest.
fn keep_requires(
    requires: Vec<Dependency>,
    provides: &[Dependency],
    primary_files: &HashSet<&str>,
) -> Vec<Dependency> {
    let provided = |r: &Dependency| {
        provides
            .iter()
            .any(|p| p.name == r.name && sense(p.flags) == sense(r.flags) && p.version == r.version)
    };
    let glibc = |r: &Dependency| {
        r.name
            .strip_prefix("libc.so.6(GLIBC_")
            .and_then(|rest| rest.split_once(')'))
            .map(|(version, suffix)| (version.to_string(), suffix.to_string()))
    };
    let highest_glibc = requires
        .iter()
        .filter_map(|r| glibc(r).map(|(v, suffix)| (version_key(&v), suffix, r.name.clone())))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, _, name)| name);
    requires
        .into_iter()
        .filter(|r| !r.name.starts_with("rpmlib("))
        .filter(|r| !primary_files.contains(r.name.as_str()))
        .filter(|r| !provided(r))
        .filter(|r| glibc(r).is_none() || highest_glibc.as_deref() == Some(r.name.as_str()))
        .collect()
}

fn version_key(version: &str) -> Vec<u64> {
    version.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// Exact duplicates go, the first kept (createrepo_c does the same).
fn dedup(deps: Vec<Dependency>) -> Vec<Dependency> {
    let mut seen = HashSet::new();
    deps.into_iter()
        .filter(|d| {
            seen.insert((
                d.name.clone(),
                d.flags.bits() & 0xf,
                d.version.clone(),
                pre(d.flags),
            ))
        })
        .collect()
}

fn sense(flags: DependencyFlags) -> u32 {
    flags.bits() & 0xf
}

fn pre(flags: DependencyFlags) -> bool {
    flags.intersects(
        DependencyFlags::PREREQ
            | DependencyFlags::SCRIPT_PRE
            | DependencyFlags::SCRIPT_POST
            | DependencyFlags::PRETRANS
            | DependencyFlags::POSTTRANS,
    )
}

/// `<rpm:entry name [flags epoch ver [rel]] [pre="1"]/>`.
fn entry(dep: &Dependency, with_pre: bool) -> String {
    let mut out = format!("<rpm:entry name=\"{}\"", escape(&dep.name));
    let flags = match sense(dep.flags) {
        2 => Some("LT"),
        4 => Some("GT"),
        8 => Some("EQ"),
        10 => Some("LE"),
        12 => Some("GE"),
        _ => None,
    };
    if let Some(flags) = flags.filter(|_| !dep.version.is_empty()) {
        let (epoch, rest) = match dep.version.split_once(':') {
            Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => (e, rest),
            _ => ("0", dep.version.as_str()),
        };
        let (version, release) = match rest.rsplit_once('-') {
            Some((v, r)) => (v, Some(r)),
            None => (rest, None),
        };
        let _ = write!(
            out,
            " flags=\"{flags}\" epoch=\"{}\" ver=\"{}\"",
            escape(epoch),
            escape(version)
        );
        if let Some(release) = release {
            let _ = write!(out, " rel=\"{}\"", escape(release));
        }
    }
    if with_pre && pre(dep.flags) {
        out.push_str(" pre=\"1\"");
    }
    out.push_str("/>");
    out
}

struct File {
    path: String,
    kind: Option<&'static str>,
    primary: bool,
}

impl File {
    fn element(&self) -> String {
        match self.kind {
            Some(kind) => format!("<file type=\"{kind}\">{}</file>", escape(&self.path)),
            None => format!("<file>{}</file>", escape(&self.path)),
        }
    }
}

fn files(meta: &PackageMetadata) -> Vec<File> {
    meta.get_file_entries()
        .unwrap_or_default()
        .iter()
        .map(|f| {
            let path = f.path().to_string_lossy().into_owned();
            let kind = if f.flags().contains(FileFlags::GHOST) {
                Some("ghost")
            } else if matches!(f.mode().file_type(), FileType::Dir) {
                Some("dir")
            } else {
                None
            };
            let primary =
                path.starts_with("/etc/") || path.contains("bin/") || path == "/usr/lib/sendmail";
            File {
                path,
                kind,
                primary,
            }
        })
        .collect()
}
