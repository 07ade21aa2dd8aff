//! A StarlingX patch file read as a stream (pure: any `Read` in, facts out).
//!
//! `<ID>.patch` is a gzip tar of `metadata.tar`, `software.tar`, optionally
//! `semantics.tar`, then `signature` and `signature.v2`. The inner tars are
//! hashed as they pass (an MD5 each, one SHA-256 over all of them in that
//! order, as StarlingX signs them); the RPMs inside `software.tar` are handed
//! to a sink one at a time, as readers, so that nothing of a patch of any size
//! is held in memory but its metadata (bounded) and the list of its RPM names
//! (bounded).

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;
use md5::{Digest, Md5};
use sha2::Sha256;

/// What one patch may hold: read past these, it is refused.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// `metadata.tar` (and `metadata.xml` in it) is read into memory.
    pub max_metadata: u64,
    /// RPMs in `software.tar`.
    pub max_rpms: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_metadata: 1 << 20,
            max_rpms: 4096,
        }
    }
}

/// The most `signature` and `signature.v2` may hold (an RSA-16384 signature is 2 KiB).
const MAX_SIGNATURE: u64 = 4096;

/// What a patch file holds, but its RPMs (which went to the sink).
#[derive(Clone, Debug, Default)]
pub struct PatchArchive {
    pub metadata_xml: Vec<u8>,
    /// The RPMs' base names, in `software.tar`'s order.
    pub rpms: Vec<String>,
    /// The MD5 of each inner tar, in order (metadata, software, semantics).
    pub md5s: Vec<[u8; 16]>,
    /// SHA-256 over the inner tars' bytes, concatenated in order.
    pub sha256: [u8; 32],
    pub has_semantics: bool,
    /// `signature`'s text (the MD5-XOR), when present.
    pub signature: Option<String>,
    /// `signature.v2`'s bytes (RSA), when present.
    pub signature_v2: Option<Vec<u8>>,
}

/// Why a patch file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E> {
    /// Not a patch file as StarlingX writes them; the text says why.
    #[error("{0}")]
    Malformed(String),
    /// Reading the bytes failed (the client, the body limit).
    #[error(transparent)]
    Io(io::Error),
    /// The sink refused an RPM.
    #[error("{0}")]
    Sink(E),
}

impl<E> From<io::Error> for ReadError<E> {
    fn from(e: io::Error) -> Self {
        // The tar crate reports a corrupt archive as `Other`/`InvalidData`
        // too; a damaged gzip stream is `InvalidInput`/`InvalidData`.
        match e.kind() {
            // The body's end before the archive's: a truncated file (a body
            // cut off by the client fails with its own error instead).
            io::ErrorKind::InvalidData
            | io::ErrorKind::InvalidInput
            | io::ErrorKind::UnexpectedEof => {
                Self::Malformed(format!("not a valid patch file (gzip tar): {e}"))
            }
            _ => Self::Io(e),
        }
    }
}

fn malformed<E>(text: impl Into<String>) -> ReadError<E> {
    ReadError::Malformed(text.into())
}

/// Reads a patch file from `input` (the gzip tar), handing each RPM of
/// `software.tar` to `on_rpm` with its base name and a reader of its bytes.
pub fn read_patch<R, E>(
    input: R,
    limits: Limits,
    mut on_rpm: impl FnMut(&str, &mut dyn Read) -> Result<(), E>,
) -> Result<PatchArchive, ReadError<E>>
where
    R: Read,
{
    let mut outer = tar::Archive::new(MultiGzDecoder::new(input));
    let mut found = PatchArchive::default();
    let mut sha256 = Sha256::new();
    // The inner tars in the order StarlingX hashes them: each only after the one before.
    let mut inner_done = 0usize;
    for entry in outer.entries()? {
        let mut entry = entry?;
        let name = entry_name::<_, E>(&entry)?;
        if entry.header().entry_type().is_dir() {
            continue;
        }
        if !entry.header().entry_type().is_file() {
            return Err(malformed(format!(
                "the patch's entry {name:?} is not a regular file"
            )));
        }
        match name.as_str() {
            "metadata.tar" | "software.tar" | "semantics.tar" => {
                let expected = ["metadata.tar", "software.tar", "semantics.tar"];
                if found.signature.is_some() || found.signature_v2.is_some() {
                    return Err(malformed(format!("{name} comes after the signatures")));
                }
                if expected.get(inner_done) != Some(&name.as_str()) {
                    return Err(malformed(format!(
                        "{name} is out of place: a patch holds metadata.tar, software.tar and optionally semantics.tar, in that order, once each"
                    )));
                }
                let mut hashing = Hashing {
                    inner: &mut entry,
                    md5: Md5::new(),
                    sha256: &mut sha256,
                };
                match inner_done {
                    0 => found.metadata_xml = read_metadata(&mut hashing, limits)?,
                    1 => found.rpms = read_software(&mut hashing, limits, &mut on_rpm)?,
                    _ => {
                        found.has_semantics = true;
                        io::copy(&mut hashing, &mut io::sink())?;
                    }
                }
                // The inner tar's trailing blocks are signed too.
                io::copy(&mut hashing, &mut io::sink())?;
                found.md5s.push(hashing.md5.finalize().into());
                inner_done += 1;
            }
            "signature" => {
                let bytes = read_small::<E>(&mut entry, MAX_SIGNATURE, "signature")?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| malformed("the patch's signature is not text"))?;
                found.signature = Some(text);
            }
            "signature.v2" => {
                found.signature_v2 =
                    Some(read_small::<E>(&mut entry, MAX_SIGNATURE, "signature.v2")?);
            }
            other => {
                return Err(malformed(format!(
                    "unexpected entry {other:?} in the patch file"
                )));
            }
        }
    }
    if inner_done < 2 {
        return Err(malformed(
            "not a patch file: it must hold metadata.tar and software.tar",
        ));
    }
    found.sha256 = sha256.finalize().into();
    Ok(found)
}

