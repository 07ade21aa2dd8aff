//! What a collection found: counts and bytes by kind, as the CLI, the
//! doctor and the logs show them.

use std::fmt;

use chrono::Utc;

/// What a collection removed (or, dry, would remove).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub dry_run: bool,
    /// Another replica was collecting: nothing was done.
    pub skipped: bool,
    pub unreferenced_objects: u64,
    pub unreferenced_bytes: u64,
    pub expired_uploads: u64,
    pub expired_upload_bytes: u64,
    pub stray_upload_parts: u64,
    pub stray_upload_bytes: u64,
    pub staging_leftovers: u64,
    pub staging_bytes: u64,
    /// Repository metadata files of publications that never became current
    /// (their switch failed, or their replica died while writing them).
    pub orphan_repo_files: u64,
    pub orphan_repo_bytes: u64,
    /// Writes that never finished, outside any listing of objects: a local
    /// store's temporary files, S3's unaborted multipart uploads.
    pub unfinished_writes: u64,
    pub unfinished_bytes: u64,
    /// When the oldest of them was last written to.
    pub oldest_unfinished: Option<chrono::DateTime<Utc>>,
    /// A part of the store that could not be searched, and why.
    pub blind_spot: Option<String>,
    /// Copies removed from regions other than this replica's own store.
    pub region_objects: u64,
    pub region_bytes: u64,
    /// Region copies left for a later pass (in flight, or their store failed).
    pub region_deferred: u64,
}

impl Report {
    pub fn objects(&self) -> u64 {
        self.unreferenced_objects
            + self.stray_upload_parts
            + self.staging_leftovers
            + self.orphan_repo_files
            + self.unfinished_writes
            + self.region_objects
    }

    pub fn bytes(&self) -> u64 {
        self.unreferenced_bytes
            + self.expired_upload_bytes
            + self.stray_upload_bytes
            + self.staging_bytes
            + self.orphan_repo_bytes
            + self.unfinished_bytes
            + self.region_bytes
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.skipped {
            return f.write_str("another replica is collecting; nothing done");
        }
        let verb = if self.dry_run {
            "would remove"
        } else {
            "removed"
        };
        let size = |b: u64| bytesize::ByteSize::b(b).display().iec_short().to_string();
        writeln!(
            f,
            "{verb} {} unreferenced object(s), {}",
            self.unreferenced_objects,
            size(self.unreferenced_bytes)
        )?;
        writeln!(
            f,
            "{verb} {} expired upload(s), {}",
            self.expired_uploads,
            size(self.expired_upload_bytes)
        )?;
        writeln!(
            f,
            "{verb} {} stray upload part(s), {}",
            self.stray_upload_parts,
            size(self.stray_upload_bytes)
        )?;
        writeln!(
            f,
            "{verb} {} staging leftover(s), {}",
            self.staging_leftovers,
            size(self.staging_bytes),
        )?;
        writeln!(
            f,
            "{verb} {} metadata file(s) of unfinished repository publications, {}",
            self.orphan_repo_files,
            size(self.orphan_repo_bytes),
        )?;
        writeln!(
            f,
            "{verb} {} unfinished write(s) (temporary files, multipart uploads), {}",
            self.unfinished_writes,
            size(self.unfinished_bytes),
        )?;
        if self.region_objects + self.region_deferred > 0 {
            writeln!(
                f,
                "{verb} {} copie(s) in other regions, {}; {} left for later",
                self.region_objects,
                size(self.region_bytes),
                self.region_deferred,
            )?;
        }
        if let Some(why) = &self.blind_spot {
            writeln!(f, "not searched: {why}")?;
        }
        write!(f, "{} in all", size(self.bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_adds_up_and_reads_well() {
        let report = Report {
            unreferenced_objects: 2,
            unreferenced_bytes: 2048,
            expired_uploads: 1,
            expired_upload_bytes: 1024,
            staging_leftovers: 1,
            staging_bytes: 1,
            orphan_repo_files: 1,
            orphan_repo_bytes: 100,
            unfinished_writes: 2,
            unfinished_bytes: 10,
            ..Report::default()
        };
        assert_eq!(report.objects(), 6);
        assert_eq!(report.bytes(), 3183);
        let text = report.to_string();
        assert!(
            text.starts_with("removed 2 unreferenced object(s), 2.0K"),
            "{text}"
        );
        let dry = Report {
            dry_run: true,
            ..report
        };
        assert!(
            dry.to_string()
                .contains("would remove 2 unfinished write(s)")
        );
        let skipped = Report {
            skipped: true,
            ..Report::default()
        };
        assert!(skipped.to_string().contains("another replica"));
    }
}
