//! A real `depot serve` process killed (SIGKILL) while it copies a large
//! blob to another region: a new replica finishes the copy, the region
//! then holds exactly one object under the content key with the right
//! digests, the status says present, and GC aborts what the dead copy left.

use std::time::Duration;

use depot::store::{Area, BlobKey};
use futures::StreamExt;
use rand::RngCore;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use sea_orm::{ConnectionTrait, Statement};
use sha2::{Digest, Sha256};

use super::{blobs_in, region_body, region_config, store_of};
use crate::common::garage::Garage;
use crate::common::{PASSWORD, envelope, sha1_hex};
use crate::replicas::{Replica, command, migrate, start};

/// 256 MiB: a copy that takes seconds, long enough to be caught in flight.
const SIZE: usize = 256 << 20;

/// The environment of `depot serve` processes on `config`'s database with
/// `hz`'s bucket as their own store; migrated once.
fn env_of(
    config: &depot::config::Config,
    hz: &Garage,
    sh: &Garage,
    dir: &std::path::Path,
) -> Vec<(String, String)> {
    let s3 = hz.s3_config();
    let sh_s3 = sh.s3_config();
    let secret_file = dir.join("sh.secret");
    std::fs::write(
        &secret_file,
        format!("{}\n", sh_s3.secret_access_key.unwrap().expose()),
    )
    .unwrap();
    let env: Vec<(String, String)> = [
        ("DEPOT_DATABASE_URL", config.database_url.clone()),
        ("DEPOT_STORAGE_URL", format!("s3://{}", s3.bucket)),
        ("DEPOT_S3_ENDPOINT", hz.endpoint.clone()),
        ("DEPOT_S3_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", s3.access_key_id.clone().unwrap()),
        (
            "AWS_SECRET_ACCESS_KEY",
            s3.secret_access_key.unwrap().expose().to_string(),
        ),
        ("DEPOT_ADMIN_PASSWORD", PASSWORD.to_string()),
        ("DEPOT_DOWNLOAD_REDIRECT", "never".to_string()),
        ("DEPOT_DATA_DIR", dir.display().to_string()),
        // One copy at a time, and a dead replica's copy free after 3 s.
        ("DEPOT_REGION_WORKERS", "1".to_string()),
        ("DEPOT_REGION_LEASE", "3s".to_string()),
        // sh's keys are not in the database: each replica has them.
        (
            "DEPOT_REGION_SH_ACCESS_KEY_ID",
            sh_s3.access_key_id.clone().unwrap(),
        ),
        (
            "DEPOT_REGION_SH_SECRET_ACCESS_KEY_FILE",
            secret_file.display().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    migrate(&env);
    env
}

/// (state, attempts, lease owner) of the blob's row in `region`.
async fn row(
    db: &sea_orm::DatabaseConnection,
    region: &str,
) -> Option<(String, i32, Option<String>)> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT state, attempts, lease_owner FROM region_blobs WHERE region = $1",
            [region.into()],
        ))
        .await
        .unwrap()?;
    Some((
        row.try_get("", "state").unwrap(),
        row.try_get("", "attempts").unwrap(),
        row.try_get("", "lease_owner").unwrap(),
    ))
}

/// Runs `depot gc` with no grace; the unfinished writes it removed.
fn gc(env: &[(String, String)]) -> u64 {
    let out = command(env)
        .args(["gc", "--gc-grace", "0s", "--staging-grace", "0s"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}{stderr}");
    said.split(" unfinished write(s)")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}{stderr}"))
}

