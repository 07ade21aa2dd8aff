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
