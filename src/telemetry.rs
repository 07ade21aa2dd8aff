//! Logs and traces: `tracing` to stderr (text or JSON), and, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans exported over OTLP (HTTP/JSON)
//! through `tracing-opentelemetry`.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::cli::LogFormat;

/// Keeps the trace exporter alive; flushes it when dropped.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    /// Writes the log lines still queued when dropped.
    _logs: tracing_appender::non_blocking::WorkerGuard,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // The exporter's HTTP client blocks: not on an async worker.
            let flush = move || {
                if let Err(e) = provider.shutdown() {
                    eprintln!("depot: flushing traces: {e}");
                }
            };
            match tokio::runtime::Handle::try_current() {
                Ok(_) => tokio::task::block_in_place(flush),
                Err(_) => flush(),
            }
        }
    }
}

/// Installs the global subscriber. `default_filter` applies without `RUST_LOG`.
pub fn init(format: LogFormat, default_filter: &str) -> Telemetry {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Log lines go to stderr from a thread of their own, in one write per
    // batch: a write per line (one per request) cost ~10% of a small request's
    // CPU. Never lossy: a full queue makes the logging thread wait.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("depot-logs")
        .finish(std::io::BufWriter::with_capacity(
            64 << 10,
            std::io::stderr(),
        ));
    let logs = tracing_subscriber::fmt::layer().with_writer(writer);
    let logs = match format {
        // One JSON object a line, with the request span (route, trace id) in it.
        LogFormat::Json => logs.json().with_current_span(true).boxed(),
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).boxed(),
    };
    // An empty endpoint counts as unset, as the OpenTelemetry specification says.
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty());
    let provider = endpoint.and_then(|endpoint| match exporter() {
        Ok(provider) => Some(provider),
        Err(e) => {
            eprintln!("depot: not exporting traces to {endpoint}: {e}");
            None
        }
    });
    let traces = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("depot"))
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(traces)
        .init();
    Telemetry {
        provider,
        _logs: guard,
    }
}

fn exporter() -> anyhow::Result<SdkTracerProvider> {
    // The SDK reads the endpoint (and OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    // headers, timeout) from the environment itself.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .build()?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "depot".into());
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build())
}
