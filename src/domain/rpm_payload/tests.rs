use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{LazyLock, Mutex, PoisonError};

use rpm::{BuildConfig, CompressionType, FileOptions, IndexTag, PackageBuilder, PackageMetadata};

use super::*;

const DEP_YML: &str = "/home/admin/oceanbase/etc/oceanbase_upgrade_dep.yml";
const DEP_TEXT: &str = "# upgrade graph\n- version: 4.2.1.0\n  can_be_upgraded_to:\n    - 4.2.1.1\n- version: 4.2.1.1\n  require_from_binary:\n    value: True\n";
const BIG_LEN: usize = 3 << 20;
const AFTER_LEN: usize = 1 << 20;
const MAX: u64 = 1 << 20;

const ALL: [CompressionType; 5] = [
    CompressionType::None,
    CompressionType::Gzip,
    CompressionType::Zstd,
    CompressionType::Xz,
    CompressionType::Bzip2,
];

/// Incompressible bytes, so the big file really is big in every payload.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An OceanBase-like package: a big binary sorted before the YAML (the
/// builder writes entries in path order), a directory, a symlink and a
/// file after it.
fn build_rpm(compression: CompressionType, dep_yml: Option<&str>) -> Vec<u8> {
    let mut b = PackageBuilder::new("oceanbase-ce", "4.2.1.1", "MIT", "x86_64", "test");
    // A fixed date keeps the payload the same from run to run.
    b.using_config(
        BuildConfig::v4()
            .compression(compression)
            .source_date(1_700_000_000),
    )
    .release("101000012023121819.el7");
    b.with_file_contents(
        noise(BIG_LEN, 0x9e37_79b9_7f4a_7c15),
        FileOptions::new("/home/admin/oceanbase/bin/observer"),
    )
    .unwrap();
    b.with_dir_entry(FileOptions::dir("/home/admin/oceanbase/etc"))
        .unwrap();
    if let Some(text) = dep_yml {
        b.with_file_contents(text, FileOptions::new(DEP_YML))
            .unwrap();
    }
    b.with_symlink(FileOptions::symlink(
        "/home/admin/oceanbase/etc/link.yml",
        "oceanbase_upgrade_dep.yml",
    ))
    .unwrap();
    b.with_file_contents(
        noise(AFTER_LEN, 0x2545_f491_4f6c_dd1d),
        FileOptions::new("/home/admin/oceanbase/lib/libobclient.so"),
    )
    .unwrap();
    let mut out = Vec::new();
    b.build().unwrap().write(&mut out).unwrap();
    out
}

/// The payload bytes and the PAYLOADCOMPRESSOR tag, as depot gets them.
fn split(rpm: &[u8]) -> (Vec<u8>, Option<String>) {
    let mut cursor = Cursor::new(rpm);
    let meta = PackageMetadata::parse(&mut cursor).unwrap();
    let compressor = meta
        .header
        .get_entry_data_as_string(IndexTag::RPMTAG_PAYLOADCOMPRESSOR)
        .ok()
        .map(str::to_owned);
    let offset = usize::try_from(cursor.position()).unwrap();
    assert_eq!(offset, payload_offset(rpm), "payload offset");
    (rpm[offset..].to_vec(), compressor)
}

/// Lead, signature header padded to 8, main header: where the payload starts.
fn payload_offset(rpm: &[u8]) -> usize {
    let header_len = |at: usize| {
        assert_eq!(rpm[at..at + 4], [0x8e, 0xad, 0xe8, 0x01]);
        let be = |i: usize| u32::from_be_bytes(rpm[i..i + 4].try_into().unwrap()) as usize;
        (16 + be(at + 8) * 16 + be(at + 12), be(at + 12))
    };
    let (sig_len, sig_data) = header_len(96);
    let main = 96 + sig_len + (8 - sig_data % 8) % 8;
    main + header_len(main).0
}

