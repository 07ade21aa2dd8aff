//! The doctor's region checks: each region's store answers, and no blob
//! has waited for a region longer than `BACKLOG_WARN`.

use std::time::Duration;

use super::Regions;
use crate::domain::doctor::Check;

/// A blob waiting longer than this for a region is worth a warning.
pub const BACKLOG_WARN: Duration = Duration::from_secs(15 * 60);

impl Regions {
    pub async fn checks(&self) -> Vec<Check> {
        let set = match self.refresh().await {
            Ok(set) => set,
            Err(e) => {
                return vec![Check::fail(
                    "regions",
                    e.to_string(),
                    "check the region configuration: `depot region list`",
                )];
            }
        };
        if set.regions.is_empty() {
            return Vec::new();
        }
        let mut checks = Vec::new();
        for region in &set.regions {
            let name = &region.row.name;
            checks.push(match region.store.probe().await {
                Ok(p) => Check::ok(
                    "region store reachable",
                    format!("{name}: probe object put, read and removed in {:.1?}", p.latency),
                ),
                Err(e) => Check::fail(
                    "region store reachable",
                    format!("{name}: {e}"),
                    "check that the region's store runs, its endpoint, bucket and credentials (`depot region list`); replication to it waits meanwhile",
                ),
            });
        }
        match self.status().await {
            Ok(status) => {
                for s in status {
                    let waited = s.oldest_pending_seconds.unwrap_or(0);
                    let backlog = s.pending + s.copying + s.failed;
                    let detail = format!(
                        "{}: {} present, {backlog} waiting (oldest {waited} s), {} failed{}",
                        s.name,
                        s.present,
                        s.failed,
                        s.last_error
                            .map(|e| format!("; last error: {e}"))
                            .unwrap_or_default()
                    );
                    checks.push(if backlog > 0 && waited >= BACKLOG_WARN.as_secs() {
                        Check::warn(
                            "region backlog",
                            detail,
                            "replication lags: see the last error; check the region's store, and that a replica runs (`depot serve`)",
                        )
                    } else {
                        Check::ok("region backlog", detail)
                    });
                }
            }
            Err(e) => checks.push(Check::warn(
                "region backlog",
                e.to_string(),
                "check the database",
            )),
        }
        checks
    }
}
