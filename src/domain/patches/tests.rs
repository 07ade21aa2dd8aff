//! Patch files built here, as StarlingX's tools build them, read back and
//! verified: good ones, tampered, unsigned, wrongly signed, malformed.

use std::io::{Read, Write};
use std::process::Command;

use md5::{Digest, Md5};
use rsa::pkcs8::DecodePrivateKey;
use rsa::{Pkcs1v15Sign, RsaPrivateKey, pss::Pss};
use sha2::Sha256;

use super::archive::{Limits, ReadError, read_patch};
use super::metadata::{Nevra, compare_evr, parse};
use super::signature::{
    FAILED_VERIFICATION, NOT_SIGNED, SIGNATURE_CHECK_FAILED, TrustedKeys, Unsigned,
    md5_xor_signature, verify,
};

/// A key and its self-signed certificate, made by openssl for the test.
struct Signer {
    key: RsaPrivateKey,
    cert_pem: Vec<u8>,
}

fn signer() -> Signer {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=depot patch test", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(status.status.success(), "{status:?}");
    let key_pem = std::fs::read_to_string(&key).unwrap();
    Signer {
        key: RsaPrivateKey::from_pkcs8_pem(&key_pem).unwrap(),
        cert_pem: std::fs::read(&cert).unwrap(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Sign {
    Pss,
    Pkcs1,
    None,
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

const XML: &str = r#"<patch><id>TC_19.12_PATCH_0003</id><sw_version>19.12</sw_version>
<summary>fix &amp; more</summary><description/><install_instructions></install_instructions>
<warnings/><status>REL</status><unremovable>N</unremovable><reboot_required>N</reboot_required>
<apply_active_release_only/>
<personality type="controller"><package>foo</package></personality>
<personality type="worker"><package>foo</package><package>bar</package></personality>
<contents><rpm>foo-1.1-1.el7.x86_64.rpm</rpm><rpm>bar-2-1.el7.noarch.rpm</rpm></contents>
<requires><req_patch_id>TC_19.12_PATCH_0001</req_patch_id></requires>
<semantics/></patch>"#;

fn rpms() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("foo-1.1-1.el7.x86_64.rpm", vec![7u8; 70_000]),
        ("bar-2-1.el7.noarch.rpm", b"bar bytes".to_vec()),
    ]
}

/// A patch file: inner tars, both signatures (`signature.v2` as asked).
fn patch(signer: &Signer, sign: Sign, tamper: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
    let metadata = tar_of(&[("metadata.xml", XML.as_bytes())]);
    let files = rpms();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, d.as_slice())).collect();
    let mut software = tar_of(&refs);
    let md5s: Vec<[u8; 16]> = [&metadata, &software]
        .iter()
        .map(|t| Md5::digest(t).into())
        .collect();
    let sha: [u8; 32] = Sha256::new()
        .chain_update(&metadata)
        .chain_update(&software)
        .finalize()
        .into();
    let mut rng = rand08::thread_rng();
    let v2 = match sign {
        Sign::Pss => Some(
            signer
                .key
                .sign_with_rng(&mut rng, Pss::new::<Sha256>(), &sha)
                .unwrap(),
        ),
        Sign::Pkcs1 => Some(
            signer
                .key
                .sign(Pkcs1v15Sign::new::<Sha256>(), &sha)
                .unwrap(),
        ),
        Sign::None => None,
    };
    // Tampering happens after signing, as an attacker's would.
    tamper(&mut software);
    let sig = md5_xor_signature(&md5s);
    let mut outer: Vec<(&str, &[u8])> = vec![
        ("metadata.tar", &metadata),
        ("software.tar", &software),
        ("signature", sig.as_bytes()),
    ];
    if let Some(v2) = &v2 {
        outer.push(("signature.v2", v2));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar_of(&outer)).unwrap();
    gz.finish().unwrap()
}