async fn post_region(http: &reqwest::Client, replica: &Replica, body: &serde_json::Value) {
    let response = http
        .post(format!("{}/api/v2/regions", replica.base))
        .basic_auth("admin", Some(PASSWORD))
        .json(body)
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_copy_leaves_exactly_one_correct_object() {
    let (hz, sh) = (Garage::start().await, Garage::start().await);
    let dir = tempfile::tempdir().unwrap();
    let config = region_config(&hz, dir.path()).await;
    let env = env_of(&config, &hz, &sh, dir.path());
    let db = depot::db::connect(&config.database_url).await.unwrap();
    let http = reqwest::Client::new();

    let mut first = start(&env);
    post_region(&http, &first, &region_body("hz", &hz, &[], true)).await;
    let mut sh_body = region_body("sh", &sh, &[], false);
    let sh_body_map = sh_body.as_object_mut().unwrap();
    sh_body_map.remove("accessKeyId");
    sh_body_map.remove("secretAccessKey");
    post_region(&http, &first, &sh_body).await;
    let secret = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT secret_access_key FROM regions WHERE name = 'sh'",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        secret
            .try_get::<Option<String>>("", "secret_access_key")
            .unwrap(),
        None
    );
    // The status says where each region's keys come from.
    let (_, regions) = envelope(
        http.get(format!("{}/api/v2/regions", first.base))
            .basic_auth("admin", Some(PASSWORD))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let credentials: Vec<(&str, &str)> = regions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap(),
                r["credentials"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(credentials, [("hz", "database"), ("sh", "environment")]);
    let mut bytes = b"#!/bin/sh\n# big\n".to_vec();
    bytes.resize(SIZE, 0);
    rand::rng().fill_bytes(&mut bytes[16..]);
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let sha1 = sha1_hex(&bytes);
    let form = Form::new().part("file", Part::bytes(bytes).file_name("big.sh"));
    let response = http
        .post(format!("{}/api/v2/software-packages", first.base))
        .basic_auth("admin", Some(PASSWORD))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["sha1"].as_str(), Some(sha1.as_str()), "{body}");
    let key = blobs_in(&hz).await.remove(0);

    // The copy to sh is in flight: its row is the first replica's, and sh
    // has been sent parts (its data directory grows) of an object no
    // listing shows yet. Then the replica dies without a word.
    let baseline = sh.data_bytes();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let state = row(&db, "sh").await;
        let sent = sh.data_bytes().saturating_sub(baseline);
        if state.as_ref().is_some_and(|r| r.0 == "copying") && sent > 24 << 20 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the copy to sh was never seen in flight: {state:?}, {sent} bytes sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let (state, attempts, dead) = row(&db, "sh").await.unwrap();
    assert!(dead.is_some(), "the dead replica's lease");
    assert_eq!(
        (state.as_str(), attempts),
        ("copying", 1),
        "killed mid-copy"
    );
    assert!(blobs_in(&sh).await.is_empty(), "the copy had not completed");
    let sh_store = store_of(&sh);
    let stray = sh_store.leftovers().await.unwrap().found;
    assert_eq!(
        stray.len(),
        1,
        "the dead copy's multipart upload: {stray:?}"
    );
    assert_eq!(stray[0].name, key);

    // GC leaves that upload alone while the copy's lease holds (as if its
    // replica were only slow), and aborts it once the lease has lapsed. (On
    // Garage a later completed copy would drop it too; S3 and MinIO keep
    // such parts, and their bytes, until someone aborts the upload.)
    let lease = |until: &'static str| {
        let db = db.clone();
        async move {
            db.execute_raw(Statement::from_string(
                db.get_database_backend(),
                format!("UPDATE region_blobs SET lease_until = {until} WHERE region = 'sh'"),
            ))
            .await
            .unwrap();
        }
    };
    lease("now() + interval '1 hour'").await;
    assert_eq!(gc(&env), 0);
    assert_eq!(sh_store.leftovers().await.unwrap().found.len(), 1);
    lease("now() - interval '1 second'").await;
    assert_eq!(gc(&env), 1);
    assert!(sh_store.leftovers().await.unwrap().found.is_empty());
    assert!(blobs_in(&sh).await.is_empty());

    // A new replica takes the copy over once the dead one's lease lapses.
    let second = start(&env);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let (state, attempts, owner) = row(&db, "sh").await.unwrap();
        if state == "present" {
            assert_eq!(attempts, 2, "one attempt died, one finished");
            assert_eq!(owner, None);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "sh never got the blob: {state}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Exactly one object under the content key, whose bytes hash to it.
    assert_eq!(blobs_in(&sh).await, vec![key.clone()]);
    let stored = BlobKey::from_stored(key.clone());
    assert_eq!(
        sh_store.size_of(&stored.path()).await.unwrap(),
        Some(SIZE as u64)
    );
    assert!(sh_store.holds_verified(&stored).await.unwrap(), "BLAKE3");
    let response = http
        .get(format!("{}/api/v2/files/sys-package/big.sh", second.base))
        .basic_auth("admin", Some(PASSWORD))
        .header("X-Depot-Region", "sh")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-depot-region"], "sh");
    let mut hasher = Sha256::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        hasher.update(chunk.unwrap());
    }
    assert_eq!(hex::encode(hasher.finalize()), sha256, "sha256 from sh");

    // GC, which never aborts a copy in flight, has nothing left to do.
    assert_eq!(gc(&env), 0);
    assert!(sh_store.leftovers().await.unwrap().found.is_empty());
    // sh's bucket holds that one object and nothing else, in any area.
    for area in Area::ALL {
        let expected = match area {
            Area::Blobs => vec![key.clone()],
            _ => Vec::new(),
        };
        assert_eq!(sh_store.list(area).await.unwrap(), expected, "{area:?}");
    }
    let (state, _, _) = row(&db, "sh").await.unwrap();
    assert_eq!(state, "present");
    drop(second);
}
