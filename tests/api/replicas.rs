//! Three `depot serve` processes on one PostgreSQL database and one bucket
//! behave as one service.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};

use crate::common::rpms::RpmSpec;
use crate::common::{Backend, PASSWORD, config_for, envelope, sha1_hex};
use depot::config::StorageConfig;
use depot::store::{Area, BlobStore};

const BIN: &str = env!("CARGO_BIN_EXE_depot");

/// A `depot serve` process; killed when dropped.
pub struct Replica {
    pub child: Child,
    pub base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn command(env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)));
    cmd
}

/// Runs `depot migrate` in `env`, as the chart's hook does before replicas
/// start (they start with `--no-migrate`).
pub fn migrate(env: &[(String, String)]) {
    let out = command(env).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn start(env: &[(String, String)]) -> Replica {
    // Owned by the Replica at once: a failed start still kills the process.
    let mut replica = Replica {
        child: command(env)
            .args(["serve", "--no-migrate", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        base: String::new(),
    };
    let stderr = replica.child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut said = Vec::new();
    loop {
        let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            panic!("a replica did not start; it said:\n{}", said.join("\n"));
        };
        if let Some((_, a)) = line.split_once("addr=") {
            let addr = a.split_whitespace().next().unwrap().to_string();
            // Keep draining its log so that it never blocks on a full pipe.
            std::thread::spawn(move || while rx.recv().is_ok() {});
            replica.base = format!("http://{addr}");
            return replica;
        }
        said.push(line);
    }
}

/// The environment of replicas sharing `config`'s database and bucket,
/// migrated once (as the chart's hook does; replicas start without).
pub fn shared_env(config: &depot::config::Config, dir: &std::path::Path) -> Vec<(String, String)> {
    let StorageConfig::S3(s3) = &config.storage else {
        unreachable!()
    };
    let env: Vec<(String, String)> = [
        ("DEPOT_DATABASE_URL", config.database_url.clone()),
        (
            "DEPOT_STORAGE_URL",
            format!("s3://{}/{}", s3.bucket, s3.prefix.clone().unwrap()),
        ),
        ("DEPOT_S3_ENDPOINT", s3.endpoint.clone().unwrap()),
        ("DEPOT_S3_REGION", s3.region.clone().unwrap()),
        ("AWS_ACCESS_KEY_ID", s3.access_key_id.clone().unwrap()),
        (
            "AWS_SECRET_ACCESS_KEY",
            s3.secret_access_key.as_ref().unwrap().expose().to_string(),
        ),
        ("DEPOT_ADMIN_PASSWORD", PASSWORD.to_string()),
        ("DEPOT_DOWNLOAD_REDIRECT", "never".to_string()),
        ("DEPOT_UPLOAD_EXPIRY", "3s".to_string()),
        ("DEPOT_DATA_DIR", dir.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    migrate(&env);
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_behave_as_one_service() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(Backend::PostgresS3, dir.path()).await;
    let env = shared_env(&config, dir.path());
    let replicas: Vec<Replica> = (0..3).map(|_| start(&env)).collect();
    let [a, b, c] = [&replicas[0].base, &replicas[1].base, &replicas[2].base];
    let http = reqwest::Client::new();
    let store = BlobStore::open(&config.storage, config.max_upload_size).unwrap();

    // Upload through the first, list through the second, download and delete through the third.
    let rpm = RpmSpec::new("obproxy-ce", "4.2.1.0", "11.el7", "x86_64")
        .file("/home/admin/obproxy/bin/obproxy", vec![3u8; 200_000])
        .build();
    let upload = |base: &str| {
        let form = Form::new().part("file", Part::bytes(rpm.clone()).file_name("obproxy.rpm"));
        http.post(format!("{base}/api/v2/software-packages"))
            .basic_auth("admin", Some(PASSWORD))
            .multipart(form)
            .send()
    };
    let (status, body) = envelope(upload(a).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["data"]["id"].as_i64().unwrap();
    let name = body["data"]["fileName"].as_str().unwrap().to_string();
    let (_, list) = envelope(
        http.get(format!("{b}/api/v2/software-packages"))
            .basic_auth("admin", Some(PASSWORD))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["data"]["contents"][0]["id"], id);
    let bytes = http
        .get(format!("{c}/api/v2/files/sys-package/{name}"))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), rpm.as_slice());
    let response = http
        .delete(format!("{c}/api/v2/software-packages/{id}"))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(response).await.0, StatusCode::OK);
    assert!(store.list(Area::Blobs).await.unwrap().is_empty());

    // The same file through all three at once: one package, one object.
    let (r1, r2, r3) = tokio::join!(upload(a), upload(b), upload(c));
    let mut ids = Vec::new();
    for response in [r1, r2, r3] {
        let (status, body) = envelope(response.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.push(body["data"]["id"].as_i64().unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    assert_eq!(store.list(Area::Blobs).await.unwrap().len(), 1);

    // A resumable upload whose chunks go to each replica in turn.
    let mut script = b"#!/bin/sh\n".to_vec();
    script.extend((0..300_000u32).map(|i| b'a' + (i % 26) as u8));
    let response = http
        .post(format!("{a}/api/v2/uploads/"))
        .basic_auth("admin", Some(PASSWORD))
        .header("tus-resumable", "1.0.0")
        .header("upload-length", script.len().to_string())
        .header(
            "upload-metadata",
            format!("filename {}", BASE64.encode("three.sh")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let path = location
        .split_once("/api/")
        .map(|(_, p)| format!("/api/{p}"))
        .unwrap();
    let mut package = None;
    for (i, base) in [a, b, c].into_iter().enumerate() {
        let start = i * 100_010;
        let end = if i == 2 {
            script.len()
        } else {
            start + 100_010
        };
        let response = http
            .patch(format!("{base}{path}"))
            .basic_auth("admin", Some(PASSWORD))
            .header("tus-resumable", "1.0.0")
            .header("upload-offset", start.to_string())
            .header("content-type", "application/offset+octet-stream")
            .body(script[start..end].to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "chunk {i}");
        package = response
            .headers()
            .get("depot-package-id")
            .map(|v| v.to_str().unwrap().to_string());
    }
    let package = package.expect("the last chunk finished the upload");
    let (_, body) = envelope(
        http.get(format!("{b}/api/v2/software-packages/{package}"))
            .basic_auth("admin", Some(PASSWORD))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["data"]["sha1"], sha1_hex(&script));

    // Abandoned uploads: every replica sweeps at once, and each is removed once.
    for base in [a, b, c] {
        let response = http
            .post(format!("{base}/api/v2/uploads/"))
            .basic_auth("admin", Some(PASSWORD))
            .header("tus-resumable", "1.0.0")
            .header("upload-length", "100000")
            .header(
                "upload-metadata",
                format!("filename {}", BASE64.encode("left.sh")),
            )
            .header("content-type", "application/offset+octet-stream")
            .body(vec![b'#'; 50_000])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    assert_eq!(store.list(Area::Uploads).await.unwrap().len(), 3);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !store.list(Area::Uploads).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "expired uploads were not swept");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Garbage collection started on all three at once: one collects, the
    // others find it busy (or nothing left); the packages stay whole.
    let litter = depot::store::Path::from(format!("blobs/blake3/cd/{}", "cd".repeat(32)));
    let body = futures::stream::iter([Ok::<_, depot::error::Error>(bytes::Bytes::from_static(
        b"x",
    ))]);
    store
        .write_part(&litter, body, 1, depot::store::OnCut::Discard)
        .await
        .unwrap();
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let mut cmd = command(&env);
            cmd.args(["gc", "--no-migrate", "--gc-grace", "0s"]);
            tokio::process::Command::from(cmd).output()
        })
        .collect();
    let mut removed = 0;
    for out in futures::future::join_all(runs).await {
        let out = out.unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if said.contains("removed 1 unreferenced object") {
            removed += 1;
        } else {
            assert!(
                said.contains("another replica is collecting")
                    || said.contains("removed 0 unreferenced"),
                "{said}"
            );
        }
    }
    assert_eq!(removed, 1);
    // The two packages' objects stay; the orphan is gone.
    assert_eq!(store.list(Area::Blobs).await.unwrap().len(), 2);
    let again = http
        .get(format!("{a}/api/v2/files/sys-package/{name}"))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(again.as_ref(), rpm.as_slice());

    // And all three still serve.
    for base in [a, b, c] {
        let response = http.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