fn read(bytes: &[u8]) -> Result<(super::archive::PatchArchive, Vec<(String, usize)>), String> {
    let mut seen = Vec::new();
    let archive = read_patch(bytes, Limits::default(), |name, r: &mut dyn Read| {
        let mut n = 0;
        let mut buf = [0u8; 1000];
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) => return Err(e.to_string()),
            }
        }
        seen.push((name.to_owned(), n));
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    Ok((archive, seen))
}

fn check(bytes: &[u8], trusted: &TrustedKeys, unsigned: Unsigned) -> Result<(), &'static str> {
    let (a, _) = read(bytes).unwrap();
    verify(
        a.signature.as_deref(),
        a.signature_v2.as_deref(),
        &a.md5s,
        &a.sha256,
        trusted,
        unsigned,
    )
}

#[test]
fn a_signed_patch_is_read_streamed_and_verified_with_pss_and_pkcs1() {
    let s = signer();
    let mut trusted = TrustedKeys::default();
    assert_eq!(trusted.add_pem(&s.cert_pem), Ok(1));
    for sign in [Sign::Pss, Sign::Pkcs1] {
        let bytes = patch(&s, sign, |_| {});
        let (archive, seen) = read(&bytes).unwrap();
        assert_eq!(
            seen,
            vec![
                ("foo-1.1-1.el7.x86_64.rpm".to_owned(), 70_000),
                ("bar-2-1.el7.noarch.rpm".to_owned(), 9)
            ]
        );
        assert_eq!(archive.rpms.len(), 2);
        assert_eq!(archive.md5s.len(), 2);
        assert_eq!(check(&bytes, &trusted, Unsigned::Refuse), Ok(()));
        let meta = parse(&archive.metadata_xml).unwrap();
        assert_eq!(meta.id, "TC_19.12_PATCH_0003");
        assert_eq!(meta.summary, "fix & more");
        assert_eq!(meta.reboot_required, "N");
        assert_eq!(meta.requires, vec!["TC_19.12_PATCH_0001"]);
        assert_eq!(meta.personalities["worker"], vec!["foo", "bar"]);
        assert_eq!(meta.contents, archive.rpms);
    }
}

#[test]
fn tampered_unsigned_and_wrongly_signed_patches_are_refused_with_starlingx_messages() {
    let (s, other) = (signer(), signer());
    let mut trusted = TrustedKeys::default();
    trusted.add_pem(&s.cert_pem).unwrap();
    // One byte of an RPM changed after signing: the MD5-XOR fails first.
    let tampered = patch(&s, Sign::Pss, |sw| sw[600] ^= 1);
    assert_eq!(
        check(&tampered, &trusted, Unsigned::Refuse),
        Err(FAILED_VERIFICATION)
    );
    assert_eq!(
        check(&tampered, &trusted, Unsigned::Allow),
        Err(FAILED_VERIFICATION)
    );
    let unsigned = patch(&s, Sign::None, |_| {});
    assert_eq!(
        check(&unsigned, &trusted, Unsigned::Refuse),
        Err(NOT_SIGNED)
    );
    assert_eq!(check(&unsigned, &trusted, Unsigned::Allow), Ok(()));
    let foreign = patch(&other, Sign::Pss, |_| {});
    assert_eq!(
        check(&foreign, &trusted, Unsigned::Refuse),
        Err(SIGNATURE_CHECK_FAILED)
    );
    // Allowing unsigned patches does not let a wrong signature through.
    assert_eq!(
        check(&foreign, &trusted, Unsigned::Allow),
        Err(SIGNATURE_CHECK_FAILED)
    );
    // With no trusted certificate nothing signed passes.
    let none = TrustedKeys::default();
    assert_eq!(
        check(&patch(&s, Sign::Pss, |_| {}), &none, Unsigned::Refuse),
        Err(SIGNATURE_CHECK_FAILED)
    );
}

#[test]
fn the_md5_xor_is_starlingx_hex() {
    let md5s = [[0u8; 16], [0xff; 16]];
    // all ones ^ 0 ^ all ones = 0, printed "%x" without leading zeros.
    assert_eq!(md5_xor_signature(&md5s), "0");
    assert!(super::signature::md5_xor_matches("0\n", &md5s));
    assert!(!super::signature::md5_xor_matches("1", &md5s));
    assert!(!super::signature::md5_xor_matches("zz", &md5s));
}

