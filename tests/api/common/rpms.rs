//! Test packages, built by the `rpm` crate.

use rpm::{BuildConfig, CompressionType, FileOptions, PackageBuilder};

pub struct RpmSpec<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub release: &'a str,
    pub arch: &'a str,
    pub files: Vec<(&'a str, Vec<u8>)>,
    pub compression: CompressionType,
}

impl<'a> RpmSpec<'a> {
    pub fn new(name: &'a str, version: &'a str, release: &'a str, arch: &'a str) -> Self {
        Self {
            name,
            version,
            release,
            arch,
            files: vec![(
                "/usr/share/doc/readme",
                format!("{name} {version}").into_bytes(),
            )],
            compression: CompressionType::Gzip,
        }
    }

    pub fn file(mut self, path: &'a str, content: impl Into<Vec<u8>>) -> Self {
        self.files.push((path, content.into()));
        self
    }

    pub fn compression(mut self, c: CompressionType) -> Self {
        self.compression = c;
        self
    }

    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name, self.version, self.release, self.arch
        )
    }

    pub fn build(&self) -> Vec<u8> {
        let mut b = PackageBuilder::new(
            self.name,
            self.version,
            "Apache-2.0",
            self.arch,
            "depot test package",
        );
        b.release(self.release)
            .using_config(BuildConfig::default().compression(self.compression));
        for (path, content) in &self.files {
            b.with_file_contents(content.clone(), FileOptions::new(*path))
                .unwrap();
        }
        let mut out = Vec::new();
        b.build().unwrap().write(&mut out).unwrap();
        out
    }
}

/// The seed's example package.
pub fn ocp_agent() -> RpmSpec<'static> {
    RpmSpec::new(
        "t-oceanbase-ocp-agent",
        "3.1.2",
        "20210812221645.alios7",
        "x86_64",
    )
}

/// Where the signature header ends (lead, intro, entries, data, padding to 8).
pub fn signature_end(rpm: &[u8]) -> usize {
    let entries = u32::from_be_bytes(rpm[104..108].try_into().unwrap()) as usize;
    let data = u32::from_be_bytes(rpm[108..112].try_into().unwrap()) as usize;
    112 + entries * 16 + data + (8 - data % 8) % 8
}

/// MD5 of what an RPM signature covers: the main header and the payload.
pub fn signed_md5(rpm: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(&rpm[signature_end(rpm)..]))
}

/// Replaces the signature header with one holding SIZE and MD5, as rpmbuild
/// writes them (the rpm crate signs without MD5). `md5` overrides the right
/// digest, to make a corrupt package.
pub fn with_md5_signature(rpm: &[u8], md5: Option<[u8; 16]>) -> Vec<u8> {
    use md5::{Digest, Md5};
    let signed = &rpm[signature_end(rpm)..];
    let digest: [u8; 16] = md5.unwrap_or_else(|| Md5::digest(signed).into());
    let mut out = rpm[..96].to_vec();
    out.extend([0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0]);
    out.extend(2u32.to_be_bytes()); // entries
    out.extend(20u32.to_be_bytes()); // data bytes
    // tag, type, offset, count: SIZE (INT32) at 0, MD5 (BIN) at 4.
    for word in [1000u32, 4, 0, 1, 1004, 7, 4, 16] {
        out.extend(word.to_be_bytes());
    }
    out.extend((signed.len() as u32).to_be_bytes());
    out.extend(digest);
    out.extend([0u8; 4]); // padding to a multiple of 8
    out.extend(signed);
    out
}
