//! Reading a chunk with the disk kept busy when it is not cached.
//!
//! Large chunks are written around the page cache (`direct_io`), so the first read of
//! a freshly written object goes to the disk, where the kernel's own readahead keeps
//! about one request in flight per reader: 1,300-1,400 MiB/s for four concurrent 64 MiB
//! GETs on this project's VM, whose disk does 3 GiB/s with more requests queued. A
//! reader that misses the cache asks for the next [`WINDOW`] at once. A cached read
//! is told apart first with `RWF_NOWAIT` (which fails rather than wait for the disk),
//! so that cached objects, the usual case for hot data, pay nothing: advising a window
//! that is already cached still walks its pages, which cost large cached GETs about a
//! tenth of their rate.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// How far ahead of a reader that missed the cache the kernel is asked to fetch.
const WINDOW: u64 = 32 << 20;

/// Positional reads of `[.., end)` of one file, fetching ahead once they miss the cache.
pub(crate) struct ReadAhead {
    file: File,
    end: u64,
    /// Where the windows asked for so far end.
    fetched: u64,
}

impl ReadAhead {
    pub fn new(file: File, end: u64) -> Self {
        Self { file, end, fetched: 0 }
    }

    /// Fills `buf` from `offset`.
    pub fn read_exact_at(&mut self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let cached = read_cached(&self.file, buf, offset);
        if cached == buf.len() {
            return Ok(());
        }
        let at = offset + cached as u64;
        if self.fetched < self.end && self.fetched < at + WINDOW / 2 {
            let from = self.fetched.max(at);
            let to = (at + WINDOW).min(self.end);
            will_need(&self.file, from, to.saturating_sub(from));
            self.fetched = to;
        }
        self.file.read_exact_at(&mut buf[cached..], at)
    }
}

/// Reads what of `buf` is in the page cache from `offset` on, without waiting for the
/// disk: the bytes read (0 where the kernel cannot tell).
fn read_cached(file: &File, buf: &mut [u8], offset: u64) -> usize {
    #[cfg(target_os = "linux")]
    {
        use rustix::io::{ReadWriteFlags, preadv2};
        // Offsets past `i64::MAX` are negative to the kernel (-1: "at the cursor").
        if i64::try_from(offset).is_err() {
            return 0;
        }
        preadv2(file, &mut [io::IoSliceMut::new(buf)], offset, ReadWriteFlags::NOWAIT).unwrap_or(0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, buf, offset);
        0
    }
}

/// Starts reading `[offset, offset + len)` into the page cache without waiting. A hint
/// only: the reads that follow are what count, so a failure is ignored.
fn will_need(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        // A zero length would mean "to the end of the file".
        if let Some(len) = std::num::NonZeroU64::new(len) {
            let _ = rustix::fs::fadvise(file, offset, Some(len), rustix::fs::Advice::WillNeed);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_byte_cached_or_not_and_past_several_windows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunk");
        let data: Vec<u8> = (0..(WINDOW as usize * 2 + 12_345)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        for (start, drop_cache) in [(0u64, false), (7, true), (WINDOW - 3, true)] {
            if drop_cache {
                // Clean pages leave the cache when told to: the reads below miss it.
                let f = File::open(&path).unwrap();
                f.sync_all().unwrap();
                rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
            }
            let mut r = ReadAhead::new(File::open(&path).unwrap(), data.len() as u64);
            let mut at = start;
            let mut buf = vec![0u8; 256 * 1024];
            while at < data.len() as u64 {
                let n = buf.len().min(data.len() - at as usize);
                r.read_exact_at(&mut buf[..n], at).unwrap();
                assert_eq!(&buf[..n], &data[at as usize..at as usize + n], "at {at}");
                at += n as u64;
            }
        }
    }
}
