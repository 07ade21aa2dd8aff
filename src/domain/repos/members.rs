//! A repository's packages, in publication order, a page at a time. One
//! query lists their ids (8 bytes a package, held for the publication);
//! what else a publication needs of a package (its name, file, digest) never
//! changes while it exists, so each replica remembers it (`Members`) and
//! reads only packages it has not seen. A survey (the first pass) computes
//! the fragments of packages stored before repositories existed and what
//! the publication will contain; the writing pass reads the same pages
//! again, in the same snapshot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::Repos;
use super::rpmmd::{FileFacts, fragments};
use crate::db::{self, repos::Member};
use crate::domain::rpm_header::read_rpm_metadata;
use crate::error::{Error, Result};
use crate::store::Path;
use entity::repo_package;
use sea_orm::ConnectionTrait;

/// Packages read from the database at a time.
pub(super) const PAGE: usize = 1024;
/// Packages a replica remembers (about 200 bytes each).
const REMEMBERED: usize = 250_000;

/// What a replica remembers of packages, by id: a package's row never
/// changes (ids are not reused), so an entry is never stale. When full it
/// is emptied (and filled again by the next publications): a replica
/// serving more packages than it remembers reads them as it did before it
/// remembered any. A plain map rather than a least-recently-used list: a
/// publication looks up every member, and relinking a list on each of
/// those lookups cost more than the lookups.
#[derive(Default)]
pub(super) struct Members(Mutex<HashMap<i64, Arc<Member>>>);

impl Members {
    /// Those of `ids` remembered with their fragments.
    fn with_fragments(&self, ids: &[i64]) -> Vec<Option<Arc<Member>>> {
        let known = self.0.lock().expect("not poisoned");
        ids.iter()
            .map(|id| known.get(id).filter(|m| m.has_fragments).cloned())
            .collect()
    }

    fn put(&self, member: Arc<Member>) {
        let mut known = self.0.lock().expect("not poisoned");
        if known.len() >= REMEMBERED {
            known.clear();
        }
        known.insert(member.package_id, member);
    }
}

/// The pages of repository `os`/`arch`'s members, read through `db` (a
/// publication's snapshot).
pub(super) struct Pages<'a, C> {
    db: &'a C,
    known: &'a Members,
    ids: Vec<i64>,
    next: usize,
    /// The members themselves, kept from the survey: not looked up again.
    kept: Option<std::vec::IntoIter<Arc<Member>>>,
}

impl<'a, C: ConnectionTrait> Pages<'a, C> {
    pub(super) async fn new(db: &'a C, known: &'a Members, os: &str, arch: &str) -> Result<Self> {
        let ids = db::repos::member_ids(db, os, arch).await?;
        Ok(Self::of(db, known, ids))
    }

    /// The pages of members `ids` (as `member_ids` listed them).
    pub(super) fn of(db: &'a C, known: &'a Members, ids: Vec<i64>) -> Self {
        Self {
            db,
            known,
            ids,
            next: 0,
            kept: None,
        }
    }

    /// The pages of `kept`, the members of `ids` a survey read (as
    /// `Survey::members`), taken as they are; else read as `of` reads them.
    pub(super) fn kept(
        db: &'a C,
        known: &'a Members,
        ids: Vec<i64>,
        kept: Option<Vec<Arc<Member>>>,
    ) -> Self {
        Self {
            kept: kept.map(Vec::into_iter),
            ..Self::of(db, known, ids)
        }
    }

    /// The next page; `None` after the last.
    pub(super) async fn next(&mut self) -> Result<Option<Vec<Arc<Member>>>> {
        if let Some(kept) = &mut self.kept {
            let page: Vec<_> = kept.by_ref().take(PAGE).collect();
            self.next += page.len();
            return Ok((!page.is_empty()).then_some(page));
        }
        let ids = &self.ids[self.next..self.ids.len().min(self.next + PAGE)];
        if ids.is_empty() {
            return Ok(None);
        }
        self.next += ids.len();
        // A package's fragments, once stored, stay as long as it does: one
        // remembered with them is not read again. One remembered without
        // them is (they may have been computed since).
        let mut page = self.known.with_fragments(ids);
        let unknown: Vec<i64> = ids
            .iter()
            .zip(&page)
            .filter(|(_, m)| m.is_none())
            .map(|(id, _)| *id)
            .collect();
        let mut read: HashMap<i64, Member> = db::repos::members_by_id(self.db, &unknown)
            .await?
            .into_iter()
            .map(|m| (m.package_id, m))
            .collect();
        let mut members = Vec::with_capacity(ids.len());
        for (id, known) in ids.iter().zip(page.iter_mut()) {
            let member = match known.take() {
                Some(m) => m,
                None => {
                    let m = Arc::new(read.remove(id).ok_or_else(|| {
                        Error::internal(format!("package {id} vanished within a snapshot"))
                    })?);
                    self.known.put(m.clone());
                    m
                }
            };
            members.push(member);
        }
        Ok(Some(members))
    }
}

/// What a publication contains: its packages and their bytes, in order (a
/// re-upload under the same name is a new id), and where packages are
/// downloaded from (`--repos-public`).
pub(super) struct Content {
    digest: Sha256,
    pub count: usize,
}