/// Built once per kind: the builds, not the searches, take the time.
fn payload(compression: CompressionType, dep_yml: Option<&str>) -> (Vec<u8>, Option<String>) {
    type Built = HashMap<(String, bool), (Vec<u8>, Option<String>)>;
    static BUILT: LazyLock<Mutex<Built>> = LazyLock::new(Mutex::default);
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    built
        .entry((compression.to_string(), dep_yml.is_some()))
        .or_insert_with(|| split(&build_rpm(compression, dep_yml)))
        .clone()
}

#[test]
fn finds_the_file_behind_a_big_one_in_every_compression() {
    for compression in ALL {
        let (bytes, compressor) = payload(compression, Some(DEP_TEXT));
        let expected = match compression {
            CompressionType::None => None,
            other => Some(other.to_string()),
        };
        assert_eq!(compressor, expected);
        assert!(
            bytes.len() > BIG_LEN,
            "{compression}: the big file is in the stream"
        );
        let dotted = format!(".{DEP_YML}");
        for wanted in [dotted.as_str(), DEP_YML, &DEP_YML[1..]] {
            let found = find_in_payload(&bytes[..], compressor.as_deref(), wanted, MAX);
            assert_eq!(
                found.unwrap().as_deref(),
                Some(DEP_TEXT.as_bytes()),
                "{compression} {wanted}"
            );
        }
    }
}

#[test]
fn identity_and_none_both_mean_uncompressed() {
    let (bytes, compressor) = payload(CompressionType::None, Some(DEP_TEXT));
    assert_eq!(compressor, None);
    assert!(bytes.starts_with(b"070701"));
    let found = find_in_payload(&bytes[..], Some("identity"), DEP_YML, MAX).unwrap();
    assert_eq!(found.as_deref(), Some(DEP_TEXT.as_bytes()));
}

#[test]
fn stops_reading_once_found() {
    for compression in ALL {
        let (bytes, compressor) = payload(compression, Some(DEP_TEXT));
        let mut reader = &bytes[..];
        find_in_payload(&mut reader, compressor.as_deref(), DEP_YML, MAX)
            .unwrap()
            .unwrap();
        // Most of the file after it is still unread (buffers read a little ahead).
        assert!(
            reader.len() > AFTER_LEN / 2,
            "{compression}: {} bytes left",
            reader.len()
        );
    }
}

#[test]
fn absent_file_is_none() {
    for compression in ALL {
        let (bytes, compressor) = payload(compression, None);
        let found = find_in_payload(&bytes[..], compressor.as_deref(), DEP_YML, MAX);
        assert_eq!(found.unwrap(), None, "{compression}");
    }
    let (bytes, compressor) = payload(CompressionType::Xz, Some(DEP_TEXT));
    let found = find_in_payload(&bytes[..], compressor.as_deref(), "/etc/none.yml", MAX);
    assert_eq!(found.unwrap(), None);
}

#[test]
fn refuses_a_file_over_the_limit() {
    let (bytes, compressor) = payload(CompressionType::Zstd, Some(DEP_TEXT));
    let limit = DEP_TEXT.len() as u64 - 1;
    let err = find_in_payload(&bytes[..], compressor.as_deref(), DEP_YML, limit).unwrap_err();
    assert!(matches!(err, PayloadError::TooLarge { size, max, .. }
        if size == DEP_TEXT.len() as u64 && max == limit));
    assert!(err.to_string().contains("more than"), "{err}");
    // Exactly at the limit is fine.
    let found = find_in_payload(&bytes[..], compressor.as_deref(), DEP_YML, limit + 1);
    assert_eq!(found.unwrap().as_deref(), Some(DEP_TEXT.as_bytes()));
}

