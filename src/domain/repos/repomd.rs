//! repomd.xml, and the frame of primary/filelists/other around the stored
//! fragments. Pure.

use std::fmt::Write;

use super::xml::escape;

/// rpm-md's three metadata files, in the order repomd.xml lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Primary,
    Filelists,
    Other,
    /// comps (`group`): uncompressed, only in a release's updates repository.
    Group,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Primary, Kind::Filelists, Kind::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Primary => "primary",
            Kind::Filelists => "filelists",
            Kind::Other => "other",
            Kind::Group => "group",
        }
    }

    /// Everything before the first `<package>`: the count comes first, so it is known up front.
    pub fn head(self, packages: usize) -> String {
        let root = match self {
            Kind::Primary => {
                r#"metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm""#
            }
            Kind::Filelists => r#"filelists xmlns="http://linux.duke.edu/metadata/filelists""#,
            Kind::Other => r#"otherdata xmlns="http://linux.duke.edu/metadata/other""#,
            // comps is written whole, not framed around fragments.
            Kind::Group => return String::new(),
        };
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} packages=\"{packages}\">\n")
    }

    pub fn tail(self) -> &'static str {
        match self {
            Kind::Primary => "</metadata>\n",
            Kind::Filelists => "</filelists>\n",
            Kind::Other => "</otherdata>\n",
            Kind::Group => "",
        }
    }

    /// `<sha256>-primary.xml.gz`: unique per content, so a client holding an
    /// older repomd.xml never gets a newer file under the name it knows.
    pub fn file_name(self, sha256: &str) -> String {
        match self {
            Kind::Group => format!("{sha256}-comps.xml"),
            _ => format!("{sha256}-{}.xml.gz", self.as_str()),
        }
    }
}

/// One written metadata file, as repomd.xml describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFile {
    pub kind: Kind,
    /// SHA-256 of the stored (gzip) bytes, and their length.
    pub sha256: String,
    pub size: u64,
    /// SHA-256 and length of the XML itself.
    pub open_sha256: String,
    pub open_size: u64,
    pub timestamp: i64,
}

impl DataFile {
    pub fn name(&self) -> String {
        self.kind.file_name(&self.sha256)
    }
}

/// repomd.xml for `files`, at `revision`.
pub fn repomd(revision: i64, files: &[DataFile]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n",
    );
    let _ = writeln!(out, "  <revision>{revision}</revision>");
    for f in files {
        let _ = write!(
            out,
            "  <data type=\"{kind}\">\n    <checksum type=\"sha256\">{sha}</checksum>\n    \
             <open-checksum type=\"sha256\">{open}</open-checksum>\n    \
             <location href=\"repodata/{name}\"/>\n    <timestamp>{ts}</timestamp>\n    \
             <size>{size}</size>\n    <open-size>{open_size}</open-size>\n  </data>\n",
            kind = f.kind.as_str(),
            sha = escape(&f.sha256),
            open = escape(&f.open_sha256),
            name = escape(&f.name()),
            ts = f.timestamp,
            size = f.size,
            open_size = f.open_size,
        );
    }
    out.push_str("</repomd>\n");
    out
}

/// Where a package of a repository is downloaded from, relative to the
/// repository's base URL (`/repos/{os}/{arch}/`): depot's own download
/// route, so a package download goes through the same authentication and
/// download rules as any other; with `--repos-public`, the repository's
/// `Packages/`, which serves the same way to anyone. The one place the href
/// is made. It cannot ask for the redirect to the store (`?redirect=1`):
/// dnf takes the query for part of the file's name and fails.
pub fn package_href(file_name: &str, public: bool) -> String {
    let encoded = percent_encoding::utf8_percent_encode(file_name, SEGMENT);
    if public {
        format!("{PACKAGES_DIR}/{encoded}")
    } else {
        format!("../../../api/v2/files/sys-package/{encoded}")
    }
}

/// Where a public repository serves its packages, under its base URL.
pub const PACKAGES_DIR: &str = "Packages";

/// What a path segment cannot carry as is.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'&');

/// Whether `segment` may name a repository's operating system or
/// architecture: what depot stores as one (letters, digits, `._+-`), short.
pub fn valid_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= 64
        && !segment.starts_with('.')
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_lead_from_the_repository_to_the_download_route() {
        assert_eq!(
            package_href("a-1.0-1.el7.x86_64.rpm", false),
            "../../../api/v2/files/sys-package/a-1.0-1.el7.x86_64.rpm"
        );
        assert_eq!(
            package_href("a+b%1.rpm", false),
            "../../../api/v2/files/sys-package/a+b%251.rpm"
        );
        assert_eq!(package_href("a.rpm", true), "Packages/a.rpm");
    }

    #[test]
    fn repomd_names_each_file_by_its_digest() {
        let file = DataFile {
            kind: Kind::Primary,
            sha256: "ab".repeat(32),
            size: 10,
            open_sha256: "cd".repeat(32),
            open_size: 20,
            timestamp: 7,
        };
        let xml = repomd(42, &[file]);
        assert!(xml.contains("<revision>42</revision>"));
        assert!(xml.contains(&format!(
            "href=\"repodata/{}-primary.xml.gz\"",
            "ab".repeat(32)
        )));
        assert!(valid_segment("el7") && valid_segment("x86_64"));
        assert!(!valid_segment("..") && !valid_segment("a/b") && !valid_segment(""));
    }
}
