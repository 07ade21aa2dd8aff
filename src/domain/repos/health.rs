//! Which repositories do not show their packages: the doctor's check. A
//! publication follows a change within moments, so one that still differs
//! after a pause, with nobody publishing it, is stuck (its publications fail,
//! or no replica runs the publisher).

use std::time::Duration;

use chrono::Utc;

use super::Repos;
use super::publish::lease_name;
use super::updates::with_comps;
use crate::db;
use crate::domain::doctor::Check;
use crate::error::Result;

/// How long a difference may last before it counts: the publisher's
/// coalescing window and a publication, with room to spare.
const PAUSE: Duration = Duration::from_secs(2);

/// A repository whose publication does not match its packages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stale {
    pub repo: String,
    /// Packages it has, and packages its publication lists (`None`: never published).
    pub packages: usize,
    pub published: Option<usize>,
}

impl Repos {
    /// Repositories whose publication does not show their packages.
    pub async fn doctor_check(&self) -> Check {
        const NAME: &str = "repositories published";
        match self.stale().await {
            Ok((stale, checked)) if stale.is_empty() => Check::ok(
                NAME,
                format!("{checked} repositories, each publication current"),
            ),
            Ok((stale, _)) => Check::warn(
                NAME,
                stale
                    .iter()
                    .map(|s| match s.published {
                        Some(n) => format!(
                            "{}: {} packages, its publication lists {n}",
                            s.repo, s.packages
                        ),
                        None => format!("{}: {} packages, never published", s.repo, s.packages),
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                "dnf sees an old view: check the replicas' logs for \"publishing a repository failed\" \
                 (often the store refusing writes), or run `depot repo publish`",
            ),
            Err(e) => Check::warn(NAME, e.to_string(), "check the database"),
        }
    }

    /// Repositories whose publication is stale, and how many were checked.
    pub async fn stale(&self) -> Result<(Vec<Stale>, usize)> {
        let mut targets: Vec<(String, String)> = db::repos::list(&self.db)
            .await?
            .into_iter()
            .map(|r| (r.os, r.arch))
            .collect();
        for tag in db::repos::tagged_arches(&self.db).await? {
            if !targets.contains(&tag) {
                targets.push(tag);
            }
        }
        let mut suspects = Vec::new();
        for (os, arch) in &targets {
            if let Some(stale) = self.differs(os, arch).await? {
                suspects.push((os, arch, stale));
            }
        }
        if suspects.is_empty() {
            return Ok((Vec::new(), targets.len()));
        }
        tokio::time::sleep(PAUSE).await;
        let mut stale = Vec::new();
        for (os, arch, _) in suspects {
            if let Some(still) = self.differs(os, arch).await? {
                stale.push(still);
            }
        }
        Ok((stale, targets.len()))
    }

    /// `Some` when `os`/`arch`'s publication differs from its packages and
    /// nobody is publishing it.
    async fn differs(&self, os: &str, arch: &str) -> Result<Option<Stale>> {
        if db::locks::is_held(&self.db, &lease_name(os, arch), Utc::now()).await? {
            return Ok(None);
        }
        let row = db::repos::find(&self.db, os, arch).await?;
        let (packages, count) = self.content_now(os, arch).await?;
        let content = with_comps(&packages, self.comps_of(os, arch).await?.as_deref());
        let stale = match &row {
            None => count > 0,
            Some(row) => row.content != content,
        };
        Ok(stale.then(|| Stale {
            repo: format!("{os}/{arch}"),
            packages: count,
            published: row.map(|r| r.package_count as usize),
        }))
    }
}
