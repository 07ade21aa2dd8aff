//! What depot needs from an RPM, read from its header alone (lead, signature
//! and main header; the payload is never read).

use std::io::{self, Read};

use rpm::{IndexSignatureTag, IndexTag, PackageMetadata};
use sha2::{Digest, Sha256};

use super::classify::{PackageType, infer_rpm_type};
use super::rpm_integrity::RpmDigests;

pub const RPM_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
const LEAD_SIZE: usize = 96;

/// Limits on what a header may declare. Real headers are a few MiB; these
/// stop a forged one from making depot allocate gigabytes.
const MAX_SIGNATURE_BYTES: usize = 16 << 20;
const MAX_HEADER_BYTES: usize = 64 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpmInfo {
    pub name: String,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub package_type: PackageType,
    /// The file size the signature header announces, when it does.
    pub expected_size: Option<u64>,
    /// What the signature says about the signed part (main header + payload).
    pub signed_md5: Option<String>,
    /// Installed size (header SIZE or LONGSIZE), as obshell reports it.
    pub installed_size: Option<u64>,
    /// Where the payload starts, and how it is compressed.
    pub payload_offset: u64,
    pub payload_compressor: Option<String>,
    /// Whether the payload has a `…/bin/observer`.
    pub has_observer: bool,
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
    read_rpm(input).map(|(info, _)| info)
}

/// Reads the headers of the RPM at the start of `input`, and what they say of
/// its bytes: the header's own SHA-256 checked, the payload's to check.
pub fn read_rpm(input: impl Read) -> Result<(RpmInfo, RpmDigests), String> {
    read_rpm_metadata(input).map(|(info, digests, _)| (info, digests))
}

/// `read_rpm`, and the parsed headers themselves, for what needs more of
/// them (the repositories' rpm-md).
pub fn read_rpm_metadata(
    mut input: impl Read,
) -> Result<(RpmInfo, RpmDigests, PackageMetadata), String> {
    let bytes = read_header_region(&mut input)?;
    let meta = PackageMetadata::parse(&mut &bytes.region[..])
        .map_err(|e| format!("not a valid RPM package: {e}"))?;
    // The signature's SIZE counts the main header and the payload.
    let expected_size = signature_size(&meta).map(|size| bytes.before_header as u64 + size);

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
    let paths: Vec<String> = meta
        .get_file_paths()
        .unwrap_or_default()
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let has_observer = paths.iter().any(|p| p.ends_with("/bin/observer"));
    let package_type = infer_rpm_type(&name, || paths.iter().map(String::as_str).collect());
    let signed_md5 = meta
        .signature
        .get_entry_data_as_binary(IndexSignatureTag::RPMSIGTAG_MD5)
        .ok()
        .map(hex::encode);
    let installed_size = meta
        .header
        .get_entry_data_as_u64(IndexTag::RPMTAG_LONGSIZE)
        .ok()
        .or_else(|| {
            meta.header
                .get_entry_data_as_u32(IndexTag::RPMTAG_SIZE)
                .ok()
                .map(u64::from)
        });
    let payload_compressor = meta
        .header
        .get_entry_data_as_string(IndexTag::RPMTAG_PAYLOADCOMPRESSOR)
        .ok()
        .map(str::to_string);
    let digests = RpmDigests {
        header_sha256_matches: meta
            .signature
            .get_entry_data_as_string(IndexSignatureTag::RPMSIGTAG_SHA256)
            .ok()
            .map(|signed| {
                let header = &bytes.region[bytes.before_header..];
                signed.eq_ignore_ascii_case(&hex::encode(Sha256::digest(header)))
            }),
        payload_sha256: payload_sha256(&meta),
    };
    let info = RpmInfo {
        name,
        version,
        release,
        arch,
        package_type,
        expected_size,
        signed_md5,
        installed_size,
        payload_offset: bytes.region.len() as u64,
        payload_compressor,
        has_observer,
    };
    Ok((info, digests, meta))
}

