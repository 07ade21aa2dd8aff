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

/// Where the payload starts: after the signature and the main header.
pub fn payload_offset(rpm: &[u8]) -> usize {
    let header = signature_end(rpm);
    let entries = u32::from_be_bytes(rpm[header + 8..header + 12].try_into().unwrap()) as usize;
    let data = u32::from_be_bytes(rpm[header + 12..header + 16].try_into().unwrap()) as usize;
    header + 16 + entries * 16 + data
}

/// `rpm` with its payload replaced by `payload` (compressed as the header
/// says), the header's payload digest and a signature (SIZE and MD5) that
/// match: a package rpmbuild could have made, whatever its payload holds.
pub fn with_payload(rpm: &[u8], payload: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let offset = payload_offset(rpm);
    let mut out = rpm[..offset].to_vec();
    let old = hex::encode(Sha256::digest(&rpm[offset..]));
    let at = out
        .windows(old.len())
        .position(|w| w == old.as_bytes())
        .expect("the header carries the payload's SHA-256");
    out[at..at + old.len()].copy_from_slice(hex::encode(Sha256::digest(payload)).as_bytes());
    out.extend_from_slice(payload);
    with_md5_signature(&out, None)
}

/// A cpio "newc" entry header and name, padded to 4 bytes (its data follows).
pub fn newc_header(name: &str, mode: u32, size: u32) -> Vec<u8> {
    let fields = [
        0,
        mode,
        0,
        0,
        1,
        0,
        size,
        0,
        0,
        0,
        0,
        name.len() as u32 + 1,
        0,
    ];
    let mut out = b"070701".to_vec();
    for field in fields {
        out.extend(format!("{field:08x}").bytes());
    }
    out.extend(name.bytes());
    out.push(0);
    out.resize(out.len().next_multiple_of(4), 0);
    out
}

/// A zstd frame written block by block: raw blocks for bytes, RLE blocks
/// for runs of one byte (4 bytes per 128 KiB: how bombs are made).
pub struct ZstdFrame(Vec<u8>);

impl ZstdFrame {
    const BLOCK: u64 = 128 << 10;

    pub fn new() -> Self {
        // Magic; a descriptor without content size or checksum; a 128 KiB window.
        Self(vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3])
    }

    fn block(&mut self, kind: u32, size: u64) {
        let header = (kind << 1) | ((size as u32) << 3);
        self.0.extend_from_slice(&header.to_le_bytes()[..3]);
    }

    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        for chunk in bytes.chunks(Self::BLOCK as usize) {
            self.block(0, chunk.len() as u64);
            self.0.extend_from_slice(chunk);
        }
        self
    }

    pub fn run(&mut self, byte: u8, mut len: u64) -> &mut Self {
        while len > 0 {
            let n = len.min(Self::BLOCK);
            self.block(1, n);
            self.0.push(byte);
            len -= n;
        }
        self
    }

    /// Ends the frame with an empty last block.
    pub fn finish(&mut self) -> Vec<u8> {
        self.0.extend_from_slice(&1u32.to_le_bytes()[..3]);
        std::mem::take(&mut self.0)
    }
}

/// A zstd cpio payload of `files` zero-filled files of `len` bytes each:
/// `files * len` bytes in a few hundred KB.
pub fn zero_bomb(files: u32, len: u32) -> Vec<u8> {
    let mut frame = ZstdFrame::new();
    for i in 0..files {
        let name = format!("./usr/share/zeros/{i}");
        frame.raw(&newc_header(&name, 0o100644, len));
        frame.run(0, u64::from(len));
        frame.run(0, (4 - u64::from(len) % 4) % 4);
    }
    frame.raw(&newc_header("TRAILER!!!", 0, 0));
    frame.finish()
}
