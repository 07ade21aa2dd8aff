//! obshell upgrade packages: which RPMs qualify, and the fields obshell
//! reports beyond the package (MD5 and size of the signed part, installed
//! size, the upgrade dependency YAML from the payload).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use futures::TryStreamExt;
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::rpm_header::RpmInfo;
use super::rpm_integrity::check_signed_md5;
use super::rpm_payload::{self, Bounds, PayloadError, Stop, find_in_payload_within};
use super::upgrade_route::parse_dep_yaml;
use crate::db::upgrades::UpgradeDetails;
use crate::error::{Error, Result};
use crate::metrics::METRICS;
use crate::store::{BlobStore, Staged};

/// The packages obshell upgrades a cluster with.
pub const FAMILY: [&str; 6] = [
    "oceanbase",
    "oceanbase-ce",
    "oceanbase-ce-libs",
    "oceanbase-standalone",
    "obshell",
    "oceanbase-diagnostic-tool",
];

/// Those among them that carry the database server itself.
const DATABASE: [&str; 3] = ["oceanbase", "oceanbase-ce", "oceanbase-standalone"];

pub const DEP_YAML_PATH: &str = "./home/admin/oceanbase/etc/oceanbase_upgrade_dep.yml";
const MAX_DEP_YAML_BYTES: u64 = 4 << 20;

/// obshell's chunk size as the seed's sample implies it (96547244 bytes → 6 chunks).
pub const DEFAULT_CHUNK_SIZE: u64 = 16 << 20;

pub fn chunk_count(payload_size: u64, chunk_size: u64) -> u64 {
    payload_size.div_ceil(chunk_size.max(1))
}

/// Refuses what obshell would refuse, before anything is stored.
pub fn check_package(rpm: &RpmInfo) -> Result<()> {
    if !FAMILY.contains(&rpm.name.as_str()) {
        return Err(Error::invalid(format!(
            "{:?} is not an upgrade package; obshell upgrades with {}",
            rpm.name,
            FAMILY.join(", ")
        )));
    }
    if !rpm.release.contains('.') {
        return Err(Error::invalid(format!(
            "the release {:?} has no distribution part (like 101000062023110109.el7)",
            rpm.release
        )));
    }
    if DATABASE.contains(&rpm.name.as_str()) && !rpm.has_observer {
        return Err(Error::invalid(format!(
            "{} is a database package without bin/observer",
            rpm.file_name()
        )));
    }
    Ok(())
}

/// The MD5 obshell reports: the signature's, which must match the bytes that
/// arrived; or, for an RPM signed without one, the MD5 depot computed.
pub fn verified_md5(rpm: &RpmInfo, computed: &str) -> Result<String> {
    check_signed_md5(rpm, Some(computed)).map_err(Error::IllegalArgument)?;
    Ok(computed.to_string())
}

/// Everything obshell reports about a staged RPM, checking it on the way.
/// Setting `stop` stops reading the payload (its request is gone).
pub async fn inspect(
    store: &BlobStore,
    staged: &Staged,
    rpm: &RpmInfo,
    stop: Arc<AtomicBool>,
) -> Result<UpgradeDetails> {
    check_package(rpm)?;
    let signed = staged
        .digests
        .rpm_signed
        .as_ref()
        .ok_or_else(|| Error::invalid("not a valid RPM package: no signature header"))?;
    let computed = store.signed_md5(staged).await?.unwrap_or_default();
    let md5 = verified_md5(rpm, &computed)?;
    let upgrade_dep_yaml = read_dep_yaml(store, staged, rpm, stop).await?;
    if !upgrade_dep_yaml.is_empty() {
        parse_dep_yaml(&upgrade_dep_yaml)
            .map_err(|e| Error::invalid(format!("oceanbase_upgrade_dep.yml is malformed: {e}")))?;
    }
    Ok(UpgradeDetails {
        installed_size: rpm.installed_size.unwrap_or_default(),
        payload_size: staged.size - signed.offset,
        md5,
        upgrade_dep_yaml,
    })
}