#[test]
fn refuses_an_unknown_compressor() {
    let (bytes, _) = payload(CompressionType::Gzip, Some(DEP_TEXT));
    for name in ["lz4", "", "XZ"] {
        let err = find_in_payload(&bytes[..], Some(name), DEP_YML, MAX).unwrap_err();
        assert!(matches!(err, PayloadError::UnknownCompressor(ref n) if n == name));
        assert!(
            err.to_string()
                .contains("unsupported RPM payload compressor")
        );
    }
}

#[test]
fn truncated_payloads_are_errors() {
    for compression in ALL {
        for dep_yml in [Some(DEP_TEXT), None] {
            let (bytes, compressor) = payload(compression, dep_yml);
            // Right at the start, inside the big file, and just before the end
            // (an absent file cannot be told from a payload cut before its trailer).
            for cut in [3, bytes.len() / 2, bytes.len() - 1] {
                let result = find_in_payload(&bytes[..cut], compressor.as_deref(), DEP_YML, MAX);
                if dep_yml.is_some() && cut == bytes.len() - 1 {
                    continue; // found before the cut: reading stopped there
                }
                assert!(
                    matches!(
                        result,
                        Err(PayloadError::Truncated(_) | PayloadError::Corrupt(_))
                    ),
                    "{compression} {dep_yml:?} cut at {cut}: {result:?}"
                );
            }
        }
    }
}

#[test]
fn corrupt_payloads_are_errors() {
    for compression in ALL {
        for dep_yml in [Some(DEP_TEXT), None] {
            // A damaged start: the stream's magic, or the first cpio header.
            let (mut bytes, compressor) = payload(compression, dep_yml);
            bytes[0] ^= 0x5a;
            let result = find_in_payload(&bytes[..], compressor.as_deref(), DEP_YML, MAX);
            assert!(
                result.is_err(),
                "{compression} {dep_yml:?} start: {result:?}"
            );
        }
        if compression == CompressionType::None {
            continue; // no checksum covers an uncompressed payload
        }
        // A damaged end: caught by the stream's checksum (or its structure)
        // before an absent file is reported as such.
        let (mut bytes, compressor) = payload(compression, None);
        let end = bytes.len();
        for b in &mut bytes[end - 24..end - 8] {
            *b ^= 0x5a;
        }
        let result = find_in_payload(&bytes[..], compressor.as_deref(), DEP_YML, MAX);
        assert!(result.is_err(), "{compression} end: {result:?}");
    }
    // Garbage under every name.
    for name in ["gzip", "bzip2", "zstd", "xz", "lzma", "identity"] {
        let result = find_in_payload(&noise(4096, 7)[..], Some(name), DEP_YML, MAX);
        assert!(result.is_err(), "{name}: {result:?}");
    }
}

#[test]
fn reader_failures_are_reported_as_such() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("connection reset"))
        }
    }
    for name in [None, Some("xz"), Some("gzip")] {
        let err = find_in_payload(Failing, name, DEP_YML, MAX).unwrap_err();
        assert!(matches!(err, PayloadError::Read(_)), "{name:?}: {err:?}");
        assert!(err.to_string().contains("connection reset"), "{err}");
    }
}

#[test]
fn a_symlink_or_directory_at_the_path_is_refused() {
    let (bytes, compressor) = payload(CompressionType::Gzip, Some(DEP_TEXT));
    for path in [
        "/home/admin/oceanbase/etc/link.yml",
        "/home/admin/oceanbase/etc",
    ] {
        let err = find_in_payload(&bytes[..], compressor.as_deref(), path, MAX).unwrap_err();
        assert!(
            matches!(err, PayloadError::NotRegularFile { .. }),
            "{path}: {err:?}"
        );
    }
}

