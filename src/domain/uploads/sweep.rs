//! The expiry sweep: uploads past their `expires_at` (abandoned, finished or
//! refused) go with their bytes. Every replica runs it; each upload is
//! claimed by its lease before it is removed, so two sweeps never race.

use chrono::Utc;
use uuid::Uuid;

use super::Uploads;
use super::lease::lease_ttl;
use crate::db;
use crate::error::Result;

/// Expired uploads removed per sweep query.
const SWEEP_BATCH: u64 = 100;

impl Uploads {
    /// Removes expired uploads and their bytes; returns how many and the
    /// bytes freed. Safe to run on every replica at once: each upload is
    /// claimed by its lease first.
    pub async fn sweep_expired(&self) -> Result<(u64, u64)> {
        let (mut uploads, mut bytes) = (0, 0);
        loop {
            let now = Utc::now();
            let batch = db::uploads::expired(&self.db, now, SWEEP_BATCH).await?;
            let last = (batch.len() as u64) < SWEEP_BATCH;
            for row in batch {
                // Never released: the row goes, or the claim expires for the
                // next sweep to try again.
                let lease = Uuid::new_v4().to_string();
                let until = now + lease_ttl();
                if !db::uploads::claim_expired(&self.db, &row.id, &lease, now, until).await? {
                    continue;
                }
                let (_, freed) = self.store().delete_upload_parts(&row.id).await?;
                db::uploads::delete(&self.db, &row.id).await?;
                uploads += 1;
                bytes += freed;
                tracing::info!(upload = %row.id, freed, "expired upload removed");
            }
            if last {
                return Ok((uploads, bytes));
            }
        }
    }
}
