//! How far a walk over a payload may go. A compressed payload can inflate
//! out of all proportion (a decompression bomb: a few MB of zeros that
//! decompress to tens of GiB), so every walk is bounded: in decompressed
//! bytes, relative to the compressed size and absolutely; in time; and by
//! its caller, who stops it when the request that asked for it is gone.
//!
//! Real packages inflate a few times (an OceanBase server RPM about 4×, text
//! and scripts 10× or so); zero-filled files, what bombs are made of, a
//! thousand times and more.

use std::cell::Cell;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytesize::ByteSize;

/// A payload may inflate to this many times its compressed size…
pub const MAX_RATIO: u64 = 64;
/// …or to this much, if that is more (small payloads of many tiny files)…
pub const MIN_WALK_BYTES: u64 = 64 << 20;
/// …and never beyond this, whatever its size.
pub const MAX_WALK_BYTES: u64 = 16 << 30;
/// How long a walk may take: `MAX_WALK_BYTES` at 64 MiB/s, a slow core
/// decoding xz, with the compressed bytes read from a slow store.
pub const MAX_WALK_TIME: Duration = Duration::from_secs(256);

/// The bounds of one walk.
#[derive(Clone, Debug)]
pub struct Bounds {
    /// Decompressed bytes the walk may read.
    pub max_bytes: u64,
    pub deadline: Instant,
    /// Set by the caller to stop the walk (at its next read).
    pub stop: Arc<AtomicBool>,
}

impl Bounds {
    /// The bounds of a walk, starting now, over a payload of `compressed`
    /// bytes; `stop` stops it.
    pub fn for_payload(compressed: u64, stop: Arc<AtomicBool>) -> Self {
        Self {
            max_bytes: max_walk_bytes(compressed),
            deadline: Instant::now() + MAX_WALK_TIME,
            stop,
        }
    }

    /// No bounds but `stop`: for payloads already known to be small.
    #[cfg(test)]
    pub fn unlimited() -> Self {
        Self {
            max_bytes: u64::MAX,
            deadline: Instant::now() + Duration::from_secs(24 * 3600),
            stop: Arc::default(),
        }
    }
}

/// Decompressed bytes a walk over `compressed` payload bytes may read.
pub fn max_walk_bytes(compressed: u64) -> u64 {
    compressed
        .saturating_mul(MAX_RATIO)
        .clamp(MIN_WALK_BYTES, MAX_WALK_BYTES)
}

/// Why a walk ended before the payload did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// It inflated beyond `max` bytes.
    Inflated {
        max: u64,
    },
    TimedOut,
    /// Its caller stopped it.
    Stopped,
}

impl Stop {
    /// What to tell the uploader.
    pub fn describe(self) -> String {
        match self {
            Stop::Inflated { max } => format!(
                "the RPM payload inflates beyond {} ({} bytes): depot reads at most {MAX_RATIO} times a payload's compressed size (at least {}, never over {}), and refuses it as a decompression bomb",
                ByteSize(max),
                max,
                ByteSize(MIN_WALK_BYTES),
                ByteSize(MAX_WALK_BYTES),
            ),
            Stop::TimedOut => format!(
                "reading the RPM payload took longer than {} seconds; refused",
                MAX_WALK_TIME.as_secs()
            ),
            Stop::Stopped => "reading the RPM payload was stopped: the request is gone".into(),
        }
    }
}

/// Keeps count of one walk and remembers why it stopped, if it did.
pub(super) struct Watch {
    bounds: Bounds,
    walked: Cell<u64>,
    stopped: Cell<Option<Stop>>,
}

impl Watch {
    pub(super) fn new(bounds: &Bounds) -> Self {
        Self {
            bounds: bounds.clone(),
            walked: Cell::new(0),
            stopped: Cell::new(None),
        }
    }

    pub(super) fn stopped(&self) -> Option<Stop> {
        self.stopped.get()
    }

    /// Decompressed bytes read so far.
    pub(super) fn walked(&self) -> u64 {
        self.walked.get()
    }

    /// Fails once the walk must stop: asked to, or out of time.
    pub(super) fn check(&self) -> io::Result<()> {
        if let Some(stop) = self.stopped.get() {
            return Err(stopped(stop));
        }
        if self.bounds.stop.load(Ordering::Relaxed) {
            return Err(self.stop(Stop::Stopped));
        }
        if Instant::now() >= self.bounds.deadline {
            return Err(self.stop(Stop::TimedOut));
        }
        Ok(())
    }

    fn count(&self, n: usize) -> io::Result<()> {
        let walked = self.walked.get().saturating_add(n as u64);
        self.walked.set(walked);
        if walked > self.bounds.max_bytes {
            return Err(self.stop(Stop::Inflated {
                max: self.bounds.max_bytes,
            }));
        }
        Ok(())
    }

    fn stop(&self, stop: Stop) -> io::Error {
        self.stopped.set(Some(stop));
        stopped(stop)
    }
}

fn stopped(stop: Stop) -> io::Error {
    io::Error::other(stop.describe())
}

/// The decompressed payload, counted and checked at every read.
pub(super) struct Bounded<'w, R> {
    pub(super) inner: R,
    pub(super) watch: &'w Watch,
}

