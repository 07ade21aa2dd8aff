//! A replica's memory of metadata chunks: each chunk's three gzip members
//! and the XML they hold, so that a publication neither reads the chunks a
//! change did not touch from the database nor inflates them again for the
//! open-checksum. A chunk's key names its contents, so an entry is never
//! stale and replicas need not agree on what they remember.
//!
//! A publication forgets the chunks its repository's previous one used and
//! it does not: a stream of uploads leaves no trail of superseded chunks.
//! Bounded by bytes besides. Least recently used chunks go first, but only those no
//! publication used for `IDLE`: a repository larger than the budget keeps
//! the chunks it first remembered and reads the rest from the database,
//! instead of each publication pushing out what the next one needs first
//! (least-recently-used alone misses every time on such a scan).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;

use super::chunks::{Compressed, Texts};

/// What a replica remembers of chunks, at most: 10,000 packages like
/// bench/rpm-corpus's take about 26 MiB.
pub(super) const BUDGET: usize = 128 * 1024 * 1024;
/// A chunk used this recently is not pushed out for another.
const IDLE: Duration = Duration::from_secs(120);
/// How often a remembered chunk is marked used in the database's cache
/// (which prunes what no publication used for an hour): not on every
/// publication.
const MARK: Duration = Duration::from_secs(5 * 60);

/// A chunk as a publication appends it.
#[derive(Debug)]
pub(super) struct Remembered {
    pub compressed: Compressed,
    pub texts: Texts,
}

impl Remembered {
    /// Without the spare room the buffers grew with (up to as much again
    /// as they hold), so that what the memory counts is what it takes.
    pub(super) fn new(mut compressed: Compressed, mut texts: Texts) -> Self {
        for bytes in [
            &mut compressed.primary,
            &mut compressed.filelists,
            &mut compressed.other,
        ] {
            bytes.shrink_to_fit();
        }
        for xml in [&mut texts.primary, &mut texts.filelists, &mut texts.other] {
            xml.shrink_to_fit();
        }
        Self { compressed, texts }
    }

    /// The heap it takes: its buffers' capacity, not their length.
    fn bytes(&self) -> usize {
        let c = &self.compressed;
        let t = &self.texts;
        c.primary.capacity()
            + c.filelists.capacity()
            + c.other.capacity()
            + t.primary.capacity()
            + t.filelists.capacity()
            + t.other.capacity()
    }
}

pub(super) struct Memo {
    inner: Mutex<Inner>,
}

/// A remembered chunk, when a publication last used it and when this
/// replica last marked it used in the database.
struct Entry {
    chunk: Arc<Remembered>,
    used: Instant,
    marked: Instant,
}

struct Inner {
    chunks: LruCache<String, Entry>,
    bytes: usize,
    budget: usize,
    /// Each repository's chunks, as its last publication here used them.
    published: HashMap<String, HashSet<String>>,
}

