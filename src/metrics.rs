//! Prometheus metrics, served at `/metrics`. One registry for the process;
//! the HTTP middleware counts requests, the domain counts bytes and GC.

use std::sync::LazyLock;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_seconds: HistogramVec,
    pub uploaded_bytes: IntCounter,
    pub downloaded_bytes: IntCounter,
    pub uploads_failed: IntCounterVec,
    pub uploads_in_flight: IntGauge,
    pub upload_slots_in_use: IntGauge,
    pub uploads_refused: IntCounterVec,
    pub uploads_written: IntCounterVec,
    pub db_seconds: HistogramVec,
    pub store_seconds: HistogramVec,
    pub gc_runs: IntCounterVec,
    pub gc_removed_objects: IntCounter,
    pub gc_removed_bytes: IntCounter,
    pub audit_events_shed: IntCounterVec,
    pub audit_events_unwritten: IntCounter,
    pub payload_walks: IntCounterVec,
    pub payload_walks_in_progress: IntGauge,
    pub password_hashes_running: IntGauge,
    pub logins_throttled: IntCounter,
    pub credential_caches_trusted: IntGauge,
    pub repo_publications: IntCounterVec,
    pub repo_publication_seconds: HistogramVec,
    pub repo_chunks: IntCounterVec,
    pub region_backlog: IntGaugeVec,
    pub region_lag_seconds: IntGaugeVec,
    pub region_failures: IntCounterVec,
    pub region_replicated_bytes: IntCounterVec,
    pub region_downloads: IntCounterVec,
    pub patch_operations: IntCounterVec,
    /// Read from the allocator at each scrape.
    pub heap_arenas: IntGauge,
    pub heap_bytes: IntGaugeVec,
}

/// Seconds, from a millisecond to several minutes (uploads are long).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

pub static METRICS: LazyLock<Metrics> =
    LazyLock::new(|| Metrics::new().expect("metric definitions are valid"));

