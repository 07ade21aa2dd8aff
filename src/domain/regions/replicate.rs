//! Replication workers. Each claims a due status row (one `UPDATE` only one
//! replica can win), keeps its lease alive while it copies, streams the blob
//! from a region that has it (or the replica's own store) under the same
//! content key, verified, and records the outcome. A failed copy is tried
//! again after an exponential backoff, forever; a copy whose worker died is
//! taken over when its lease lapses. A region that is down only delays its
//! own rows.

use std::time::Duration;

use chrono::Utc;
use entity::region_blob;
use rand::Rng;

use super::Regions;
use crate::db;
use crate::error::{Error, Result};
use crate::metrics::METRICS;
use crate::store::{BlobKey, BlobStore, Copied};

/// Rows a worker looks at per claim attempt.
const CANDIDATES: u64 = 16;

impl Regions {
    /// Runs this replica's workers and reconciler until aborted.
    pub async fn run(self) {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..self.0.config.workers.max(1) {
            tasks.spawn(self.clone().work());
        }
        tasks.spawn(self.clone().reconcile_forever());
        while tasks.join_next().await.is_some() {}
    }

    async fn work(self) {
        loop {
            let notified = self.0.wake.notified();
            match self.replicate_one().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "replication: looking for work failed"),
            }
            let poll = self.0.config.poll;
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Claims and copies one due row; `false` when there was none.
    pub async fn replicate_one(&self) -> Result<bool> {
        let set = self.snapshot();
        if set.regions.is_empty() {
            return Ok(false);
        }
        let now = Utc::now();
        let lease = chrono::Duration::from_std(self.0.config.lease).map_err(Error::internal)?;
        for row in db::regions::due(&self.0.db, now, CANDIDATES).await? {
            let holder = &self.0.holder;
            if !db::regions::claim(
                &self.0.db,
                &row.blob_key,
                &row.region,
                holder,
                now,
                now + lease,
            )
            .await?
            {
                continue;
            }
            self.copy_claimed(row).await?;
            return Ok(true);
        }
        Ok(false)
    }

    /// Copies a claimed row's blob while its lease is renewed, and records
    /// how it went.
    async fn copy_claimed(&self, row: region_blob::Model) -> Result<()> {
        let outcome = tokio::select! {
            outcome = self.transfer(&row) => outcome,
            lost = self.keep_lease(&row) => Err(lost),
        };
        let now = Utc::now();
        let (key, region, holder) = (&row.blob_key, &row.region, &self.0.holder);
        match outcome {
            Ok(bytes) => {
                METRICS
                    .region_replicated_bytes
                    .with_label_values(&[region])
                    .inc_by(bytes);
                self.mark_up(region);
                db::regions::finish(&self.0.db, key, region, holder, Ok(()), now).await?;
                tracing::info!(region, key, bytes, "replicated");
            }
            Err(e) => {
                METRICS.region_failures.with_label_values(&[region]).inc();
                if matches!(e, Error::StoreUnavailable(_) | Error::StoreFull(_)) {
                    self.mark_down(region);
                }
                let wait = backoff(row.attempts + 1, self.0.config.max_backoff);
                let next = now + chrono::Duration::from_std(wait).map_err(Error::internal)?;
                let error = crate::domain::audit::clip(&e.to_string(), 1000);
                tracing::warn!(region, key, error, retry_in = ?wait, "replication failed");
                db::regions::finish(
                    &self.0.db,
                    key,
                    region,
                    holder,
                    Err((error.as_str(), next)),
                    now,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Renews the lease of `row` a few times per lease period; returns only
    /// when it is lost (another worker took the row over, or the row went).
    async fn keep_lease(&self, row: &region_blob::Model) -> Error {
        let lease = self.0.config.lease;
        loop {
            tokio::time::sleep(lease / 3).await;
            let until = match chrono::Duration::from_std(lease) {
                Ok(lease) => Utc::now() + lease,
                Err(e) => return Error::internal(e),
            };
            match db::regions::extend(
                &self.0.db,
                &row.blob_key,
                &row.region,
                &self.0.holder,
                until,
            )
            .await
            {
                Ok(true) => {}
                Ok(false) => return Error::internal("the copy's lease was lost; stopped"),
                // The database is away: the copy goes on, the lease may lapse.
                Err(e) => tracing::warn!(error = %e, "renewing a replication lease"),
            }
        }
    }

    /// Puts the blob of `row` into its region, verified; the bytes copied
    /// (0 when the region already held the right bytes).
    async fn transfer(&self, row: &region_blob::Model) -> Result<u64> {
        let set = self.snapshot();
        let Some(dest) = set.get(&row.region) else {
            return Err(Error::internal(format!(
                "region {} is not configured (any more)",
                row.region
            )));
        };
        let key = BlobKey::from_stored(row.blob_key.clone());
        // Idempotent: right bytes already there (an earlier copy whose
        // worker died after completing it, the replica's own store) are kept.
        if dest.store.size_of(&key.path()).await? == Some(row.size as u64)
            && dest.store.holds_verified(&key).await?
        {
            return Ok(0);
        }
        let mut sources: Vec<(Option<String>, BlobStore)> = Vec::new();
        let mut present = db::regions::present_in(&self.0.db, &row.blob_key).await?;
        present.sort_by_key(|name| self.is_down(name));
        for name in present.into_iter().filter(|n| *n != row.region) {
            if let Some(region) = set.get(&name) {
                sources.push((Some(name), region.store.clone()));
            }
        }
        sources.push((None, self.0.primary.clone()));
        let mut last = Error::internal("no region holds the blob");
        for (name, source) in sources {
            match dest.store.copy_verified(&source, &key).await {
                Ok(Copied::Copied(bytes)) => return Ok(bytes),
                Ok(Copied::SourceMissing) => {
                    last = Error::internal(format!(
                        "{key} is missing in {}",
                        name.as_deref().unwrap_or("this replica's store")
                    ));
                    if let Some(name) = name {
                        // Drift: the status said present.
                        db::regions::requeue(
                            &self.0.db,
                            &row.blob_key,
                            &name,
                            &last.to_string(),
                            Utc::now(),
                        )
                        .await?;
                    }
                }
                Err(e @ Error::ChecksumMismatch(_)) => {
                    if let Some(name) = &name {
                        db::regions::requeue(
                            &self.0.db,
                            &row.blob_key,
                            name,
                            &e.to_string(),
                            Utc::now(),
                        )
                        .await?;
                    }
                    last = e;
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// The wait before attempt `attempts + 1`: 1 s doubling up to `max`, with
/// up to a quarter more at random so that failed copies do not retry in step.
fn backoff(attempts: i32, max: Duration) -> Duration {
    let exp = attempts.clamp(0, 20) as u32;
    let base = Duration::from_secs(1u64 << exp).min(max);
    let jitter = rand::rng().random_range(0..=base.as_millis() as u64 / 4);
    base + Duration::from_millis(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let max = Duration::from_secs(300);
        assert!(backoff(1, max) >= Duration::from_secs(2));
        assert!(backoff(1, max) <= Duration::from_millis(2500));
        assert!(backoff(5, max) >= Duration::from_secs(32));
        assert!(backoff(30, max) <= Duration::from_secs(375));
        assert!(backoff(30, max) >= max);
    }
}
