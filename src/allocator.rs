//! The heap allocator's share of depot's memory.
//!
//! glibc gives each thread that allocates an arena of its own, up to eight
//! per core, and keeps what those threads free for them. depot's blocking
//! threads (file I/O, hashing, compression) come and go by the dozen, so a
//! long-running replica ended up holding most of its memory in arenas of
//! threads long idle: at 100,000 packages in a repository, 320 MiB of RSS
//! of which the live heap was a small part (BENCHMARKS.md). Capping the
//! arenas at the number of cores (the runtime's workers, which allocate
//! most) makes the blocking threads share them and reuse what is freed.
//! Measured at 100,000 packages: the peak fell by a fifth and publications
//! were no slower.
//!
//! Large blocks get pages of their own, given back to the system when freed
//! (`fix_mmap_threshold`). glibc does so for blocks of 128 KiB and more at
//! first, then raises that threshold to the size of each such block freed (up
//! to 32 MiB), after which an upload's buffers came from the arenas and
//! stayed there until the next trim. With the threshold held, an upload's
//! part buffers (`store/parts.rs`, 5 MiB) go back as it ends: anonymous
//! memory 13 → 25 → 14 MiB across a 200 MiB upload into Garage (release
//! build, BENCHMARKS.md). On its own, while parts still pinned the parser's
//! buffers, it changed nothing measurable in a release build (a debug build
//! had shown 41–46 MiB held after an upload, 16 with it).
//!
//! The one module allowed `unsafe`: glibc's calls have no safe wrapper.

#![allow(unsafe_code)]

/// Blocks of this size and more are mapped on their own (glibc's initial
/// threshold, held there).
pub const MMAP_THRESHOLD: usize = 128 << 10;

/// Caps glibc's arenas, unless `MALLOC_ARENA_MAX` already says how many
/// (glibc reads it itself), and fixes the mmap threshold, unless
/// `MALLOC_MMAP_THRESHOLD_` does. Answers the cap set, if any. glibc fixes
/// its limit when the first thread past the main one allocates, so this must
/// run before any other thread starts: first thing in `main`.
pub fn configure() -> Option<usize> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            fix_mmap_threshold();
        }
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return None;
        }
        let cap = arena_cap();
        // SAFETY: mallopt only records the setting; no memory is touched.
        let set = unsafe { libc::mallopt(libc::M_ARENA_MAX, cap as libc::c_int) };
        (set == 1).then_some(cap)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

/// Holds glibc's mmap threshold at `MMAP_THRESHOLD`, which also stops it
/// from moving; answers whether glibc took the setting.
pub fn fix_mmap_threshold() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only records the setting; no memory is touched.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// One arena per core, and at least two, so that the main thread's
/// allocations never contend with a worker's.
pub fn arena_cap() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(2)
}

/// Gives the free pages the allocator keeps back to the system; answers
/// whether any were. glibc keeps what is freed for reuse and returns only
/// the top of a heap: after work that allocates in proportion to the data
/// (a publication holds every package), an idle
/// replica at 100,000 packages sat at 72 MiB of RSS; after a trim, 44 MiB
/// (BENCHMARKS.md). jemalloc purges such pages on a timer; `app::tasks`
/// calls this on one. A trim walks the (capped) arenas' free chunks once.
pub fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only releases pages that no allocation uses.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// What the allocator holds, for `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Arenas in use, the main one included.
    pub arenas: u64,
    /// Bytes handed out and not yet freed.
    pub in_use: u64,
    /// Bytes freed but kept by the allocator rather than returned.
    pub kept: u64,
}

/// The allocator's figures now; `None` where they cannot be read (not glibc).
pub fn stats() -> Option<HeapStats> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 fills and returns a plain struct.
        let info = unsafe { libc::mallinfo2() };
        Some(HeapStats {
            arenas: count_arenas()?,
            in_use: (info.uordblks + info.hblkhd) as u64,
            kept: info.fordblks as u64,
        })
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    None
}

/// Arenas, counted in malloc_info's report (glibc has no call that
/// answers the number alone).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn count_arenas() -> Option<u64> {
    let mut buf: *mut libc::c_char = std::ptr::null_mut();
    let mut len: libc::size_t = 0;
    // SAFETY: open_memstream writes the buffer's address and length at
    // fclose; the buffer is read only after that and freed once.
    unsafe {
        let stream = libc::open_memstream(&mut buf, &mut len);
        if stream.is_null() {
            return None;
        }
        let reported = libc::malloc_info(0, stream);
        libc::fclose(stream);
        if buf.is_null() {
            return None;
        }
        let report = std::slice::from_raw_parts(buf as *const u8, len);
        let arenas = heaps_in(report);
        libc::free(buf.cast());
        (reported == 0).then_some(arenas)
    }
}

/// `<heap nr="…">` elements in a malloc_info report: one an arena.
fn heaps_in(report: &[u8]) -> u64 {
    const HEAP: &[u8] = b"<heap nr=";
    report.windows(HEAP.len()).filter(|w| *w == HEAP).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_counts_one_arena_per_heap_element() {
        let report = br#"<malloc version="1">
<heap nr="0"><sizes></sizes><total type="fast" count="0" size="0"/></heap>
<heap nr="1"><sizes></sizes></heap>
<total type="fast" count="0" size="0"/>
</malloc>"#;
        assert_eq!(heaps_in(report), 2);
        assert_eq!(heaps_in(b"<malloc version=\"1\"></malloc>"), 0);
    }

    #[test]
    fn the_cap_is_at_least_two() {
        assert!(arena_cap() >= 2);
    }

    /// This process's resident memory, from /proc.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn rss() -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        // SAFETY: sysconf reads a constant.
        pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_trim_returns_what_was_freed_below_a_live_allocation() {
        // 64 MiB in the small pieces a key set is made of, then one piece
        // above them that stays: freeing the rest cannot shrink the heap's
        // top, so glibc keeps every page of it until a trim.
        let pieces: Vec<Vec<u8>> = (0..65_536).map(|i| vec![i as u8; 1000]).collect();
        let above = vec![1u8; 1000];
        drop(pieces);
        let before = rss();
        assert!(trim(), "nothing to give back");
        let after = rss();
        assert!(
            before.saturating_sub(after) > 32 << 20,
            "RSS {before} before the trim, {after} after"
        );
        drop(above);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn large_blocks_go_back_the_moment_they_are_freed() {
        assert!(fix_mmap_threshold());
        // Left to itself, glibc would now serve blocks up to 4 MiB from the
        // heap, and keep them there once freed.
        drop(vec![1u8; 4 << 20]);
        let blocks: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8 | 1; 512 << 10]).collect();
        let above = vec![1u8; 1000];
        let before = rss();
        drop(blocks);
        let after = rss();
        assert!(
            before.saturating_sub(after) > 24 << 20,
            "RSS {before} before the blocks were freed, {after} after"
        );
        drop(above);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn stats_read_this_process_heap() {
        let held = vec![7u8; 4 << 20];
        let stats = stats().expect("glibc reports its heap");
        assert!(stats.arenas >= 1);
        assert!(stats.in_use >= held.len() as u64, "{stats:?}");
        drop(held);
    }
}
