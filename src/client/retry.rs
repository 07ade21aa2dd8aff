//! The client's one retry loop: creating an upload, sending it and fetching
//! a package all go through [`retry`].

use std::time::Duration;

use indicatif::ProgressBar;

use super::{ClientError, ClientResult};

/// How a retried operation is retried.
pub(super) struct Policy {
    /// Failed tries in a row without progress before giving up.
    pub attempts: u32,
    /// Tries in a row that could not connect at all (refused, no route, no
    /// such host) before giving up: a server that is not there seldom comes
    /// back within the minutes `attempts` would wait.
    pub unreachable_attempts: u32,
    /// Where each retry is said (stderr, above the progress bar when one shows).
    pub announce: Announce,
    /// The pause before a retry, by the number of failures in a row before it.
    pub backoff: fn(u32) -> Duration,
}

/// Where a retry is said, and of what: a person waiting must know why
/// nothing moves.
/// On stderr, above the progress bar when one shows.
pub(super) struct Announce {
    bar: Option<ProgressBar>,
    subject: String,
}

impl Announce {
    /// Retries of the transfer of `file`.
    pub fn new(bar: Option<ProgressBar>, file: &std::path::Path) -> Self {
        Announce {
            bar,
            subject: file.display().to_string(),
        }
    }

    fn say(&self, text: &str) {
        let line = || eprintln!("depot: {}: {text}", self.subject);
        match &self.bar {
            Some(bar) => bar.suspend(line),
            None => line(),
        }
    }
}

impl Policy {
    /// Ten tries in a row without progress, then give up; four that cannot
    /// connect (about 4 s) before the server was ever reached.
    pub fn patient(announce: Announce) -> Self {
        Self {
            attempts: 10,
            unreachable_attempts: 3,
            announce,
            backoff,
        }
    }

    /// Once the server was reached: a restart may refuse connections for a
    /// while, so seven tries (about 30 s) before giving up.
    pub fn reached(mut self) -> Self {
        self.unreachable_attempts = 6;
        self
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
        /// It could not connect at all.
        unreachable: bool,
    },
    /// No retry changes it.
    Permanent(ClientError),
}

impl Failure {
    pub fn transient(why: impl Into<String>) -> Self {
        Failure::Transient {
            why: why.into(),
            progressed: false,
            unreachable: false,
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
        let unreachable = e.is_connect();
        let why = match ClientError::from(e) {
            ClientError::Network(why) => why,
            other => other.to_string(),
        };
        Failure::Transient {
            why,
            progressed: false,
            unreachable,
        }
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
    let mut unreachable_in_a_row = 0u32;
    loop {
        let why = match attempt().await {
            Ok(value) => return Ok(value),
            Err(Failure::Permanent(e)) => return Err(e),
            Err(Failure::Transient {
                why,
                progressed,
                unreachable,
            }) => {
                failures = if progressed { 1 } else { failures + 1 };
                unreachable_in_a_row = if unreachable {
                    unreachable_in_a_row + 1
                } else {
                    0
                };
                why
            }
        };
        if unreachable_in_a_row > policy.unreachable_attempts {
            return Err(ClientError::Network(format!(
                "{why} (gave up after {unreachable_in_a_row} attempts)"
            )));
        }
        if failures > policy.attempts {
            return Err(ClientError::Network(format!(
                "no progress after {} attempts: {why}",
                policy.attempts
            )));
        }
        let pause = (policy.backoff)(failures - 1);
        let (tries, of) = match unreachable_in_a_row {
            0 => (failures, policy.attempts),
            n => (n, policy.unreachable_attempts),
        };
        tracing::debug!(%why, failures, "retrying");
        policy.announce.say(&format!(
            "{why}; retrying in {} (retry {tries} of {of})",
            humantime::format_duration(round_to_tenths(pause))
        ));
        tokio::time::sleep(pause).await;
    }
}

fn round_to_tenths(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64 / 100 * 100)
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
            unreachable_attempts: 1,
            announce: Announce::new(None, std::path::Path::new("test")),
            backoff: |_| Duration::ZERO,
        }
    }

    #[tokio::test]
    async fn an_unreachable_server_is_given_up_sooner() {
        let mut tries = 0;
        let result: ClientResult<()> = retry(&policy(), async || {
            tries += 1;
            Err(Failure::Transient {
                why: "cannot connect".into(),
                progressed: false,
                unreachable: true,
            })
        })
        .await;
        assert!(matches!(result, Err(ClientError::Network(m)) if m.contains("gave up after 2")));
        assert_eq!(tries, 2);
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
                    unreachable: false,
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