/// The dependency YAML from the payload, by streaming decompression; empty
/// when absent. The walk is bounded (`rpm_payload::Bounds`): a payload that
/// inflates beyond them is refused, and one whose request is gone is left.
async fn read_dep_yaml(
    store: &BlobStore,
    staged: &Staged,
    rpm: &RpmInfo,
    stop: Arc<AtomicBool>,
) -> Result<String> {
    let compressed = staged.size.saturating_sub(rpm.payload_offset);
    let bounds = Bounds::for_payload(compressed, stop);
    let payload = store
        .get(&staged.path, Some(rpm.payload_offset..staged.size))
        .await?
        .into_stream();
    let reader = SyncIoBridge::new(StreamReader::new(payload.map_err(std::io::Error::other)));
    let compressor = rpm.payload_compressor.clone();
    let walking = METRICS.payload_walks_in_progress.clone();
    walking.inc();
    let walked = tokio::task::spawn_blocking(move || {
        find_in_payload_within(
            reader,
            compressor.as_deref(),
            DEP_YAML_PATH,
            MAX_DEP_YAML_BYTES,
            &bounds,
        )
    })
    .await;
    walking.dec();
    let walked = walked.map_err(Error::internal)?;
    METRICS
        .payload_walks
        .with_label_values(&[walk_outcome(&walked)])
        .inc();
    let found = walked
        .map_err(|e| match e {
            // The store failed while reading: not the package's fault.
            PayloadError::Read(io) => Error::StoreUnavailable(format!("reading the payload: {io}")),
            // Nobody waits for the answer any more.
            PayloadError::Stopped(Stop::Stopped) => Error::UploadInterrupted(e.to_string()),
            other => Error::invalid(other.to_string()),
        })?
        .found;
    match found {
        None => Ok(String::new()),
        Some(bytes) => String::from_utf8(bytes)
            .map_err(|_| Error::invalid("oceanbase_upgrade_dep.yml is not UTF-8 text")),
    }
}

/// How a walk ended, as `depot_payload_walks_total` counts it.
fn walk_outcome(walked: &Result<rpm_payload::Walked, PayloadError>) -> &'static str {
    match walked {
        Ok(w) if w.found.is_some() => "found",
        Ok(_) => "absent",
        Err(PayloadError::Stopped(Stop::Inflated { .. })) => "inflated",
        Err(PayloadError::Stopped(Stop::TimedOut)) => "timed_out",
        Err(PayloadError::Stopped(Stop::Stopped)) => "stopped",
        Err(PayloadError::Read(_)) => "read_failed",
        Err(_) => "refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::classify::PackageType;

    fn rpm(name: &str, release: &str, has_observer: bool) -> RpmInfo {
        RpmInfo {
            name: name.into(),
            version: "4.2.1.1".into(),
            release: release.into(),
            arch: "x86_64".into(),
            package_type: PackageType::ObServer,
            expected_size: None,
            signed_md5: Some("550d75397013d00ca0a8e529d17020c3".into()),
            installed_size: Some(433648329),
            payload_offset: 0,
            payload_compressor: None,
            has_observer,
        }
    }

    #[test]
    fn the_seeds_sample_has_six_chunks() {
        assert_eq!(chunk_count(96547244, DEFAULT_CHUNK_SIZE), 6);
        assert_eq!(chunk_count(0, DEFAULT_CHUNK_SIZE), 0);
        assert_eq!(chunk_count(16 << 20, DEFAULT_CHUNK_SIZE), 1);
    }

    #[test]
    fn only_the_family_with_a_distribution_and_an_observer() {
        assert!(check_package(&rpm("oceanbase-ce", "101000062023110109.el7", true)).is_ok());
        assert!(check_package(&rpm("obshell", "1.el7", false)).is_ok());
        assert!(check_package(&rpm("oceanbase-ce-libs", "1.el7", false)).is_ok());
        let err = check_package(&rpm("obproxy-ce", "1.el7", false))
            .unwrap_err()
            .to_string();
        assert!(err.contains("oceanbase-diagnostic-tool"), "{err}");
        let err = check_package(&rpm("oceanbase-ce", "101000062023110109", true))
            .unwrap_err()
            .to_string();
        assert!(err.contains("distribution"), "{err}");
        let err = check_package(&rpm("oceanbase", "1.el7", false))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bin/observer"), "{err}");
    }

    #[test]
    fn a_signed_md5_must_match() {
        let r = rpm("oceanbase-ce", "1.el7", true);
        assert_eq!(
            verified_md5(&r, "550d75397013d00ca0a8e529d17020c3").unwrap(),
            "550d75397013d00ca0a8e529d17020c3"
        );
        let err = verified_md5(&r, "00000000000000000000000000000000")
            .unwrap_err()
            .to_string();
        assert!(err.contains("corrupt"), "{err}");
        let unsigned = RpmInfo {
            signed_md5: None,
            ..r
        };
        assert_eq!(verified_md5(&unsigned, "abc").unwrap(), "abc");
    }
}
