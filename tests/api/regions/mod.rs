//! Regions: S3 servers of the tests' own (Garage, on loopback) as regions
//! of one depot on PostgreSQL. Replication, region choice by header, query
//! and address, a region down and back, a replica dying mid-copy, two
//! replicas sharing the work, deletes in every region.

mod bounds;
mod choose;
mod crash;
mod dnf;
mod faults;
mod replicate;

use std::time::Duration;

use depot::config::{Config, StorageConfig};
use depot::store::{Area, BlobStore};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::garage::Garage;
use crate::common::{Backend, TestApp, Who, config_for, envelope};

/// A config on a fresh PostgreSQL database whose own store is `home`'s, with
/// replication tuned for tests (short polls and leases).
pub async fn region_config(home: &Garage, dir: &std::path::Path) -> Config {
    let mut config = config_for(Backend::PostgresS3, dir).await;
    config.storage = StorageConfig::S3(home.s3_config());
    config.regions.poll = Duration::from_millis(200);
    config.regions.lease = Duration::from_secs(3);
    config.regions.reconcile_every = Duration::from_secs(1);
    config.regions.max_backoff = Duration::from_secs(2);
    config
}

pub async fn start(home: &Garage) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let config = region_config(home, dir.path()).await;
    TestApp::start_config(Backend::PostgresS3, config, dir).await
}

/// Adds a region through the admin API; its status.
pub async fn post_region(app: &TestApp, body: &Value) -> Value {
    let response = app
        .request(Who::Admin, reqwest::Method::POST, "/api/v2/regions")
        .json(body)
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Adds region `name` on `garage` through the admin API.
pub async fn add_region(app: &TestApp, name: &str, garage: &Garage, cidrs: &[&str], home: bool) {
    let s3 = garage.s3_config();
    let body = region_body(name, garage, cidrs, home);
    let body = post_region(app, &body).await;
    assert_eq!(body["data"]["name"], name, "{body}");
    // The secret is never shown.
    assert!(
        !body
            .to_string()
            .contains(s3.secret_access_key.unwrap().expose())
    );
}

/// The admin API's body that adds region `name` on `garage`.
pub fn region_body(name: &str, garage: &Garage, cidrs: &[&str], home: bool) -> Value {
    let s3 = garage.s3_config();
    json!({
        "name": name,
        "storageUrl": format!("s3://{}", s3.bucket),
        "s3Endpoint": s3.endpoint,
        "s3Region": "us-east-1",
        "accessKeyId": s3.access_key_id,
        "secretAccessKey": s3.secret_access_key.as_ref().map(|s| s.expose().to_string()),
        "cidrs": cidrs,
        "home": home,
    })
}

/// The regions' status, by name.
pub async fn status(app: &TestApp) -> Vec<Value> {
    let (status, body) = envelope(app.get(Who::Viewer, "/api/v2/regions").await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["data"].as_array().unwrap().clone()
}

pub async fn region(app: &TestApp, name: &str) -> Value {
    status(app)
        .await
        .into_iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no region {name}"))
}

/// Waits until `region` holds `present` blobs and none pending.
pub async fn wait_present(app: &TestApp, name: &str, present: u64, within: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let r = region(app, name).await;
        if r["present"] == present && r["pending"] == 0 && r["failed"] == 0 {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "region {name} did not get {present} blob(s): {r}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A store client for `garage`'s bucket, to look at what it holds.
pub fn store_of(garage: &Garage) -> BlobStore {
    BlobStore::open(&StorageConfig::S3(garage.s3_config()), 1 << 30).unwrap()
}

pub async fn blobs_in(garage: &Garage) -> Vec<String> {
    store_of(garage).list(Area::Blobs).await.unwrap()
}

/// Downloads `file_name` with `region` in the header; the status, the
/// serving region, and the bytes.
pub async fn download_from(
    client: &reqwest::Client,
    app: &TestApp,
    file_name: &str,
    region: Option<&str>,
) -> (StatusCode, Option<String>, Vec<u8>) {
    let mut request = client
        .get(app.url(&format!("/api/v2/files/sys-package/{file_name}")))
        .basic_auth("viewer", Some(crate::common::PASSWORD));
    if let Some(region) = region {
        request = request.header("X-Depot-Region", region);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let served = response
        .headers()
        .get("x-depot-region")
        .map(|v| v.to_str().unwrap().to_string());
    (status, served, response.bytes().await.unwrap().to_vec())
}

/// Bytes of a script package of `len` bytes, distinct per `seed`.
pub fn script(seed: &str, len: usize) -> Vec<u8> {
    let mut bytes = format!("#!/bin/sh\n# {seed}\n").into_bytes();
    let mut x = seed
        .bytes()
        .fold(7u64, |a, b| a.wrapping_mul(31) ^ b as u64);
    while bytes.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.push(b'a' + (x % 26) as u8);
    }
    bytes
}
