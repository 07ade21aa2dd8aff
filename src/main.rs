use std::process::ExitCode;

use depot::cli::{self, Cli};
use depot::client::ClientError;

fn main() -> ExitCode {
    // Before the runtime starts its threads: glibc fixes the cap then.
    let arenas = depot::allocator::configure();
    let cli = Cli::parse_args();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("depot: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let telemetry = depot::telemetry::init(cli.log_format, cli.default_log_filter());
        if let Some(cap) = arenas {
            tracing::debug!(cap, "capped the allocator's arenas");
        }
        let result = cli::run(cli).await;
        drop(telemetry);
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: what failed, and the code that says what kind of failure it was.
            eprintln!("depot: {e:#}");
            match e.downcast_ref::<ClientError>() {
                Some(client) => ExitCode::from(client.exit_code()),
                None => ExitCode::FAILURE,
            }
        }
    }
}
