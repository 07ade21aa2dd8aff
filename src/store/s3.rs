//! S3 specifics: building the object_store client, and the operations
//! object_store lacks, which are what `aws-sdk-s3` is in the dependency list
//! for: copying an object over 5 GiB (UploadPartCopy), and finding and
//! aborting multipart uploads that were never completed (`leftovers.rs`).

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::signer::Signer;
use object_store::{ClientOptions, ObjectStore, RetryConfig};

use super::error::sdk_error;
use crate::config::S3Config;
use crate::error::{Error, Result};

pub struct S3Parts {
    pub store: Arc<dyn ObjectStore>,
    pub signer: Arc<dyn Signer>,
    pub sdk: Option<S3Sdk>,
}

fn builder(cfg: &S3Config, endpoint: Option<&str>) -> AmazonS3Builder {
    // A stall's bound, not a transfer's: a request must be answered within
    // the timeout and a body may not pause longer. A bound on the whole
    // request cut proxied downloads that their client read slower than the
    // store sent (2 GiB to a 10 MiB/s agent takes 200 s).
    let client = ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout_disabled()
        .with_read_timeout(cfg.timeout);
    // A few quick retries, then a clear 503: never minutes of silent
    // retrying. Retries stop this long after the first try, which leaves a
    // request that stalled one more try: a part PUT an overloaded store
    // left unread for the whole timeout (Garage under CPU load, once in
    // 1,600 parts) costs a retry, not the upload.
    let retry = RetryConfig {
        max_retries: 3,
        retry_timeout: cfg.timeout + Duration::from_secs(20),
        ..RetryConfig::default()
    };
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(&cfg.bucket)
        .with_retry(retry)
        .with_client_options(client);
    if let Some(region) = &cfg.region {
        b = b.with_region(region);
    }
    if let Some(endpoint) = endpoint {
        // MinIO, Garage and friends: path-style addressing, plain HTTP allowed.
        b = b
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false);
    }
    // SigV4 signs each body's SHA-256 unless told the payload is unsigned: a
    // SHA-256 pass over every upload, for nothing where TLS already protects
    // the bytes (AWS's SDKs skip it over HTTPS too). Over plain HTTP it is
    // the store's only check of what arrived, so it stays unless turned off.
    let https = endpoint.is_none_or(|e| e.starts_with("https://"));
    b = b.with_unsigned_payload(cfg.unsigned_payload.unwrap_or(https));
    if let Some(id) = &cfg.access_key_id {
        b = b.with_access_key_id(id);
    }
    if let Some(secret) = &cfg.secret_access_key {
        b = b.with_secret_access_key(secret.expose());
    }
    b
}

fn with_prefix<T: ObjectStore + Signer>(
    inner: T,
    prefix: Option<&str>,
) -> (Arc<dyn ObjectStore>, Arc<dyn Signer>) {
    match prefix {
        Some(p) => {
            let s = Arc::new(PrefixStore::new(inner, p));
            (s.clone(), s)
        }
        None => {
            let s = Arc::new(inner);
            (s.clone(), s)
        }
    }
}

pub fn open(cfg: &S3Config) -> Result<S3Parts> {
    let build = |endpoint: Option<&str>| -> Result<AmazonS3> {
        builder(cfg, endpoint)
            .build()
            .map_err(|e| Error::invalid(format!("S3 configuration: {e}")))
    };
    let (store, _) = with_prefix(build(cfg.endpoint.as_deref())?, cfg.prefix.as_deref());
    let public = cfg.public_endpoint.as_deref().or(cfg.endpoint.as_deref());
    let (_, signer) = with_prefix(build(public)?, cfg.prefix.as_deref());
    Ok(S3Parts {
        store,
        signer,
        sdk: S3Sdk::new(cfg),
    })
}

/// The S3 API itself, with static credentials: server-side copy in parts
/// for objects CopyObject refuses, and unfinished multipart uploads.
pub struct S3Sdk {
    pub(super) client: aws_sdk_s3::Client,
    pub(super) bucket: String,
    pub(super) prefix: Option<String>,
    pub max_single_copy: u64,
    part_size: u64,
}

impl S3Sdk {
    fn new(cfg: &S3Config) -> Option<Self> {
        let id = cfg
            .access_key_id
            .clone()
            .or_else(|| std::env::var("AWS_ACCESS_KEY_ID").ok())?;
        let secret = cfg
            .secret_access_key
            .as_ref()
            .map(|s| s.expose().to_string())
            .or_else(|| std::env::var("AWS_SECRET_ACCESS_KEY").ok())?;
        let region = cfg
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .unwrap_or_else(|| "us-east-1".into());
        let mut conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(Credentials::new(id, secret, None, None, "depot"))
            // The SDK waits for an answer forever unless told: a hung store
            // would hold an upload's copy, and its admission, for good.
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .read_timeout(cfg.timeout)
                    .build(),
            );
        if let Some(endpoint) = &cfg.endpoint {
            conf = conf.endpoint_url(endpoint).force_path_style(true);
        }
        Some(Self {
            client: aws_sdk_s3::Client::from_conf(conf.build()),
            bucket: cfg.bucket.clone(),
            prefix: cfg.prefix.clone(),
            max_single_copy: cfg.max_single_copy,
            part_size: cfg.copy_part_size.max(5 << 20),
        })
    }

    pub(super) fn full_key(&self, path: &Path) -> String {
        match &self.prefix {
            Some(p) => format!("{p}/{path}"),
            None => path.to_string(),
        }
    }

    pub async fn copy(&self, from: &Path, to: &Path, size: u64) -> Result<()> {
        let key = self.full_key(to);
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(sdk_error)?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| Error::internal("S3 returned no upload id"))?
            .to_string();
        match self.copy_parts(from, &key, &upload_id, size).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                Err(e)
            }
        }
    }

    async fn copy_parts(&self, from: &Path, key: &str, upload_id: &str, size: u64) -> Result<()> {
        let source = format!("{}/{}", self.bucket, self.full_key(from));
        let mut parts = Vec::new();
        let mut start = 0;
        let mut number = 1;
        while start < size {
            let end = (start + self.part_size).min(size) - 1;
            let out = self
                .client
                .upload_part_copy()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .copy_source(&source)
                .copy_source_range(format!("bytes={start}-{end}"))
                .send()
                .await
                .map_err(sdk_error)?;
            let etag = out
                .copy_part_result()
                .and_then(|r| r.e_tag())
                .map(str::to_string);
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(etag)
                    .build(),
            );
            start = end + 1;
            number += 1;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use object_store::aws::AmazonS3ConfigKey;

    use super::*;

    fn unsigned(cfg: &S3Config, endpoint: Option<&str>) -> Option<String> {
        builder(cfg, endpoint).get_config_value(&AmazonS3ConfigKey::UnsignedPayload)
    }

    #[test]
    fn payloads_go_unsigned_over_https_unless_told_otherwise() {
        let mut cfg = S3Config::new("depot");
        assert_eq!(unsigned(&cfg, None).as_deref(), Some("true"), "AWS");
        assert_eq!(
            unsigned(&cfg, Some("https://s3.example.com")).as_deref(),
            Some("true")
        );
        assert_eq!(
            unsigned(&cfg, Some("http://minio:9000")).as_deref(),
            Some("false")
        );
        cfg.unsigned_payload = Some(true);
        assert_eq!(
            unsigned(&cfg, Some("http://minio:9000")).as_deref(),
            Some("true")
        );
        cfg.unsigned_payload = Some(false);
        assert_eq!(unsigned(&cfg, None).as_deref(), Some("false"));
    }
}