#[test]
fn a_hard_linked_file_gets_its_data_from_the_last_member() {
    let mut b = PackageBuilder::new("oceanbase-ce", "4.2.1.1", "MIT", "x86_64", "test");
    b.using_config(
        BuildConfig::v4()
            .compression(CompressionType::Xz)
            .source_date(1_700_000_000),
    );
    for path in [DEP_YML, "/home/admin/oceanbase/etc/zz_copy.yml"] {
        b.with_file_contents(DEP_TEXT, FileOptions::new(path).hardlink("dep"))
            .unwrap();
    }
    let mut rpm = Vec::new();
    b.build().unwrap().write(&mut rpm).unwrap();
    let (bytes, compressor) = split(&rpm);
    let found = find_in_payload(&bytes[..], compressor.as_deref(), DEP_YML, MAX).unwrap();
    assert_eq!(found.as_deref(), Some(DEP_TEXT.as_bytes()));
}

/// A newc header for hand-made archives.
fn newc(name: &str, mode: u32, size: usize, name_len: usize) -> Vec<u8> {
    let mut h = b"070701".to_vec();
    for value in [
        1,
        mode,
        0,
        0,
        1,
        0,
        size as u32,
        0,
        0,
        0,
        0,
        name_len as u32,
        0,
    ] {
        h.extend(format!("{value:08x}").bytes());
    }
    h.extend(name.bytes());
    h.push(0);
    h.resize(h.len() + pad4(h.len()), 0);
    h
}

#[test]
fn hand_made_archives() {
    let yml = &format!(".{DEP_YML}");
    let mut ok = newc(yml, S_IFREG | 0o644, 2, yml.len() + 1);
    ok.extend(b"a\n\0\0");
    ok.extend(newc("TRAILER!!!", 0, 0, 11));
    let found = find_in_payload(&ok[..], None, DEP_YML, MAX).unwrap();
    assert_eq!(found.as_deref(), Some(&b"a\n"[..]));

    // A name longer than any path is refused before it is read.
    let huge_name = newc("x", S_IFREG, 0, 0xffff_ffff);
    let err = find_in_payload(&huge_name[..], None, DEP_YML, MAX).unwrap_err();
    assert!(matches!(err, PayloadError::Corrupt(_)), "{err:?}");

    // RPM's large-file format is named in the error.
    let mut stripped = ok.clone();
    stripped[5] = b'X';
    let err = find_in_payload(&stripped[..], None, DEP_YML, MAX).unwrap_err();
    assert!(err.to_string().contains("07070X"), "{err}");

    // Non-hex fields and names without their NUL are corrupt.
    let mut bad_hex = ok.clone();
    bad_hex[6] = b'g';
    assert!(matches!(
        find_in_payload(&bad_hex[..], None, DEP_YML, MAX),
        Err(PayloadError::Corrupt(_))
    ));
    let mut no_nul = ok.clone();
    no_nul[NEWC_HEADER_LEN + yml.len()] = b'x';
    assert!(matches!(
        find_in_payload(&no_nul[..], None, DEP_YML, MAX),
        Err(PayloadError::Corrupt(_))
    ));

    // Cut inside the wanted file's data.
    let cut = &ok[..NEWC_HEADER_LEN + yml.len() + 1 + pad4(NEWC_HEADER_LEN + yml.len() + 1) + 1];
    assert!(matches!(
        find_in_payload(cut, None, DEP_YML, MAX),
        Err(PayloadError::Truncated(_))
    ));

    // Clean end of stream without a trailer.
    let no_trailer = newc("./other", S_IFREG | 0o644, 0, 8);
    assert!(matches!(
        find_in_payload(&no_trailer[..], None, DEP_YML, MAX),
        Err(PayloadError::Truncated(_))
    ));
}

#[test]
fn messages_read_well() {
    let err = PayloadError::TooLarge {
        path: DEP_YML.into(),
        size: 2_000_000,
        max: 1_048_576,
    };
    assert_eq!(
        err.to_string(),
        format!(
            "{DEP_YML} in the RPM payload is 2000000 bytes, more than the 1048576 bytes allowed"
        )
    );
    assert_eq!(
        PayloadError::Truncated("a cpio entry header".into()).to_string(),
        "the RPM payload is truncated: it ends inside a cpio entry header"
    );
}
