//! Streaming extraction of one file from an RPM payload (the bytes after the
//! main header): decompress as declared by the header's PAYLOADCOMPRESSOR tag,
//! then walk the cpio archive ("newc", magic `070701`) entry by entry. Entries
//! before the wanted one are skipped by copying them to a sink, so memory stays
//! bounded whatever the payload size, and reading stops once the file is found.
//!
//! Every walk is bounded (`bounds`): in decompressed bytes, in time, and by
//! its caller, so that a decompression bomb costs depot little.
//!
//! The cpio walk is written here rather than taken from a crate: the `cpio`
//! crate's reader buffers an entry name of any declared length (up to 4 GiB)
//! and refuses names that are not UTF-8, and `cpio_reader` needs the whole
//! archive as a slice. A newc header is 110 ASCII-hex bytes, so the walk is short.

mod bounds;

use std::io::{self, BufReader, Read};

use thiserror::Error;

use bounds::{Bounded, Watch};
pub use bounds::{
    Bounds, MAX_RATIO, MAX_WALK_BYTES, MAX_WALK_TIME, MIN_WALK_BYTES, Stop, max_walk_bytes,
};

/// The liblzma decoder's memory limit. `xz -9` needs 65 MiB; a stream asking
/// for more than this is refused instead of making depot allocate it.
const XZ_MEMORY_LIMIT: u64 = 256 << 20;
/// A newc header: 6-byte magic and 13 fields of 8 hex digits.
const NEWC_HEADER_LEN: usize = 110;
/// Longest entry name accepted (PATH_MAX, with its terminating NUL).
const MAX_NAME_LEN: usize = 4096;
const TRAILER: &[u8] = b"TRAILER!!!";
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;

/// Why a payload could not be searched. The messages are meant for the uploader.
#[derive(Debug, Error)]
pub enum PayloadError {
    #[error(
        "unsupported RPM payload compressor \"{0}\" (depot reads xz, lzma, zstd, gzip, bzip2 and uncompressed payloads)"
    )]
    UnknownCompressor(String),
    #[error("the RPM payload is truncated: it ends inside {0}")]
    Truncated(String),
    #[error("the RPM payload is corrupt: {0}")]
    Corrupt(String),
    #[error("{path} in the RPM payload is {size} bytes, more than the {max} bytes allowed")]
    TooLarge { path: String, size: u64, max: u64 },
    #[error("{path} in the RPM payload is not a regular file")]
    NotRegularFile { path: String },
    /// The underlying reader failed (not the payload's fault).
    #[error("could not read the RPM payload: {0}")]
    Read(#[source] io::Error),
    /// The walk went beyond its bounds, or was stopped.
    #[error("{}", .0.describe())]
    Stopped(Stop),
}

/// Reads the payload (the bytes after the main header) and returns the content of the
/// first entry whose path equals `wanted` (RPM cpio paths look like "./home/admin/...";
/// `wanted` is accepted with or without the leading "./" or "/"), or None when the
/// payload has no such entry.
///
/// `compressor` is the header's PAYLOADCOMPRESSOR tag: "xz", "lzma", "zstd", "gzip",
/// "bzip2", or None / "identity" for an uncompressed payload.
///
/// Refuses (Err) an entry larger than `max_len`, an entry at `wanted` that is not a
/// regular file, an unknown compressor, or a corrupt or truncated stream. A file of a
/// hard-link set is found even when its data is carried by a later member of the set,
/// as rpmbuild writes them.
///
/// Reading stops right after the file's data. When the file is absent, the stream is
/// read to its end, so that the decompressor verifies its checksums before None is
/// returned.
///
/// The walk stays within `bounds`: past its decompressed bytes or its deadline, or
/// once its stop flag is set, it ends with `PayloadError::Stopped`.
pub fn find_in_payload_within(
    payload: impl Read,
    compressor: Option<&str>,
    wanted: &str,
    max_len: u64,
    bounds: &Bounds,
) -> Result<Walked, PayloadError> {
    let watch = Watch::new(bounds);
    let mut source = Source {
        inner: payload,
        watch: &watch,
        failure: None,
    };
    let result = decoder(&mut source, compressor).and_then(|archive| {
        let archive = Bounded {
            inner: archive,
            watch: &watch,
        };
        find_in_cpio(BufReader::new(archive), wanted, max_len)
    });
    let result = match (result, watch.stopped(), source.failure) {
        // Past its bounds: whatever the decoder made of it.
        (Err(_), Some(stop), _) => Err(PayloadError::Stopped(stop)),
        // A decoder reports its input's failure as its own: say what really happened.
        (Err(_), None, Some(failure)) => Err(PayloadError::Read(failure)),
        (result, _, _) => result,
    };
    result.map(|found| Walked {
        found,
        bytes: watch.walked(),
    })
}