#[test]
fn malformed_patches_are_refused_by_name() {
    let gz = |files: &[(&str, &[u8])]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar_of(files)).unwrap();
        gz.finish().unwrap()
    };
    let meta = tar_of(&[("metadata.xml", XML.as_bytes())]);
    let sw = tar_of(&[("notes.txt", b"x")]);
    let err = |bytes: &[u8]| read(bytes).unwrap_err();
    assert!(err(b"not gzip at all").contains("not a valid patch file"));
    assert!(err(&gz(&[("software.tar", &meta)])).contains("out of place"));
    assert!(err(&gz(&[("metadata.tar", &meta)])).contains("must hold"));
    assert!(err(&gz(&[("metadata.tar", &meta), ("software.tar", &sw)])).contains("only hold RPMs"));
    assert!(err(&gz(&[("metadata.tar", &meta), ("evil", b"x")])).contains("unexpected entry"));
    let big = vec![b'f'; 5000];
    let long_sig = gz(&[
        ("metadata.tar", &meta),
        ("software.tar", &tar_of(&[])),
        ("signature", &big),
    ]);
    assert!(err(&long_sig).contains("larger than"));
}

#[test]
fn the_rpm_count_and_the_metadata_size_are_bounded() {
    let files: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| (format!("p{i}-1-1.x.rpm"), vec![1]))
        .collect();
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let meta = tar_of(&[("metadata.xml", XML.as_bytes())]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar_of(&[
        ("metadata.tar", &meta),
        ("software.tar", &tar_of(&refs)),
    ]))
    .unwrap();
    let bytes = gz.finish().unwrap();
    let limits = Limits {
        max_metadata: 1 << 20,
        max_rpms: 4,
    };
    let e = read_patch(bytes.as_slice(), limits, |_, _| Ok::<_, String>(())).unwrap_err();
    assert!(e.to_string().contains("more than 4 RPMs"), "{e}");
    let limits = Limits {
        max_metadata: 100,
        max_rpms: 10,
    };
    let e = read_patch(bytes.as_slice(), limits, |_, _| Ok::<_, String>(())).unwrap_err();
    assert!(
        matches!(e, ReadError::Malformed(ref m) if m.contains("metadata.xml is larger")),
        "{e}"
    );
}

#[test]
fn metadata_is_refused_without_id_or_release_and_ids_are_checked() {
    assert!(parse(b"<patch><sw_version>1</sw_version></patch>").is_err());
    assert!(parse(b"<patch><id>A</id></patch>").is_err());
    assert!(parse(b"<patch><id>../x</id><sw_version>1</sw_version></patch>").is_err());
    let m = parse(
        b"<patch><id>A</id><sw_version>1</sw_version><reboot_required>n</reboot_required></patch>",
    )
    .unwrap();
    assert_eq!(m.reboot_required, "Y");
    assert!(m.contents.is_empty() && m.personalities.is_empty());
}

#[test]
fn rpm_versions_compare_with_epochs() {
    let n = |e: &str, v: &str, r: &str| Nevra {
        name: "foo".into(),
        epoch: e.into(),
        version: v.into(),
        release: r.into(),
        arch: "x86_64".into(),
    };
    use std::cmp::Ordering::*;
    assert_eq!(
        compare_evr(&n("", "1.10", "1"), &n("0", "1.9", "1")),
        Greater
    );
    assert_eq!(
        compare_evr(&n("1", "1.0", "1"), &n("", "9.9", "9")),
        Greater
    );
    assert_eq!(
        compare_evr(&n("", "1.0", "1.el7"), &n("0", "1.0", "1.el7")),
        Equal
    );
    assert_eq!(
        compare_evr(&n("", "1.0~rc1", "1"), &n("", "1.0", "1")),
        Less
    );
    assert_eq!(n("2", "1", "1").evr(), "2:1-1");
}
