//! A publication's packages cut into chunks, each file's part of a chunk
//! compressed as a gzip member of its own: a gzip file may hold several
//! members one after the other, read as one stream (RFC 1952 §2.2; zlib's
//! `gzread`, which dnf's libsolv and librepo use, and Python's `gzip`, which
//! yum uses, read them all). A chunk is named by a digest of what it holds,
//! so a publication reuses the compressed bytes of every chunk a change did
//! not touch and compresses only the others — compression is what a
//! publication spent most on — and the XML of a reused chunk, which the
//! open-checksum needs, comes from inflating it, not from the database. Pure.
//!
//! Where chunks end depends on each package alone (`ends_chunk`), not on
//! its position: adding or removing a package changes the chunk it is in
//! and leaves every other chunk as it was.

use std::io::{Read, Write};

use flate2::{Compression, GzBuilder};

/// Packages per chunk on average (a chunk ends after a package with
/// probability 1/AVERAGE)...
const AVERAGE: u64 = 64;
/// ...and at most: a chunk ends here whatever its packages, which bounds
/// the memory a chunk holds.
pub const MAX_PACKAGES: usize = 256;
/// Changes whenever the fragments or their compression change, so that no
/// chunk cached by an older depot is reused.
const FORMAT: &[u8] = b"depot rpm-md chunk 1";

/// A package as a chunk's key sees it: what its entries depend on.
#[derive(Clone, Debug)]
pub struct Entry {
    pub package_id: i64,
    /// SHA-256 of the RPM: its pkgid.
    pub pkgid: String,
    pub file_name: String,
}

/// A chunk's part of each file, uncompressed: its packages' `<package>`
/// entries one after the other.
#[derive(Clone, Debug, Default)]
pub struct Texts {
    pub primary: String,
    pub filelists: String,
    pub other: String,
}

/// Consecutive packages of a publication.
#[derive(Debug)]
pub struct Chunk {
    /// A digest of the packages, their bytes and where they are downloaded
    /// from: two chunks with the same key have the same entries.
    pub key: String,
    pub entries: Vec<Entry>,
}

/// A chunk's three files' gzip members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compressed {
    pub primary: Vec<u8>,
    pub filelists: Vec<u8>,
    pub other: Vec<u8>,
}

/// Cuts a publication's packages, given in order, into chunks.
pub struct Chunker {
    public: bool,
    pending: Vec<Entry>,
}

impl Chunker {
    /// `public`: whether packages are downloaded anonymously, which their
    /// `location href` says.
    pub fn new(public: bool) -> Self {
        Self {
            public,
            pending: Vec::new(),
        }
    }

    /// Adds the next package; answers the chunk it ends, if it ends one.
    pub fn push(&mut self, entry: Entry) -> Option<Chunk> {
        let ends = ends_chunk(entry.package_id);
        self.pending.push(entry);
        (ends || self.pending.len() >= MAX_PACKAGES).then(|| self.cut())
    }

    /// The last chunk, if packages are left.
    pub fn finish(mut self) -> Option<Chunk> {
        (!self.pending.is_empty()).then(|| self.cut())
    }

    fn cut(&mut self) -> Chunk {
        let entries = std::mem::take(&mut self.pending);
        Chunk {
            key: key(self.public, &entries),
            entries,
        }
    }
}

