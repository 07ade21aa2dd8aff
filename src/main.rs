use std::process::ExitCode;

use depot::cli::{self, Cli};
use depot::client::ClientError;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse_args();
    let telemetry = depot::telemetry::init(cli.log_format, cli.default_log_filter());
    let result = cli::run(cli).await;
    drop(telemetry);
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