fn entry_name<R: Read, E>(entry: &tar::Entry<'_, R>) -> Result<String, ReadError<E>> {
    let path = entry.path()?;
    let text = path
        .to_str()
        .ok_or_else(|| malformed("an entry of the patch has a name that is not UTF-8"))?;
    Ok(text
        .trim_start_matches("./")
        .trim_end_matches('/')
        .to_owned())
}

fn read_small<E>(r: &mut dyn Read, max: u64, what: &str) -> Result<Vec<u8>, ReadError<E>> {
    let mut bytes = Vec::new();
    r.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(malformed(format!(
            "the patch's {what} is larger than {max} bytes"
        )));
    }
    Ok(bytes)
}

/// `metadata.tar`: its `metadata.xml`, bounded.
fn read_metadata<E>(r: &mut dyn Read, limits: Limits) -> Result<Vec<u8>, ReadError<E>> {
    let mut inner = tar::Archive::new(r);
    let mut xml = None;
    for entry in inner.entries()? {
        let mut entry = entry?;
        let name = entry_name::<_, E>(&entry)?;
        if name == "metadata.xml" && entry.header().entry_type().is_file() {
            xml = Some(read_small::<E>(
                &mut entry,
                limits.max_metadata,
                "metadata.xml",
            )?);
        }
    }
    xml.ok_or_else(|| malformed("the patch's metadata.tar holds no metadata.xml"))
}

/// `software.tar`: every RPM to the sink, by base name.
fn read_software<E>(
    r: &mut dyn Read,
    limits: Limits,
    on_rpm: &mut impl FnMut(&str, &mut dyn Read) -> Result<(), E>,
) -> Result<Vec<String>, ReadError<E>> {
    let mut inner = tar::Archive::new(r);
    let mut names: Vec<String> = Vec::new();
    for entry in inner.entries()? {
        let mut entry = entry?;
        let name = entry_name::<_, E>(&entry)?;
        if entry.header().entry_type().is_dir() {
            continue;
        }
        let base = name.rsplit('/').next().unwrap_or_default().to_owned();
        if !entry.header().entry_type().is_file() || !base.ends_with(".rpm") {
            return Err(malformed(format!(
                "software.tar may only hold RPMs, not {name:?}"
            )));
        }
        if names.contains(&base) {
            return Err(malformed(format!("software.tar holds {base} twice")));
        }
        if names.len() >= limits.max_rpms {
            return Err(malformed(format!(
                "software.tar holds more than {} RPMs",
                limits.max_rpms
            )));
        }
        on_rpm(&base, &mut entry).map_err(ReadError::Sink)?;
        // What the sink left unread is still hashed (by the outer reader).
        io::copy(&mut entry, &mut io::sink())?;
        names.push(base);
    }
    Ok(names)
}

/// Hashes what passes through it: the file's own MD5, and the running SHA-256.
struct Hashing<'a, R> {
    inner: R,
    md5: Md5,
    sha256: &'a mut Sha256,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.md5.update(&buf[..n]);
        self.sha256.update(&buf[..n]);
        Ok(n)
    }
}
