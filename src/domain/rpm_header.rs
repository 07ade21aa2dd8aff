//! What depot needs from an RPM, read from its header alone (lead, signature
//! and main header; the payload is never read).

use std::io::{self, BufRead, Read};

use rpm::{IndexSignatureTag, PackageMetadata};

use super::classify::{PackageType, infer_rpm_type};

pub const RPM_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];

/// Headers beyond this are refused rather than read (real ones are a few MiB).
const MAX_HEADER_BYTES: u64 = 256 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpmInfo {
    pub name: String,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub package_type: PackageType,
    /// The file size the signature header announces, when it does.
    pub expected_size: Option<u64>,
}

impl RpmInfo {
    /// `name-version-release.arch.rpm`, whatever the uploaded file was called.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name, self.version, self.release, self.arch
        )
    }

    /// The release before its first dot: `20210812221645` of `20210812221645.alios7`.
    pub fn build_number(&self) -> &str {
        self.release.split('.').next().unwrap_or_default()
    }

    /// The release after its last dot (`alios7`, `el7`), empty without a dot.
    pub fn operating_system(&self) -> &str {
        self.release
            .rsplit_once('.')
            .map(|(_, os)| os)
            .unwrap_or_default()
    }
}

pub fn is_rpm(magic: &[u8]) -> bool {
    magic.starts_with(&RPM_MAGIC)
}

/// Reads the headers of the RPM at the start of `input`.
pub fn read_rpm_header(input: impl Read) -> Result<RpmInfo, String> {
    let mut reader = Counting::new(io::BufReader::new(input.take(MAX_HEADER_BYTES)));
    let meta =
        PackageMetadata::parse(&mut reader).map_err(|e| format!("not a valid RPM package: {e}"))?;
    let header_len = meta
        .header_bytes()
        .map_err(|e| format!("not a valid RPM package: {e}"))?
        .len() as u64;
    // The signature's SIZE is header + payload; what precedes the header is what we consumed minus it.
    let expected_size = signature_size(&meta).map(|size| reader.consumed - header_len + size);

    let field = |r: Result<&str, rpm::Error>, what: &str| {
        r.map(str::to_string)
            .map_err(|e| format!("the RPM header has no {what}: {e}"))
    };
    let name = field(meta.get_name(), "name")?;
    let version = field(meta.get_version(), "version")?;
    let release = field(meta.get_release(), "release")?;
    let arch = if meta.is_source_package() {
        "src".to_string()
    } else {
        field(meta.get_arch(), "architecture")?
    };
    let package_type = {
        let paths = meta.get_file_paths().unwrap_or_default();
        let paths: Vec<String> = paths
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        infer_rpm_type(&name, || paths.iter().map(String::as_str).collect())
    };
    Ok(RpmInfo {
        name,
        version,
        release,
        arch,
        package_type,
        expected_size,
    })
}

fn signature_size(meta: &PackageMetadata) -> Option<u64> {
    let sig = &meta.signature;
    sig.get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGSIZE)
        .ok()
        .or_else(|| {
            sig.get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_SIZE)
                .ok()
                .map(u64::from)
        })
}

/// Counts the bytes the parser actually consumed (not what buffering read ahead).
struct Counting<R> {
    inner: R,
    consumed: u64,
}

impl<R> Counting<R> {
    fn new(inner: R) -> Self {
        Self { inner, consumed: 0 }
    }
}

impl<R: BufRead> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.consumed += amt as u64;
        self.inner.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(release: &str) -> RpmInfo {
        RpmInfo {
            name: "t-oceanbase-ocp-agent".into(),
            version: "3.1.2".into(),
            release: release.into(),
            arch: "x86_64".into(),
            package_type: PackageType::OcpAgent,
            expected_size: None,
        }
    }

    #[test]
    fn derived_fields() {
        let i = info("20210812221645.alios7");
        assert_eq!(
            i.file_name(),
            "t-oceanbase-ocp-agent-3.1.2-20210812221645.alios7.x86_64.rpm"
        );
        assert_eq!(i.build_number(), "20210812221645");
        assert_eq!(i.operating_system(), "alios7");

        let i = info("1.2.el8");
        assert_eq!(i.build_number(), "1");
        assert_eq!(i.operating_system(), "el8");

        let i = info("7");
        assert_eq!(i.build_number(), "7");
        assert_eq!(i.operating_system(), "");
    }

    fn build(name: &str, release: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = rpm::PackageBuilder::new(name, "1.0.0", "MIT", "aarch64", "test");
        b.release(release);
        for (path, data) in files {
            b.with_file_contents(data.to_vec(), rpm::FileOptions::new(*path))
                .unwrap();
        }
        let mut out = Vec::new();
        b.build().unwrap().write(&mut out).unwrap();
        out
    }

    #[test]
    fn reads_a_built_package() {
        let bytes = build("my-db", "3.el7", &[("/opt/db/bin/observer", b"\x7fELF")]);
        assert!(is_rpm(&bytes));
        let i = read_rpm_header(&bytes[..]).unwrap();
        assert_eq!(
            (i.name.as_str(), i.version.as_str(), i.release.as_str()),
            ("my-db", "1.0.0", "3.el7")
        );
        assert_eq!(i.arch, "aarch64");
        assert_eq!(i.package_type, PackageType::ObServer);
        assert_eq!(i.expected_size, Some(bytes.len() as u64));
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let err = read_rpm_header(&b"hello world, not an rpm"[..]).unwrap_err();
        assert!(err.contains("not a valid RPM"), "{err}");
        let bytes = build("x", "1", &[]);
        assert!(read_rpm_header(&bytes[..200]).is_err());
    }
}
