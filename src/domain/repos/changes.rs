//! What changed, and the background publisher that follows: a change after
//! a quiet spell is published at once; while a publication runs, changes
//! are gathered, and each repository they touch is published once after it,
//! at most one round per `coalesce` (a burst of uploads makes a few
//! publications, not one each). A repository
//! another replica is publishing is retried; every `RECONCILE` all are
//! checked, which catches what a crashed replica left unpublished.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::{Published, Repos};
use crate::db;
use crate::error::Result;
use crate::metrics::METRICS;

/// How often every repository is checked against its packages.
const RECONCILE: Duration = Duration::from_secs(60);
/// How long before a repository another replica was publishing is retried.
const RETRY: Duration = Duration::from_millis(500);
/// Distinct changes remembered; past it, everything is checked instead.
const MAX_PENDING: usize = 4096;

/// Where the package store reports a changed RPM: cheap to clone, never waits.
#[derive(Clone, Default)]
pub struct RepoChanges(Arc<Pending>);

#[derive(Default)]
struct Pending {
    changed: Mutex<Changed>,
    wake: Notify,
}

#[derive(Default)]
struct Changed {
    /// (operating system, architecture) of changed RPMs.
    tags: HashSet<(String, String)>,
    /// Too many to remember: check everything.
    all: bool,
    /// When the oldest of these changes was reported, for the lag metric.
    since: Option<Instant>,
}

impl RepoChanges {
    /// An RPM of distribution tag `os` and architecture `arch` was stored or deleted.
    pub fn touch(&self, os: &str, arch: &str) {
        if os.is_empty() || arch == "src" {
            return;
        }
        let mut changed = self.0.changed.lock().expect("not poisoned");
        if changed.tags.len() >= MAX_PENDING {
            changed.all = true;
        } else {
            changed.tags.insert((os.to_string(), arch.to_string()));
        }
        changed.since.get_or_insert_with(Instant::now);
        drop(changed);
        self.0.wake.notify_one();
    }

    fn take(&self) -> Changed {
        std::mem::take(&mut *self.0.changed.lock().expect("not poisoned"))
    }
}

impl Repos {
    /// Publishes what changes, until dropped. Every replica runs it.
    pub async fn run_publisher(self) {
        let mut reconcile = tokio::time::interval(RECONCILE);
        reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_round: Option<tokio::time::Instant> = None;
        loop {
            let everything = tokio::select! {
                _ = self.changes.0.wake.notified() => false,
                _ = reconcile.tick() => true,
            };
            // Rounds start at least `coalesce` apart: the first change after
            // a quiet spell is published at once, and what arrives while a
            // round runs (or within `coalesce` of its start) is gathered
            // into the next one.
            if let Some(last) = last_round {
                tokio::time::sleep_until(last + self.config.coalesce).await;
            }
            last_round = Some(tokio::time::Instant::now());
            let mut changed = self.changes.take();
            changed.all |= everything;
            let since = changed.since;
            match self.publish_changed(changed).await {
                Ok(retry) if retry.is_empty() => {
                    if let Some(since) = since {
                        METRICS
                            .repo_publication_seconds
                            .with_label_values(&["lag"])
                            .observe(since.elapsed().as_secs_f64());
                    }
                }
                Ok(retry) => {
                    for (os, arch) in retry {
                        self.changes.touch(&os, &arch);
                    }
                    tokio::time::sleep(RETRY).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "publishing repositories failed; retrying");
                    self.changes.0.changed.lock().expect("not poisoned").all = true;
                    self.changes.0.wake.notify_one();
                    tokio::time::sleep(RETRY * 4).await;
                }
            }
        }
    }

    /// Publishes the repositories `changed` touches; answers those another
    /// replica was publishing.
    async fn publish_changed(&self, changed: Changed) -> Result<Vec<(String, String)>> {
        // Read only when needed: not for the common change, one
        // architecture's RPM, which names its repository.
        let wanted = changed.all || changed.tags.iter().any(|(_, arch)| arch == "noarch");
        let published = if wanted {
            db::repos::list(&self.db).await?
        } else {
            Vec::new()
        };
        let mut targets: HashSet<(String, String)> = HashSet::new();
        if changed.all {
            targets.extend(published.iter().map(|r| (r.os.clone(), r.arch.clone())));
            targets.extend(db::repos::tagged_arches(&self.db).await?);
        }
        for (os, arch) in changed.tags {
            if arch == "noarch" {
                // In every repository of its tag.
                targets.extend(
                    published
                        .iter()
                        .filter(|r| r.os == os)
                        .map(|r| (r.os.clone(), r.arch.clone())),
                );
            } else {
                targets.insert((os, arch));
            }
        }
        let mut busy = Vec::new();
        let mut targets: Vec<_> = targets.into_iter().collect();
        targets.sort();
        for (os, arch) in targets {
            match self.publish(&os, &arch).await {
                Ok(Published::Busy) => busy.push((os, arch)),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(os, arch, error = %e, "publishing a repository failed; retrying");
                    busy.push((os, arch));
                }
            }
        }
        Ok(busy)
    }
}

impl Repos {
    /// Publishes now (`depot repo publish`): `os`/`arch`, or every
    /// repository; waits for another replica's publication of one. Answers
    /// each repository with what happened.
    pub async fn publish_now(
        &self,
        only: Option<(&str, &str)>,
    ) -> Result<Vec<((String, String), Published)>> {
        let mut targets: Vec<(String, String)> = match only {
            Some((os, arch)) => vec![(os.to_string(), arch.to_string())],
            None => {
                let mut all: HashSet<(String, String)> = db::repos::list(&self.db)
                    .await?
                    .into_iter()
                    .map(|r| (r.os, r.arch))
                    .collect();
                all.extend(db::repos::tagged_arches(&self.db).await?);
                all.into_iter().collect()
            }
        };
        targets.sort();
        let mut done = Vec::new();
        for (os, arch) in targets {
            super::check_names(&os, &arch)?;
            let published = self.publish_waiting(&os, &arch).await?;
            done.push(((os, arch), published));
        }
        Ok(done)
    }
}