impl Memo {
    pub(super) fn new(budget: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                chunks: LruCache::unbounded(),
                bytes: 0,
                budget,
                published: HashMap::new(),
            }),
        }
    }

    /// The chunk `key`, if remembered, and whether to mark it used in the
    /// database now; it counts as used now.
    pub(super) fn get(&self, key: &str) -> Option<(Arc<Remembered>, bool)> {
        let mut inner = self.inner.lock().expect("not poisoned");
        let entry = inner.chunks.get_mut(key)?;
        let now = Instant::now();
        entry.used = now;
        let mark = now.duration_since(entry.marked) >= MARK;
        if mark {
            entry.marked = now;
        }
        Some((entry.chunk.clone(), mark))
    }

    /// Remembers `chunk` under `key`, just marked used in the database, if
    /// it fits, pushing out chunks idle for `IDLE`; answers whether it is
    /// remembered.
    pub(super) fn put(&self, key: &str, chunk: Arc<Remembered>) -> bool {
        let size = chunk.bytes();
        let mut inner = self.inner.lock().expect("not poisoned");
        if inner.chunks.contains(key) {
            return true;
        }
        if size > inner.budget {
            return false;
        }
        while inner.bytes + size > inner.budget {
            match inner.chunks.peek_lru() {
                Some((_, old)) if old.used.elapsed() >= IDLE => {
                    let (_, old) = inner.chunks.pop_lru().expect("just peeked");
                    inner.bytes -= old.chunk.bytes();
                }
                _ => return false,
            }
        }
        inner.bytes += size;
        let now = Instant::now();
        inner.chunks.put(
            key.to_string(),
            Entry {
                chunk,
                used: now,
                marked: now,
            },
        );
        true
    }

    /// Repository `repo` was published with chunks `used`: those its
    /// previous publication used and this one does not are forgotten (a
    /// chunk shared with another repository is read again from the
    /// database by that one's next publication).
    pub(super) fn supersede(&self, repo: &str, used: HashSet<String>) {
        let mut inner = self.inner.lock().expect("not poisoned");
        let before = inner.published.insert(repo.to_string(), used);
        let Some(before) = before else { return };
        let gone: Vec<String> = before
            .into_iter()
            .filter(|k| !inner.published[repo].contains(k))
            .collect();
        for key in gone {
            if let Some(old) = inner.chunks.pop(&key) {
                inner.bytes -= old.chunk.bytes();
            }
        }
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.inner.lock().expect("not poisoned").bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(xml: usize) -> Arc<Remembered> {
        Arc::new(Remembered {
            compressed: Compressed {
                primary: Vec::new(),
                filelists: Vec::new(),
                other: Vec::new(),
            },
            texts: Texts {
                primary: "x".repeat(xml),
                ..Texts::default()
            },
        })
    }

    #[test]
    fn counts_what_a_chunk_takes_not_what_it_holds() {
        let roomy = || {
            let mut xml = String::with_capacity(4096);
            xml.push_str("<package/>");
            xml
        };
        let spare = Remembered {
            compressed: Compressed {
                primary: Vec::with_capacity(1000),
                filelists: Vec::new(),
                other: Vec::new(),
            },
            texts: Texts {
                primary: roomy(),
                ..Texts::default()
            },
        };
        assert!(spare.bytes() >= 5096, "{} bytes counted", spare.bytes());
        let memo = Memo::new(4096);
        assert!(!memo.put("spare", Arc::new(spare)), "past the budget");
        // Made through `new`, the same chunk takes what it holds.
        let lean = Remembered::new(
            Compressed {
                primary: Vec::with_capacity(1000),
                filelists: Vec::new(),
                other: Vec::new(),
            },
            Texts {
                primary: roomy(),
                ..Texts::default()
            },
        );
        assert_eq!(lean.bytes(), "<package/>".len());
        assert!(memo.put("lean", Arc::new(lean)));
    }

    #[test]
    fn remembers_within_the_budget_and_refuses_past_it() {
        let memo = Memo::new(1000);
        assert!(memo.put("a", chunk(400)));
        assert!(memo.put("b", chunk(400)));
        // Both were used just now: neither is pushed out for a third.
        assert!(!memo.put("c", chunk(400)));
        assert!(memo.get("a").is_some() && memo.get("b").is_some());
        assert!(memo.get("c").is_none());
        assert_eq!(memo.bytes(), 800);
        // Larger than the whole budget: never remembered.
        assert!(!memo.put("huge", chunk(1001)));
        // Again under the same key: counted once.
        assert!(memo.put("a", chunk(400)));
        assert_eq!(memo.bytes(), 800);
    }

    #[test]
    fn idle_chunks_make_room_least_recently_used_first() {
        let memo = Memo::new(1000);
        memo.put("a", chunk(400));
        memo.put("b", chunk(400));
        {
            let mut inner = memo.inner.lock().unwrap();
            let idle = Instant::now() - IDLE - Duration::from_secs(1);
            for key in ["a", "b"] {
                inner.chunks.peek_mut(key).unwrap().used = idle;
            }
            // "a" becomes the most recently used, idle all the same.
            inner.chunks.promote("a");
        }
        assert!(memo.put("c", chunk(400)));
        assert!(memo.get("b").is_none(), "the least recently used went");
        assert!(memo.get("a").is_some() && memo.get("c").is_some());
        assert_eq!(memo.bytes(), 800);
    }

    #[test]
    fn a_publication_forgets_the_chunks_it_superseded() {
        let memo = Memo::new(1000);
        let set = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect();
        for key in ["a", "b", "c"] {
            memo.put(key, chunk(100));
        }
        memo.supersede("el7/x86_64", set(&["a", "b"]));
        memo.supersede("el8/x86_64", set(&["c"]));
        // "b" changed into "b2": the next publication of el7 forgets "b".
        memo.put("b2", chunk(100));
        memo.supersede("el7/x86_64", set(&["a", "b2"]));
        assert!(memo.get("b").is_none());
        assert!(memo.get("a").is_some() && memo.get("b2").is_some());
        assert!(memo.get("c").is_some(), "another repository's chunk stays");
        assert_eq!(memo.bytes(), 300);
    }

    #[test]
    fn a_remembered_chunk_is_marked_used_now_and_then() {
        let memo = Memo::new(1000);
        memo.put("a", chunk(10));
        assert!(!memo.get("a").unwrap().1, "just marked when remembered");
        memo.inner
            .lock()
            .unwrap()
            .chunks
            .peek_mut("a")
            .unwrap()
            .marked = Instant::now() - MARK;
        assert!(memo.get("a").unwrap().1);
        assert!(!memo.get("a").unwrap().1, "marked once per period");
    }
}