impl<R: Read> Read for Bounded<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.watch.check()?;
        let n = self.inner.read(buf)?;
        self.watch.count(n)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PayloadError, Walked, find_in_payload_within};
    use super::*;

    #[test]
    fn the_walk_is_bounded_by_ratio_floor_and_cap() {
        assert_eq!(max_walk_bytes(0), MIN_WALK_BYTES);
        assert_eq!(max_walk_bytes(1 << 20), MIN_WALK_BYTES);
        assert_eq!(max_walk_bytes(100 << 20), (100 * MAX_RATIO) << 20);
        assert_eq!(max_walk_bytes(1 << 40), MAX_WALK_BYTES);
        assert_eq!(max_walk_bytes(u64::MAX), MAX_WALK_BYTES);
        // The bomb, 3.3 MB inflating to 21 GiB, is stopped after about 200 MiB.
        assert!(max_walk_bytes(3_300_000) < 256 << 20);
    }

    fn read_all(bounds: &Bounds, data: &[u8]) -> (io::Result<u64>, Option<Stop>, u64) {
        let watch = Watch::new(bounds);
        let mut reader = Bounded {
            inner: data,
            watch: &watch,
        };
        let result = io::copy(&mut reader, &mut io::sink());
        (result, watch.stopped(), watch.walked())
    }

    #[test]
    fn a_walk_stops_past_its_bytes() {
        let data = vec![0u8; 100_000];
        let bounds = Bounds {
            max_bytes: 100_000,
            ..Bounds::unlimited()
        };
        assert_eq!(
            read_all(&bounds, &data).1,
            None,
            "exactly the limit is fine"
        );
        let bounds = Bounds {
            max_bytes: 99_999,
            ..Bounds::unlimited()
        };
        let (result, stop, _) = read_all(&bounds, &data);
        assert!(result.is_err());
        assert_eq!(stop, Some(Stop::Inflated { max: 99_999 }));
    }

    #[test]
    fn a_walk_stops_when_asked_or_late() {
        let data = vec![0u8; 1000];
        let asked = Bounds::unlimited();
        asked.stop.store(true, Ordering::Relaxed);
        let (result, stop, walked) = read_all(&asked, &data);
        assert!(result.is_err());
        assert_eq!((stop, walked), (Some(Stop::Stopped), 0));

        let late = Bounds {
            deadline: Instant::now(),
            ..Bounds::unlimited()
        };
        assert_eq!(read_all(&late, &data).1, Some(Stop::TimedOut));
    }

    /// A gzip cpio payload: one zero-filled file of `len` bytes.
    fn zeros_payload(len: usize) -> Vec<u8> {
        use std::io::Write;
        let mut cpio = Vec::new();
        for (name, mode, size) in [("./zeros", 0o100644, len), ("TRAILER!!!", 0, 0)] {
            cpio.extend(b"070701");
            for field in [0, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, name.len() + 1, 0] {
                cpio.extend(format!("{field:08x}").bytes());
            }
            cpio.extend(name.bytes());
            cpio.push(0);
            cpio.resize(cpio.len().next_multiple_of(4), 0);
            cpio.resize(cpio.len() + size.next_multiple_of(4), 0);
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&cpio).unwrap();
        gz.finish().unwrap()
    }

    fn walk(payload: impl Read, bounds: &Bounds) -> Result<Walked, PayloadError> {
        find_in_payload_within(payload, Some("gzip"), "./etc/x.yml", 1 << 20, bounds)
    }

    #[test]
    fn a_bomb_is_stopped_at_its_bytes() {
        let bomb = zeros_payload(8 << 20);
        assert!(bomb.len() < 64 << 10, "{}", bomb.len());
        let walked = walk(&bomb[..], &Bounds::unlimited()).unwrap();
        assert!(walked.found.is_none());
        assert!(walked.bytes > 8 << 20);
        let bounds = Bounds {
            max_bytes: 1 << 20,
            ..Bounds::unlimited()
        };
        let err = walk(&bomb[..], &bounds).unwrap_err();
        assert!(
            matches!(err, PayloadError::Stopped(Stop::Inflated { max }) if max == 1 << 20),
            "{err:?}"
        );
        assert!(err.to_string().contains("inflates beyond 1.0 MiB"), "{err}");
    }

    /// Sets the stop flag after its first read: the request goes away while
    /// the payload is being read.
    struct LeavingMidWay<'a> {
        data: &'a [u8],
        stop: Arc<AtomicBool>,
        reads: usize,
    }

    impl Read for LeavingMidWay<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            self.stop.store(true, Ordering::Relaxed);
            let n = buf.len().min(1024);
            self.data.read(&mut buf[..n])
        }
    }

    #[test]
    fn a_walk_stops_when_its_caller_leaves_mid_way() {
        // About 16 KB of gzip, read 1 KiB at a time.
        let bomb = zeros_payload(16 << 20);
        let bounds = Bounds::unlimited();
        let mut source = LeavingMidWay {
            data: &bomb,
            stop: bounds.stop.clone(),
            reads: 0,
        };
        let err = walk(&mut source, &bounds).unwrap_err();
        assert!(
            matches!(err, PayloadError::Stopped(Stop::Stopped)),
            "{err:?}"
        );
        assert!(!source.data.is_empty(), "stopped before the end");
        assert!(source.reads < 5, "{} reads", source.reads);
    }

    #[test]
    fn a_late_walk_stops() {
        let bounds = Bounds {
            deadline: Instant::now(),
            ..Bounds::unlimited()
        };
        let err = walk(&zeros_payload(1 << 20)[..], &bounds).unwrap_err();
        assert!(
            matches!(err, PayloadError::Stopped(Stop::TimedOut)),
            "{err:?}"
        );
    }

    #[test]
    fn stops_read_well() {
        let message = Stop::Inflated { max: 64 << 20 }.describe();
        assert!(
            message.starts_with("the RPM payload inflates beyond 64.0 MiB"),
            "{message}"
        );
        assert!(message.contains("decompression bomb"), "{message}");
        assert!(Stop::TimedOut.describe().contains("256 seconds"));
        assert!(Stop::Stopped.describe().contains("gone"));
    }
}
