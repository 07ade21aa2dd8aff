//! The client's one retry loop: creating an upload, sending it and fetching
//! a package all go through [`retry`].

use std::time::Duration;

use super::{ClientError, ClientResult};

/// How a retried operation is retried.
pub(super) struct Policy {
    /// Failed tries in a row without progress before giving up.
    pub attempts: u32,
    /// Say each retry on stderr (when no progress bar shows what happens).
    pub announce: bool,
    /// The pause before a retry, by the number of failures in a row before it.
    pub backoff: fn(u32) -> Duration,
}

impl Policy {
    /// Ten tries in a row without progress, then give up.
    pub fn patient(announce: bool) -> Self {
        Self {
            attempts: 10,
            announce,
            backoff,
        }
    }
}

/// Why one try failed.
pub(super) enum Failure {
    /// Worth another try after a pause: the network, the server's
    /// availability, a busy upload.
    Transient {
        why: String,
        /// The try moved forward (the server holds more, or we received
        /// more): the count of failures in a row starts again.
        progressed: bool,
    },
    /// No retry changes it.
    Permanent(ClientError),
}

impl Failure {
    pub fn transient(why: impl Into<String>) -> Self {
        Failure::Transient {
            why: why.into(),
            progressed: false,
        }
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Permanent(e)
    }
}

/// The network failing is always worth another try.
impl From<reqwest::Error> for Failure {
    fn from(e: reqwest::Error) -> Self {
        Failure::transient(ClientError::from(e).to_string())
    }
}

/// Runs `attempt` until it succeeds or fails for good. After a transient
/// failure it pauses (`policy.backoff`) and tries again; after `policy.attempts`
/// failures in a row without progress, it gives up with a network error.
pub(super) async fn retry<T>(
    policy: &Policy,
    mut attempt: impl AsyncFnMut() -> Result<T, Failure>,
) -> ClientResult<T> {
    let mut failures = 0u32;
    loop {
        let why = match attempt().await {
            Ok(value) => return Ok(value),
            Err(Failure::Permanent(e)) => return Err(e),
            Err(Failure::Transient { why, progressed }) => {
                failures = if progressed { 1 } else { failures + 1 };
                why
            }
        };
        if failures > policy.attempts {
            return Err(ClientError::Network(format!(
                "no progress after {} attempts: {why}",
                policy.attempts
            )));
        }
        tracing::debug!(%why, failures, "retrying");
        if policy.announce {
            eprintln!("depot: {why}; resuming");
        }
        tokio::time::sleep((policy.backoff)(failures - 1)).await;
    }
}

/// Retries after network failures: 0.5 s, 1 s, 2 s … up to 30 s apart.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.min(6))).min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(50), Duration::from_secs(30));
    }

    fn policy() -> Policy {
        Policy {
            attempts: 2,
            announce: false,
            backoff: |_| Duration::ZERO,
        }
    }

    #[tokio::test]
    async fn gives_up_after_failures_in_a_row() {
        let mut tries = 0;
        let result: ClientResult<()> = retry(&policy(), async || {
            tries += 1;
            Err(Failure::transient("down"))
        })
        .await;
        assert!(matches!(result, Err(ClientError::Network(m)) if m.ends_with("down")));
        assert_eq!(tries, 3);
    }

    #[tokio::test]
    async fn progress_starts_the_count_again() {
        let mut tries = 0;
        let result = retry(&policy(), async || {
            tries += 1;
            match tries {
                6 => Ok(tries),
                n => Err(Failure::Transient {
                    why: "cut".into(),
                    progressed: n % 2 == 0,
                }),
            }
        })
        .await;
        assert_eq!(result.unwrap(), 6);
    }

    #[tokio::test]
    async fn a_permanent_failure_is_not_retried() {
        let mut tries = 0;
        let result: ClientResult<()> = retry(&policy(), async || {
            tries += 1;
            Err(ClientError::Forbidden("no".into()).into())
        })
        .await;
        assert!(matches!(result, Err(ClientError::Forbidden(_))));
        assert_eq!(tries, 1);
    }
}