/// The payload's SHA-256 the main header carries (PAYLOADDIGEST, rpm 4.14 and
/// later), unless it names another algorithm.
fn payload_sha256(meta: &PackageMetadata) -> Option<String> {
    const SHA256: u32 = 8;
    let header = &meta.header;
    let algorithm = header.get_entry_data_as_u32(IndexTag::RPMTAG_PAYLOADSHA256ALGO);
    if algorithm.is_ok_and(|a| a != SHA256) {
        return None;
    }
    let digest = header
        .get_entry_data_as_string_array(IndexTag::RPMTAG_PAYLOADSHA256)
        .ok()
        .and_then(|digests| digests.first().map(|d| d.to_string()))
        .or_else(|| {
            header
                .get_entry_data_as_string(IndexTag::RPMTAG_PAYLOADSHA256)
                .ok()
                .map(str::to_string)
        })?;
    Some(digest.to_ascii_lowercase())
}

/// Lead, signature header (with its padding) and main header, as bytes.
struct HeaderRegion {
    region: Vec<u8>,
    /// Length of lead + signature: where the main header starts.
    before_header: usize,
}

/// Reads exactly the header region, checking each header's declared size
/// (from its 16-byte intro: magic, reserved, entry count, data size) before
/// reading it.
fn read_header_region(input: &mut impl Read) -> Result<HeaderRegion, String> {
    let truncated =
        |e: io::Error| format!("not a valid RPM package: the file ends inside its headers ({e})");
    let mut region = vec![0; LEAD_SIZE];
    input.read_exact(&mut region).map_err(truncated)?;
    if !is_rpm(&region) {
        return Err("not a valid RPM package: wrong lead magic".into());
    }
    let mut before_header = 0;
    // The signature header is padded to a multiple of 8 bytes; the main header is not.
    for (what, limit, padded) in [
        ("signature", MAX_SIGNATURE_BYTES, true),
        ("main", MAX_HEADER_BYTES, false),
    ] {
        let start = region.len();
        region.resize(start + 16, 0);
        input.read_exact(&mut region[start..]).map_err(truncated)?;
        let intro = &region[start..];
        if intro[..4] != HEADER_MAGIC {
            return Err(format!("not a valid RPM package: bad {what} header magic"));
        }
        let entries = u32::from_be_bytes(intro[8..12].try_into().expect("4 bytes")) as usize;
        let data = u32::from_be_bytes(intro[12..16].try_into().expect("4 bytes")) as usize;
        let padding = if padded { (8 - data % 8) % 8 } else { 0 };
        let size = entries
            .saturating_mul(16)
            .saturating_add(data)
            .saturating_add(padding);
        if size > limit {
            return Err(format!(
                "the RPM's {what} header declares {size} bytes; more than {limit} is refused"
            ));
        }
        region.resize(start + 16 + size, 0);
        input
            .read_exact(&mut region[start + 16..])
            .map_err(truncated)?;
        if padded {
            before_header = region.len();
        }
    }
    Ok(HeaderRegion {
        region,
        before_header,
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
            signed_md5: None,
            installed_size: None,
            payload_offset: 0,
            payload_compressor: None,
            has_observer: false,
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
        assert_eq!(i.installed_size, Some(4));
        assert_eq!(
            i.payload_compressor.as_deref(),
            Some("zstd"),
            "the builder's default"
        );
        assert!(i.payload_offset > 96 && i.payload_offset < bytes.len() as u64);
        // The rpm crate signs without an MD5 tag (rpmbuild adds one; checked against
        // `rpm -qp --qf %{SIGMD5}` by hand). The signed part starts before the payload.
        assert_eq!(i.signed_md5, None);
        let signed = crate::store::digest_bytes(&bytes).rpm_signed.unwrap();
        assert!(signed.offset < i.payload_offset);
    }

    #[test]
    fn forged_header_sizes_are_refused_before_allocating() {
        let mut bytes = build("x", "1", &[]);
        // The signature header's data size, at lead (96) + magic/reserved (8) + count (4).
        bytes[108..112].copy_from_slice(&u32::MAX.to_be_bytes());
        let err = read_rpm_header(&bytes[..]).unwrap_err();
        assert!(err.contains("declares"), "{err}");
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let err = read_rpm_header(&b"hello world, not an rpm"[..]).unwrap_err();
        assert!(err.contains("not a valid RPM"), "{err}");
        let bytes = build("x", "1", &[]);
        assert!(read_rpm_header(&bytes[..200]).is_err());
    }
}