/// What a walk found, and how far it read.
#[derive(Debug)]
pub struct Walked {
    pub found: Option<Vec<u8>>,
    /// Decompressed bytes read.
    pub bytes: u64,
}

/// `find_in_payload_within` without bounds, for payloads known to be small.
#[cfg(test)]
pub fn find_in_payload(
    payload: impl Read,
    compressor: Option<&str>,
    wanted: &str,
    max_len: u64,
) -> Result<Option<Vec<u8>>, PayloadError> {
    find_in_payload_within(payload, compressor, wanted, max_len, &Bounds::unlimited())
        .map(|walked| walked.found)
}

/// The decompressed payload, chosen by the PAYLOADCOMPRESSOR tag.
fn decoder<'a>(
    input: impl Read + 'a,
    compressor: Option<&str>,
) -> Result<Box<dyn Read + 'a>, PayloadError> {
    Ok(match compressor {
        None | Some("identity") => Box::new(input),
        Some("gzip") => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Some("bzip2") => Box::new(bzip2::read::MultiBzDecoder::new(input)),
        Some("zstd") => {
            Box::new(zstd::stream::read::Decoder::new(input).map_err(|e| {
                PayloadError::Corrupt(format!("cannot start the zstd decoder: {e}"))
            })?)
        }
        // liblzma's auto decoder reads both .xz and legacy .lzma streams.
        Some("xz" | "lzma") => {
            let stream = liblzma::stream::Stream::new_auto_decoder(
                XZ_MEMORY_LIMIT,
                liblzma::stream::CONCATENATED,
            )
            .map_err(|e| PayloadError::Corrupt(format!("cannot start the xz decoder: {e}")))?;
            Box::new(liblzma::read::XzDecoder::new_stream(input, stream))
        }
        Some(other) => return Err(PayloadError::UnknownCompressor(other.to_owned())),
    })
}

/// Passes reads through, remembering a failure of the reader itself; stops
/// reading once the walk must stop (asked to, or late), even when the
/// decoder reads without producing anything.
struct Source<'w, R> {
    inner: R,
    watch: &'w Watch,
    failure: Option<io::Error>,
}