impl Metrics {
    fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                labels,
            )
        };
        let m = Self {
            requests: IntCounterVec::new(
                Opts::new(
                    "depot_http_requests_total",
                    "HTTP requests by route template and status",
                ),
                &["method", "route", "status"],
            )?,
            request_seconds: histogram(
                "depot_http_request_duration_seconds",
                "HTTP request latency by route template",
                &["method", "route"],
            )?,
            uploaded_bytes: IntCounter::new(
                "depot_uploaded_bytes_total",
                "Bytes of packages received",
            )?,
            downloaded_bytes: IntCounter::new(
                "depot_downloaded_bytes_total",
                "Bytes of packages sent through depot (redirected downloads not included)",
            )?,
            uploads_failed: IntCounterVec::new(
                Opts::new(
                    "depot_uploads_failed_total",
                    "Uploads refused or failed, by cause (the error code's name)",
                ),
                &["cause"],
            )?,
            uploads_in_flight: IntGauge::new(
                "depot_uploads_in_flight",
                "Upload requests being received",
            )?,
            upload_slots_in_use: IntGauge::new(
                "depot_upload_slots_in_use",
                "Uploads holding a slot (--max-uploads)",
            )?,
            uploads_refused: IntCounterVec::new(
                Opts::new(
                    "depot_uploads_refused_total",
                    "Uploads refused for want of a slot, by bound",
                ),
                &["bound"],
            )?,
            uploads_written: IntCounterVec::new(
                Opts::new(
                    "depot_upload_writes_total",
                    "Uploads by how their bytes reached their content key: staged then copied, \
                     written once under an announced key (direct), or found there already",
                ),
                &["how"],
            )?,
            db_seconds: histogram(
                "depot_db_query_duration_seconds",
                "Database statement latency",
                &["outcome"],
            )?,
            store_seconds: histogram(
                "depot_store_operation_duration_seconds",
                "Object store operation latency",
                &["operation", "outcome"],
            )?,
            gc_runs: IntCounterVec::new(
                Opts::new("depot_gc_runs_total", "Garbage collections, by outcome"),
                &["outcome"],
            )?,
            gc_removed_objects: IntCounter::new(
                "depot_gc_removed_objects_total",
                "Objects removed by garbage collection",
            )?,
            gc_removed_bytes: IntCounter::new(
                "depot_gc_removed_bytes_total",
                "Bytes freed by garbage collection",
            )?,
            audit_events_shed: IntCounterVec::new(
                Opts::new(
                    "depot_audit_events_shed_total",
                    "Audit events dropped because the audit log's queue was full, by kind (change, refusal); each drop is also summarised in the log",
                ),
                &["kind"],
            )?,
            audit_events_unwritten: IntCounter::new(
                "depot_audit_events_unwritten_total",
                "Audit events lost because the database refused to write them",
            )?,
            payload_walks: IntCounterVec::new(
                Opts::new(
                    "depot_payload_walks_total",
                    "Walks over RPM payloads (obshell's upgrade uploads), by outcome",
                ),
                &["outcome"],
            )?,
            payload_walks_in_progress: IntGauge::new(
                "depot_payload_walks_in_progress",
                "Walks over RPM payloads running now",
            )?,
            password_hashes_running: IntGauge::new(
                "depot_password_hashes_running",
                "Argon2 password checks running (at most one per core)",
            )?,
            logins_throttled: IntCounter::new(
                "depot_logins_throttled_total",
                "Logins refused (429) after too many failures from their address",
            )?,
            credential_caches_trusted: IntGauge::new(
                "depot_credential_caches_trusted",
                "1 while this server watches credential changes (its credential caches in use), 0 while that watch is down (they are bypassed)",
            )?,
            repo_publications: IntCounterVec::new(
                Opts::new(
                    "depot_repo_publications_total",
                    "yum repository publications, by outcome: new, unchanged, busy (another replica publishes), error",
                ),
                &["outcome"],
            )?,
            repo_publication_seconds: HistogramVec::new(
                HistogramOpts::new(
                    "depot_repo_publication_seconds",
                    "What publishing a yum repository takes (phase=publish), and the lag from a package change to the publication that includes it (phase=lag)",
                )
                .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0]),
                &["phase"],
            )?,
            repo_chunks: IntCounterVec::new(
                Opts::new(
                    "depot_repo_chunks_total",
                    "Chunks of yum metadata that publications wrote, by outcome: remembered (in this replica's memory), reused (from the database's cache) or compressed (a change touched them)",
                ),
                &["outcome"],
            )?,
            region_backlog: IntGaugeVec::new(
                Opts::new(
                    "depot_region_backlog",
                    "Blobs not yet present in a region (pending, copying, failed), as this replica last counted",
                ),
                &["region"],
            )?,
            region_lag_seconds: IntGaugeVec::new(
                Opts::new(
                    "depot_region_lag_seconds",
                    "How long the oldest blob not yet present in a region has waited",
                ),
                &["region"],
            )?,
            region_failures: IntCounterVec::new(
                Opts::new(
                    "depot_region_replication_failures_total",
                    "Replication copies to a region that failed (retried with backoff)",
                ),
                &["region"],
            )?,
            region_replicated_bytes: IntCounterVec::new(
                Opts::new(
                    "depot_region_replicated_bytes_total",
                    "Bytes this replica copied into a region, verified",
                ),
                &["region"],
            )?,
            region_downloads: IntCounterVec::new(
                Opts::new(
                    "depot_region_downloads_total",
                    "Downloads by the region that served them, and why that region: explicit, address, replica, home, fallback (the preferred one lacked the blob)",
                ),
                &["region", "reason"],
            )?,
            patch_operations: IntCounterVec::new(
                Opts::new(
                    "depot_patch_operations_total",
                    "StarlingX patch lifecycle changes, by operation (upload, apply, remove, delete, commit, host-report, host-install, host-drop)",
                ),
                &["operation"],
            )?,
            heap_arenas: IntGauge::new(
                "depot_heap_arenas",
                "The allocator's arenas (glibc), capped at the number of cores",
            )?,
            heap_bytes: IntGaugeVec::new(
                Opts::new(
                    "depot_heap_bytes",
                    "The allocator's heap: in_use (allocated), kept (freed but not returned to the system)",
                ),
                &["state"],
            )?,
            registry,
        };
        m.registry.register(Box::new(m.requests.clone()))?;
        m.registry.register(Box::new(m.request_seconds.clone()))?;
        m.registry.register(Box::new(m.uploaded_bytes.clone()))?;
        m.registry.register(Box::new(m.downloaded_bytes.clone()))?;
        m.registry.register(Box::new(m.uploads_failed.clone()))?;
        m.registry.register(Box::new(m.uploads_in_flight.clone()))?;
        m.registry
            .register(Box::new(m.upload_slots_in_use.clone()))?;
        m.registry.register(Box::new(m.uploads_refused.clone()))?;
        m.registry.register(Box::new(m.uploads_written.clone()))?;
        m.registry.register(Box::new(m.db_seconds.clone()))?;
        m.registry.register(Box::new(m.store_seconds.clone()))?;
        m.registry.register(Box::new(m.gc_runs.clone()))?;
        m.registry
            .register(Box::new(m.gc_removed_objects.clone()))?;
        m.registry.register(Box::new(m.gc_removed_bytes.clone()))?;
        m.registry.register(Box::new(m.audit_events_shed.clone()))?;
        m.registry
            .register(Box::new(m.audit_events_unwritten.clone()))?;
        m.registry.register(Box::new(m.payload_walks.clone()))?;
        m.registry
            .register(Box::new(m.payload_walks_in_progress.clone()))?;
        m.registry
            .register(Box::new(m.password_hashes_running.clone()))?;
        m.registry.register(Box::new(m.logins_throttled.clone()))?;
        m.registry
            .register(Box::new(m.credential_caches_trusted.clone()))?;
        m.registry.register(Box::new(m.repo_publications.clone()))?;
        m.registry
            .register(Box::new(m.repo_publication_seconds.clone()))?;
        m.registry.register(Box::new(m.repo_chunks.clone()))?;
        m.registry.register(Box::new(m.region_backlog.clone()))?;
        m.registry
            .register(Box::new(m.region_lag_seconds.clone()))?;
        m.registry.register(Box::new(m.region_failures.clone()))?;
        m.registry
            .register(Box::new(m.region_replicated_bytes.clone()))?;
        m.registry.register(Box::new(m.region_downloads.clone()))?;
        m.registry.register(Box::new(m.patch_operations.clone()))?;
        m.registry.register(Box::new(m.heap_arenas.clone()))?;
        m.registry.register(Box::new(m.heap_bytes.clone()))?;
        Ok(m)
    }

    /// Everything, in Prometheus's text exposition format.
    pub fn render(&self) -> String {
        if let Some(heap) = crate::allocator::stats() {
            self.heap_arenas.set(heap.arenas as i64);
            for (state, bytes) in [("in_use", heap.in_use), ("kept", heap.kept)] {
                self.heap_bytes
                    .with_label_values(&[state])
                    .set(bytes as i64);
            }
        }
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail but for invalid metrics, which `new` rules out.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Times an object store operation.
    /// Counts an upload by how its bytes reached their content key.
    pub fn upload_stored(&self, placement: crate::store::Placement) {
        self.uploads_written
            .with_label_values(&[placement.label()])
            .inc();
    }

    pub async fn store_op<T, E>(
        &self,
        operation: &str,
        f: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = std::time::Instant::now();
        let result = f.await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.store_seconds
            .with_label_values(&[operation, outcome])
            .observe(started.elapsed().as_secs_f64());
        result
    }
}

/// Counts a patch lifecycle change.
pub fn patch_event(operation: &str) {
    METRICS
        .patch_operations
        .with_label_values(&[operation])
        .inc();
}
