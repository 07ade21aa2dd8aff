//! Liveness: whether this process can still serve. Answering HTTP is not
//! enough: with its blocking threads all taken, depot answers `/healthz`
//! while every request that touches a file hangs. So the probe runs a
//! trivial blocking job and fails when it does not run within a bound.

use std::time::Duration;

use crate::error::{Error, Result};

/// Longer than any blocking job depot runs while healthy waits for a thread.
pub const ALIVE_WITHIN: Duration = Duration::from_secs(2);

pub async fn check_alive() -> Result<()> {
    match tokio::time::timeout(ALIVE_WITHIN, tokio::task::spawn_blocking(|| ())).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Error::internal(e)),
        Err(_) => Err(Error::ServerBusy(format!(
            "a blocking job did not start within {ALIVE_WITHIN:?}: the blocking threads are exhausted"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_free_runtime_is_alive() {
        check_alive().await.unwrap();
    }

    /// With every blocking thread taken, the probe fails instead of hanging.
    #[test]
    fn exhausted_blocking_threads_fail_the_probe() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(1)
            .enable_time()
            .build()
            .unwrap();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        runtime.block_on(async {
            let _taken = tokio::task::spawn_blocking(move || wait.recv());
            let probe = check_alive().await;
            assert!(matches!(probe, Err(Error::ServerBusy(_))), "{probe:?}");
        });
        release.send(()).unwrap();
        runtime.shutdown_background();
    }
}
