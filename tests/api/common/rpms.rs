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
    with_signature(rpm, md5, false)
}

/// Replaces the signature header with one holding SIZE, MD5 and the main
/// header's SHA-256, as rpmbuild 4.14 and later sign: with the header's
/// SHA-256 of the payload, two SHA-256 digests cover what the MD5 does.
pub fn with_md5_and_sha256_signature(rpm: &[u8]) -> Vec<u8> {
    with_signature(rpm, None, true)
}

fn with_signature(rpm: &[u8], md5: Option<[u8; 16]>, sha256: bool) -> Vec<u8> {
    use md5::{Digest, Md5};
    let signed = &rpm[signature_end(rpm)..];
    let digest: [u8; 16] = md5.unwrap_or_else(|| Md5::digest(signed).into());
    // tag, type, offset, count: SIZE (INT32) at 0, MD5 (BIN) at 4, and the
    // header's SHA-256 (STRING, NUL-terminated) at 20.
    let mut index = vec![[1000u32, 4, 0, 1], [1004, 7, 4, 16]];
    let mut data = (signed.len() as u32).to_be_bytes().to_vec();
    data.extend(digest);
    if sha256 {
        let header = &signed[..payload_offset(rpm) - signature_end(rpm)];
        index.insert(0, [273, 6, 20, 1]);
        data.extend(hex::encode(sha2::Sha256::digest(header)).as_bytes());
        data.push(0);
    }
    let mut out = rpm[..96].to_vec();
    out.extend([0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0]);
    out.extend((index.len() as u32).to_be_bytes());
    out.extend((data.len() as u32).to_be_bytes());
    out.extend(index.iter().flatten().flat_map(|word| word.to_be_bytes()));
    out.extend(&data);
    out.extend(vec![0u8; (8 - data.len() % 8) % 8]); // padding to a multiple of 8
    out.extend(signed);
    out
}

/// `rpm` with the INT32 value of the main header's tag `tag` set to `value`
/// (the signature, which covers the header, is then stale).
pub fn with_header_u32(rpm: &[u8], tag: u32, value: u32) -> Vec<u8> {
    let start = signature_end(rpm);
    let word = |at: usize| u32::from_be_bytes(rpm[at..at + 4].try_into().unwrap()) as usize;
    let entries = word(start + 8);
    let store = start + 16 + entries * 16;
    let entry = (0..entries)
        .map(|i| start + 16 + i * 16)
        .find(|&e| word(e) == tag as usize)
        .unwrap_or_else(|| panic!("the main header has no tag {tag}"));
    let at = store + word(entry + 8);
    let mut out = rpm.to_vec();
    out[at..at + 4].copy_from_slice(&value.to_be_bytes());
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
