//! StarlingX patches: patch files built here as StarlingX's tools build them
//! (inner tars, metadata.xml, the MD5-XOR `signature`, `signature.v2` with a
//! key and certificate openssl makes for the test), uploaded, refused for
//! each of StarlingX's reasons, and taken through their lifecycle over the
//! `/v1/…` and `/patch/…` routes.

mod agents;
pub mod hosts;
mod lifecycle;
mod refusals;
mod reports;
mod updates;

use std::io::Write;
use std::process::Command;

use md5::{Digest, Md5};
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use rsa::pkcs8::DecodePrivateKey;
use rsa::{RsaPrivateKey, pss::Pss};
use serde_json::Value;
use sha2::Sha256;

use crate::common::{Backend, TestApp, Who, config_for};
use crate::repos::Rpm;

/// A signing key and its self-signed certificate (PEM), made by openssl.
pub struct Signer {
    key: RsaPrivateKey,
    pub cert_pem: String,
}

impl Signer {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
        let out = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=depot patch test", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl runs");
        assert!(out.status.success(), "{out:?}");
        Self {
            key: RsaPrivateKey::from_pkcs8_pem(&std::fs::read_to_string(&key).unwrap()).unwrap(),
            cert_pem: std::fs::read_to_string(&cert).unwrap(),
        }
    }
}

/// A patch to build.
pub struct PatchSpec {
    pub id: String,
    pub release: String,
    pub status: &'static str,
    pub requires: Vec<String>,
    pub unremovable: bool,
    pub reboot_required: bool,
    pub rpms: Vec<Rpm>,
    /// Personality → package names.
    pub personalities: Vec<(&'static str, Vec<&'static str>)>,
}

impl PatchSpec {
    pub fn new(id: &str, rpms: Vec<Rpm>) -> Self {
        Self {
            id: id.into(),
            release: "19.12".into(),
            status: "REL",
            requires: Vec::new(),
            unremovable: false,
            reboot_required: false,
            personalities: vec![("controller", rpms.iter().map(|r| r.name).collect())],
            rpms,
        }
    }

    pub fn file_name(&self) -> String {
        format!("{}.patch", self.id)
    }

    fn metadata_xml(&self) -> String {
        let mut x = format!(
            "<patch>\n  <id>{}</id>\n  <sw_version>{}</sw_version>\n  <summary>test patch</summary>\n  <description>Built by depot's tests</description>\n  <install_instructions/>\n  <warnings/>\n  <status>{}</status>\n  <unremovable>{}</unremovable>\n  <reboot_required>{}</reboot_required>\n  <apply_active_release_only/>\n",
            self.id,
            self.release,
            self.status,
            if self.unremovable { "Y" } else { "N" },
            if self.reboot_required { "Y" } else { "N" }
        );
        for (p, packages) in &self.personalities {
            x.push_str(&format!("  <personality type=\"{p}\">"));
            for package in packages {
                x.push_str(&format!("<package>{package}</package>"));
            }
            x.push_str("</personality>\n");
        }
        x.push_str("  <contents>");
        for rpm in &self.rpms {
            x.push_str(&format!("<rpm>{}</rpm>", rpm.file_name()));
        }
        x.push_str("</contents>\n  <requires>");
        for req in &self.requires {
            x.push_str(&format!("<req_patch_id>{req}</req_patch_id>"));
        }
        x.push_str("</requires>\n  <semantics/>\n</patch>\n");
        x
    }

    /// The patch file, signed by `signer` (`signature.v2` left out when
    /// `None`); `tamper` changes software.tar after signing.
    pub fn build(&self, signer: Option<&Signer>, tamper: bool) -> Vec<u8> {
        let metadata = tar_of(&[("metadata.xml".into(), self.metadata_xml().into_bytes())]);
        let files: Vec<(String, Vec<u8>)> = self
            .rpms
            .iter()
            .map(|r| (r.file_name(), r.build()))
            .collect();
        let mut software = tar_of(&files);
        let md5s: Vec<u128> = [&metadata, &software]
            .iter()
            .map(|t| u128::from_be_bytes(Md5::digest(t).into()))
            .collect();
        let signature = md5s.iter().fold(u128::MAX, |v, m| v ^ m);
        let digest: [u8; 32] = Sha256::new()
            .chain_update(&metadata)
            .chain_update(&software)
            .finalize()
            .into();
        let v2 = signer.map(|s| {
            s.key
                .sign_with_rng(&mut rand08::thread_rng(), Pss::new::<Sha256>(), &digest)
                .unwrap()
        });
        if tamper {
            let at = software.len() / 2;
            software[at] ^= 0x55;
        }
        let mut outer = vec![
            ("metadata.tar".to_string(), metadata),
            ("software.tar".to_string(), software),
            (
                "signature".to_string(),
                format!("{signature:x}").into_bytes(),
            ),
        ];
        if let Some(v2) = v2 {
            outer.push(("signature.v2".into(), v2));
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar_of(&outer)).unwrap();
        gz.finish().unwrap()
    }
}

fn tar_of(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

/// A server that trusts `signer`'s certificate, with release 19.12 on base el7.
pub async fn start(backend: Backend, signer: &Signer) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(backend, dir.path()).await;
    config.patches.trust_certs = vec![signer.cert_pem.clone()];
    let app = TestApp::start_config(backend, config, dir).await;
    let r = call(
        &app,
        Who::Admin,
        Method::POST,
        "/v1/init_release/19.12?base=el7",
    )
    .await;
    assert_eq!(r["error"], "", "{r}");
    app
}

/// A StarlingX call; its JSON answer (HTTP 200 expected).
pub async fn call(app: &TestApp, who: Who, method: Method, path: &str) -> Value {
    let response = app.request(who, method, path).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
}

/// Uploads a patch file as `who` under `name` (StarlingX's multipart `file`).
pub async fn upload_named(
    app: &TestApp,
    who: Who,
    name: &str,
    bytes: Vec<u8>,
) -> reqwest::Response {
    let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_string()));
    app.request(who, Method::POST, "/patch/upload")
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Uploads a patch as the manager; the JSON answer.
pub async fn upload(app: &TestApp, spec: &PatchSpec, bytes: Vec<u8>) -> Value {
    let response = upload_named(app, Who::Manager, &spec.file_name(), bytes).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// Stores an RPM of the base repository.
pub async fn base_rpm(app: &TestApp, rpm: &Rpm) {
    app.upload_ok(&rpm.file_name(), rpm.build()).await;
}
