//! The background loops every replica runs beside the server.

use std::time::Duration;

use crate::domain::gc::{Collector, Pass};
use crate::domain::uploads::Uploads;

/// Collects garbage every `every`; among replicas, whoever takes the lock.
pub(super) async fn collect_garbage(collector: Collector, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = collector.run(Pass::Collect).await {
            tracing::warn!(error = %e, "garbage collection failed; retrying at the next interval");
        }
    }
}

/// How often the allocator's free pages go back to the system.
const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Gives freed memory back to the system now and then, so that a replica
/// at rest holds what it uses, not what its busiest moment needed
/// (`allocator::trim`).
pub(super) async fn return_freed_memory() {
    let mut tick = tokio::time::interval(TRIM_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // A walk of the heap: on a blocking thread, off the workers.
        let _ = tokio::task::spawn_blocking(crate::allocator::trim).await;
    }
}

/// Removes expired resumable uploads, a few times per expiry period. Every
/// replica runs it; each upload is claimed before it is removed.
pub(super) async fn sweep_expired_uploads(uploads: Uploads, expiry: Duration) {
    let every = (expiry / 4).clamp(Duration::from_secs(1), Duration::from_secs(300));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match uploads.sweep_expired().await {
            Ok((0, _)) => {}
            Ok((count, bytes)) => {
                tracing::info!(uploads = count, bytes, "expired uploads removed")
            }
            Err(e) => tracing::warn!(error = %e, "sweeping expired uploads failed; retrying later"),
        }
    }
}