/// Whether a chunk ends after package `id`: a hash of the id (SplitMix64's
/// finaliser), so that chunks end at the same packages in every publication.
pub fn ends_chunk(id: i64) -> bool {
    let mut z = (id as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    z.is_multiple_of(AVERAGE)
}

fn key(public: bool, entries: &[Entry]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(FORMAT);
    h.update(&[u8::from(public)]);
    for e in entries {
        h.update(&e.package_id.to_be_bytes());
        for s in [&e.pkgid, &e.file_name] {
            h.update(&(s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        }
    }
    h.finalize().to_hex().to_string()
}

/// Compresses a chunk's three parts.
pub fn compress(texts: &Texts) -> Compressed {
    Compressed {
        primary: member(&texts.primary),
        filelists: member(&texts.filelists),
        other: member(&texts.other),
    }
}

/// Feeds what gzip member(s) `gzip` hold to `sink`, a buffer at a time.
pub fn inflate(gzip: &[u8], mut sink: impl FnMut(&[u8])) -> std::io::Result<()> {
    let mut reader = flate2::read::MultiGzDecoder::new(gzip);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf)? {
            0 => return Ok(()),
            n => sink(&buf[..n]),
        }
    }
}

/// What a chunk's members hold, inflated; an error when they are not gzip
/// holding UTF-8.
pub fn texts_of(compressed: &Compressed) -> std::io::Result<Texts> {
    let text = |gzip: &[u8]| {
        let mut xml = Vec::new();
        inflate(gzip, |b| xml.extend_from_slice(b))?;
        String::from_utf8(xml).map_err(std::io::Error::other)
    };
    Ok(Texts {
        primary: text(&compressed.primary)?,
        filelists: text(&compressed.filelists)?,
        other: text(&compressed.other)?,
    })
}

/// `text` as one gzip member.
pub fn member(text: &str) -> Vec<u8> {
    let mut gz = encoder();
    gz.write_all(text.as_bytes()).expect("writing to memory");
    gz.finish().expect("writing to memory")
}

/// No name and a zero mtime: the same XML always makes the same bytes.
fn encoder() -> flate2::write::GzEncoder<Vec<u8>> {
    GzBuilder::new().write(Vec::new(), Compression::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64) -> Entry {
        Entry {
            package_id: id,
            pkgid: format!("{id:064x}"),
            file_name: format!("p{id}-1-1.el7.x86_64.rpm"),
        }
    }

    fn texts(chunk: &Chunk) -> Texts {
        let mut t = Texts::default();
        for e in &chunk.entries {
            t.primary
                .push_str(&format!("<package>{}</package>\n", e.package_id));
            t.filelists
                .push_str(&format!("<package pkgid=\"{}\"/>\n", e.pkgid));
            t.other
                .push_str(&format!("<package pkgid=\"{}\" o/>\n", e.pkgid));
        }
        t
    }

    fn chunks(ids: impl IntoIterator<Item = i64>) -> Vec<Chunk> {
        let mut chunker = Chunker::new(false);
        let mut out: Vec<Chunk> = ids
            .into_iter()
            .filter_map(|id| chunker.push(entry(id)))
            .collect();
        out.extend(chunker.finish());
        out
    }

    #[test]
    fn chunks_average_their_size_and_respect_the_maximum() {
        let all = chunks(0..10_000);
        assert_eq!(all.iter().map(|c| c.entries.len()).sum::<usize>(), 10_000);
        let average = 10_000 / all.len();
        assert!(
            (32..=128).contains(&average),
            "{average} packages per chunk"
        );
        assert!(all.iter().all(|c| c.entries.len() <= MAX_PACKAGES));
    }

    #[test]
    fn an_added_package_changes_only_its_own_chunk() {
        let before = chunks((0..5_000).filter(|id| id % 2 == 0));
        // An odd id lands between two even ones, in the middle.
        let after = chunks((0..5_000).filter(|id| id % 2 == 0 || *id == 2_501));
        let old: std::collections::HashSet<&str> = before.iter().map(|c| c.key.as_str()).collect();
        let new: Vec<&Chunk> = after
            .iter()
            .filter(|c| !old.contains(c.key.as_str()))
            .collect();
        // One chunk changed (two if the new package itself ends a chunk).
        assert!((1..=2).contains(&new.len()), "{} new chunks", new.len());
        assert!(
            new.iter()
                .any(|c| c.entries.iter().any(|e| e.package_id == 2_501))
        );
    }

    #[test]
    fn the_key_covers_what_the_entries_say_and_where_packages_are_fetched() {
        let a = chunks(0..10);
        let mut public = Chunker::new(true);
        let mut b: Vec<Chunk> = (0..10).filter_map(|id| public.push(entry(id))).collect();
        b.extend(public.finish());
        assert_ne!(a[0].key, b[0].key);
        let mut other = Chunker::new(false);
        let mut e = entry(0);
        e.pkgid = "f".repeat(64);
        let c = other.push(e).or_else(|| other.finish()).unwrap();
        assert_ne!(a[0].key, c.key);
    }

    #[test]
    fn members_concatenated_read_as_one_stream() {
        let all = chunks(0..500);
        let mut file = member("<head>\n");
        let mut text = String::from("<head>\n");
        for c in &all {
            file.extend(compress(&texts(c)).primary);
            text.push_str(&texts(c).primary);
        }
        file.extend(member("</tail>\n"));
        text.push_str("</tail>\n");
        let mut read = String::new();
        flate2::read::MultiGzDecoder::new(&file[..])
            .read_to_string(&mut read)
            .unwrap();
        assert_eq!(read, text);
        // inflate gives the same, whatever the buffer boundaries.
        let mut inflated = Vec::new();
        inflate(&file, |b| inflated.extend_from_slice(b)).unwrap();
        assert_eq!(inflated, text.as_bytes());
        // The same entries always compress to the same bytes.
        assert_eq!(compress(&texts(&all[0])), compress(&texts(&all[0])));
    }

    #[test]
    fn inflate_refuses_what_is_not_gzip() {
        assert!(inflate(b"not gzip at all", |_| {}).is_err());
        let all = chunks(0..100);
        let t = texts(&all[0]);
        let mut c = compress(&t);
        let back = texts_of(&c).unwrap();
        assert_eq!(
            (back.primary, back.filelists, back.other),
            (t.primary, t.filelists, t.other)
        );
        c.other = b"not gzip".to_vec();
        assert!(texts_of(&c).is_err());
        c.other = member("ok");
        c.filelists = {
            let mut gz = encoder();
            gz.write_all(&[0xff, 0xfe]).unwrap();
            gz.finish().unwrap()
        };
        assert!(texts_of(&c).is_err(), "not UTF-8");
    }
}