impl Content {
    pub(super) fn new(public: bool) -> Self {
        let mut digest = Sha256::new();
        digest.update([u8::from(public)]);
        Self { digest, count: 0 }
    }

    pub(super) fn add(&mut self, member: &Member) {
        self.digest.update(member.package_id.to_be_bytes());
        self.digest.update(member.sha256.as_bytes());
        self.count += 1;
    }

    pub(super) fn finish(self) -> (String, usize) {
        (hex::encode(self.digest.finalize()), self.count)
    }
}

/// What a survey found.
pub(super) struct Survey {
    /// The content digest and count (as `Content::finish`).
    pub content: (String, usize),
    /// Fragments were computed for packages that had none: a snapshot
    /// taken before does not see them.
    pub backfilled: bool,
    /// The members' ids as listed, for the writing pass.
    pub ids: Vec<i64>,
    /// The members read, for the writing pass not to look them up again
    /// (at 10,000 packages that cost 4 ms): kept when no fragments were
    /// computed (else the writing pass must read those members again) and
    /// the repository is no larger than what a replica remembers of
    /// packages, so that holding them adds at most that bound again.
    pub members: Option<Vec<Arc<Member>>>,
    /// How long listing them took.
    pub listed: std::time::Duration,
}

impl Repos {
    /// The first pass, through the publication's snapshot `db`: what a
    /// publication of `os`/`arch` contains, computing (on the side, outside
    /// the snapshot) the fragments that are missing. A package whose header
    /// cannot be read is left out.
    pub(super) async fn survey(
        &self,
        db: &impl ConnectionTrait,
        os: &str,
        arch: &str,
    ) -> Result<Survey> {
        let mut content = Content::new(self.config.public);
        let mut backfilled = false;
        let began = std::time::Instant::now();
        let mut pages = Pages::new(db, &self.members, os, arch).await?;
        let listed = began.elapsed();
        let mut kept = (pages.ids.len() <= REMEMBERED).then(|| Vec::with_capacity(pages.ids.len()));
        while let Some(page) = pages.next().await? {
            for member in &page {
                if member.has_fragments {
                    content.add(member);
                } else if self.backfill(member).await? {
                    backfilled = true;
                    content.add(member);
                }
            }
            if let Some(kept) = &mut kept {
                kept.extend(page);
            }
        }
        Ok(Survey {
            content: content.finish(),
            backfilled,
            ids: pages.ids,
            members: kept.filter(|_| !backfilled),
            listed,
        })
    }

    /// Computes the fragments of a package stored before repositories
    /// existed, reading its header (its SHA-256 is known): once per package.
    /// `false` when its header is unreadable.
    async fn backfill(&self, member: &Member) -> Result<bool> {
        let stream = self
            .store
            .get(&Path::from(member.blob_key.as_str()), None)
            .await?
            .into_stream();
        let reader = SyncIoBridge::new(StreamReader::new(stream.map_err(std::io::Error::other)));
        let facts = FileFacts {
            sha256: member.sha256.clone(),
            size: member.size as u64,
            time: member.created_at.timestamp(),
        };
        let made = tokio::task::spawn_blocking(move || {
            let (_, _, meta) = read_rpm_metadata(reader)?;
            fragments(&meta, &facts)
        })
        .await
        .map_err(Error::internal)?;
        match made {
            Ok(f) => {
                db::repos::insert_fragments(
                    &self.db,
                    repo_package::Model {
                        package_id: member.package_id,
                        pkgid: member.sha256.clone(),
                        primary: f.primary,
                        filelists: f.filelists,
                        other: f.other,
                    },
                )
                .await?;
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(file = %member.file_name, error = %e, "an RPM's header is unreadable; it is left out of its repository");
                Ok(false)
            }
        }
    }
}

impl Repos {
    /// What a publication of `os`/`arch` would contain now, read only: a
    /// package whose fragments were never computed counts as missing.
    pub(super) async fn content_now(&self, os: &str, arch: &str) -> Result<(String, usize)> {
        let mut content = Content::new(self.config.public);
        let mut pages = Pages::new(&self.db, &self.members, os, arch).await?;
        while let Some(page) = pages.next().await? {
            for member in page.iter().filter(|m| m.has_fragments) {
                content.add(member);
            }
        }
        Ok(content.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_of_packages_stays_within_its_bound() {
        let known = Members::default();
        for id in 0..=REMEMBERED as i64 {
            known.put(Arc::new(Member {
                package_id: id,
                name: String::new(),
                file_name: String::new(),
                blob_key: String::new(),
                size: 0,
                sha256: String::new(),
                created_at: chrono::DateTime::UNIX_EPOCH,
                has_fragments: true,
            }));
        }
        let len = known.0.lock().unwrap().len();
        assert!(len <= REMEMBERED, "{len} packages remembered");
        // Emptied when full, then the newest one kept.
        assert_eq!(
            known.with_fragments(&[REMEMBERED as i64])[0]
                .as_ref()
                .map(|m| m.package_id),
            Some(REMEMBERED as i64)
        );
    }
}