impl<R: Read> Read for Source<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.watch.check()?;
        self.inner.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failure = Some(io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

/// What the walk needs of one newc header.
struct Entry {
    name: Vec<u8>,
    ino: u32,
    mode: u32,
    nlink: u32,
    size: u32,
    dev: (u32, u32),
}

impl Entry {
    fn is_regular(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
}

fn find_in_cpio(
    mut archive: impl Read,
    wanted: &str,
    max_len: u64,
) -> Result<Option<Vec<u8>>, PayloadError> {
    let wanted_path = normalize(wanted.as_bytes());
    // rpmbuild writes a hard-link set's data only with its last member; the
    // others have size 0. Set when `wanted` is such a member: (ino, dev).
    let mut link_set: Option<(u32, (u32, u32))> = None;
    loop {
        let entry = read_header(&mut archive)?;
        if entry.name == TRAILER {
            // Before answering "absent", read the rest so that the decoder
            // checks the stream's own checksums: a damaged payload is not
            // reported as one without the file.
            skip_to_end(&mut archive)?;
            // A hard-linked file whose data never came is an empty file.
            return Ok(link_set.map(|_| Vec::new()));
        }
        let is_wanted = normalize(&entry.name) == wanted_path;
        let completes_link_set = link_set == Some((entry.ino, entry.dev)) && entry.size > 0;
        if is_wanted || completes_link_set {
            if !entry.is_regular() {
                return Err(PayloadError::NotRegularFile {
                    path: wanted.to_owned(),
                });
            }
            if is_wanted && entry.size == 0 && entry.nlink > 1 {
                link_set = Some((entry.ino, entry.dev));
                continue;
            }
            if u64::from(entry.size) > max_len {
                return Err(PayloadError::TooLarge {
                    path: wanted.to_owned(),
                    size: entry.size.into(),
                    max: max_len,
                });
            }
            return read_data(&mut archive, entry.size, wanted).map(Some);
        }
        skip(
            &mut archive,
            u64::from(entry.size) + pad4(entry.size as usize) as u64,
        )?;
    }
}

/// `./a/b`, `/a/b` and `a/b` all name the same file.
fn normalize(path: &[u8]) -> &[u8] {
    let path = path.strip_prefix(b"./").unwrap_or(path);
    path.strip_prefix(b"/").unwrap_or(path)
}

/// Bytes of padding that bring `len` to a multiple of 4.
fn pad4(len: usize) -> usize {
    (4 - len % 4) % 4
}

fn read_header(archive: &mut impl Read) -> Result<Entry, PayloadError> {
    let mut raw = [0u8; NEWC_HEADER_LEN];
    read_exact(archive, &mut raw, "a cpio entry header")?;
    match &raw[..6] {
        b"070701" | b"070702" => {}
        b"07070X" => {
            return Err(PayloadError::Corrupt(
                "it uses RPM's large-file cpio format (07070X), which depot does not read".into(),
            ));
        }
        _ => {
            return Err(PayloadError::Corrupt(
                "bad cpio entry magic (expected newc \"070701\")".into(),
            ));
        }
    }
    // Fields after the magic, in order: ino, mode, uid, gid, nlink, mtime,
    // filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check.
    let field = |index: usize| -> Result<u32, PayloadError> {
        let start = 6 + 8 * index;
        raw[start..start + 8]
            .iter()
            .try_fold(0u32, |acc, &b| Some(acc << 4 | char::from(b).to_digit(16)?))
            .ok_or_else(|| PayloadError::Corrupt("a cpio entry header has a non-hex field".into()))
    };
    let name_len = field(11)? as usize;
    if name_len == 0 || name_len > MAX_NAME_LEN {
        return Err(PayloadError::Corrupt(format!(
            "a cpio entry declares a {name_len}-byte name"
        )));
    }
    let mut name = vec![0u8; name_len + pad4(NEWC_HEADER_LEN + name_len)];
    read_exact(archive, &mut name, "a cpio entry name")?;
    name.truncate(name_len);
    if name.pop() != Some(0) {
        return Err(PayloadError::Corrupt(
            "a cpio entry name is not NUL-terminated".into(),
        ));
    }
    Ok(Entry {
        name,
        ino: field(0)?,
        mode: field(1)?,
        nlink: field(4)?,
        size: field(6)?,
        dev: (field(7)?, field(8)?),
    })
}

/// Reads exactly `size` bytes of the current entry (padding is left unread).
fn read_data(archive: &mut impl Read, size: u32, path: &str) -> Result<Vec<u8>, PayloadError> {
    let what = || format!("the data of {path}");
    // Grow as data arrives, not by the declared size alone.
    let mut data = Vec::with_capacity((size as usize).min(1 << 20));
    archive
        .take(size.into())
        .read_to_end(&mut data)
        .map_err(|e| io_error(e, &what()))?;
    if data.len() < size as usize {
        return Err(PayloadError::Truncated(what()));
    }
    Ok(data)
}

fn skip(archive: &mut impl Read, len: u64) -> Result<(), PayloadError> {
    let what = "the data of a cpio entry";
    let copied =
        io::copy(&mut archive.take(len), &mut io::sink()).map_err(|e| io_error(e, what))?;
    if copied < len {
        return Err(PayloadError::Truncated(what.into()));
    }
    Ok(())
}

fn skip_to_end(archive: &mut impl Read) -> Result<(), PayloadError> {
    io::copy(archive, &mut io::sink())
        .map(drop)
        .map_err(|e| io_error(e, "the compressed stream's end"))
}

fn read_exact(archive: &mut impl Read, buf: &mut [u8], what: &str) -> Result<(), PayloadError> {
    archive.read_exact(buf).map_err(|e| io_error(e, what))
}

/// Decoders report bad input as I/O errors: an early end is a truncation,
/// anything else corruption.
fn io_error(e: io::Error, what: &str) -> PayloadError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        PayloadError::Truncated(what.to_owned())
    } else {
        PayloadError::Corrupt(format!("{e} (reading {what})"))
    }
}

#[cfg(test)]
mod tests;
