//! A repository's packages, read a page at a time in publication order: a
//! publication of 100,000 packages holds one page, never the whole list.
//! A survey (the first pass) computes the fragments of packages stored
//! before repositories existed and what the publication will contain; the
//! writing pass reads the same pages again, in the same snapshot.

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
pub(super) const PAGE: u64 = 1024;

/// The pages of repository `os`/`arch`'s members, read through `db` (a
/// publication's snapshot).
pub(super) struct Pages<'a, C> {
    db: &'a C,
    os: String,
    arch: String,
    after: Option<(String, i64)>,
    done: bool,
}

impl<'a, C: ConnectionTrait> Pages<'a, C> {
    pub(super) fn new(db: &'a C, os: &str, arch: &str) -> Self {
        Self {
            db,
            os: os.to_string(),
            arch: arch.to_string(),
            after: None,
            done: false,
        }
    }

    /// The next page; `None` after the last.
    pub(super) async fn next(&mut self) -> Result<Option<Vec<Member>>> {
        if self.done {
            return Ok(None);
        }
        let after = self.after.as_ref().map(|(n, id)| (n.as_str(), *id));
        let page = db::repos::members_page(self.db, &self.os, &self.arch, after, PAGE).await?;
        self.done = (page.len() as u64) < PAGE;
        match page.last() {
            Some(last) => self.after = Some((last.name.clone(), last.package_id)),
            None => return Ok(None),
        }
        Ok(Some(page))
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
        let mut pages = Pages::new(db, os, arch);
        while let Some(page) = pages.next().await? {
            for member in &page {
                if member.has_fragments {
                    content.add(member);
                } else if self.backfill(member).await? {
                    backfilled = true;
                    content.add(member);
                }
            }
        }
        Ok(Survey {
            content: content.finish(),
            backfilled,
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
        let mut pages = Pages::new(&self.db, os, arch);
        while let Some(page) = pages.next().await? {
            for member in page.iter().filter(|m| m.has_fragments) {
                content.add(member);
            }
        }
        Ok(content.finish())
    }
}
