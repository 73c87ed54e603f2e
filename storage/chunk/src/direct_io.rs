//! Writing large chunks around the page cache (`O_DIRECT`).
//!
//! A buffered write copies every byte into the page cache, and the kernel then spends
//! more CPU tracking, writing back and later reclaiming those pages: about a tenth of
//! the server's CPU on large uploads, on the same cores that receive and hash them. A
//! chunk that was just uploaded is rarely read back at once, so large chunks go from
//! fastgate's own (aligned) buffers straight to the disk, as MinIO does. Reads stay
//! buffered, so a chunk that is read is cached from then on.
//!
//! `O_DIRECT` wants the buffer address, the file offset and the length aligned to the
//! device's logical block. fastgate's write buffers are whole multiples of
//! [`ALIGN`], allocated on that boundary; the one buffer that is not (the last one of a
//! chunk) turns `O_DIRECT` off for the rest of the file and goes through the page cache.
//! Filesystems that refuse `O_DIRECT` (tmpfs) get plain buffered writes.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Alignment of buffers, offsets and lengths for direct writes: the largest logical
/// block size in common use (4 KiB-sector disks; 512-byte ones accept it too).
pub const ALIGN: usize = 4096;

/// A fixed-capacity byte buffer that starts on an [`ALIGN`] boundary.
///
/// Safe code over a `Vec`: the vector is allocated up to `ALIGN - 1` bytes larger than
/// the buffer, padded with zeroes up to the first aligned address, and never grows past
/// its capacity, so it never moves and the buffer stays aligned. Only the padding is
/// zeroed, never the buffer: a fill is the one copy of the bytes.
pub struct AlignedBuf {
    bytes: Vec<u8>,
    /// Where the buffer starts in `bytes`: the padding's length.
    start: usize,
    cap: usize,
}

impl AlignedBuf {
    /// A buffer of `cap` bytes, rounded up to a multiple of [`ALIGN`].
    pub fn with_capacity(cap: usize) -> Self {
        let cap = cap.max(1).next_multiple_of(ALIGN);
        let mut bytes = Vec::<u8>::with_capacity(cap + ALIGN - 1);
        let addr = bytes.as_ptr().addr();
        let start = addr.next_multiple_of(ALIGN) - addr;
        bytes.resize(start, 0);
        Self { bytes, start, cap }
    }

    fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    /// Appends as much of `data` as fits and returns how much that was.
    pub fn fill_from(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.cap - self.len());
        // Within the capacity allocated up front: no reallocation, no move.
        self.bytes.extend_from_slice(&data[..n]);
        n
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_full(&self) -> bool {
        self.len() == self.cap
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

/// A new file written around the page cache where the filesystem allows it.
pub struct DirectFile {
    file: File,
    direct: bool,
    offset: u64,
}

impl DirectFile {
    /// Creates `path` (which must not exist), with `O_DIRECT` when `direct` is asked
    /// for and the filesystem supports it.
    pub fn create(path: &Path, direct: bool) -> io::Result<Self> {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        if direct {
            match opts.clone().custom_flags(libc::O_DIRECT).open(path) {
                Ok(file) => {
                    return Ok(Self {
                        file,
                        direct: true,
                        offset: 0,
                    });
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Self {
            file: opts.open(path)?,
            direct: false,
            offset: 0,
        })
    }

    /// Whether writes still bypass the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Appends `data`: directly when it is aligned, through the page cache otherwise
    /// (and from then on).
    pub fn append(&mut self, data: &[u8]) -> io::Result<()> {
        let mut rest = data;
        while !rest.is_empty() {
            // Checked before every write: a short direct write leaves the rest unaligned.
            if self.direct
                && !((rest.as_ptr() as usize).is_multiple_of(ALIGN)
                    && rest.len().is_multiple_of(ALIGN)
                    && self.offset.is_multiple_of(ALIGN as u64))
            {
                self.go_buffered()?;
            }
            match self.file.write(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    rest = &rest[n..];
                    self.offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Some filesystems accept the flag at open and refuse the write; a
                // refused write wrote nothing, so it is simply written again buffered.
                Err(e) if self.direct && e.raw_os_error() == Some(libc::EINVAL) => self.go_buffered()?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn go_buffered(&mut self) -> io::Result<()> {
        use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
        let flags = fcntl_getfl(&self.file)?;
        fcntl_setfl(&self.file, flags - OFlags::DIRECT)?;
        self.direct = false;
        Ok(())
    }

    /// Bytes appended so far.
    pub fn len(&self) -> u64 {
        self.offset
    }

    pub fn file(&self) -> &File {
        &self.file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffer_fills_up_to_its_capacity() {
        let mut b = AlignedBuf::with_capacity(5000);
        assert_eq!(b.as_ref().as_ptr() as usize % ALIGN, 0);
        assert_eq!(b.fill_from(&[7u8; 3000]), 3000);
        assert_eq!(
            b.as_ref().as_ptr() as usize % ALIGN,
            0,
            "a fill does not move the buffer"
        );
        assert_eq!(b.fill_from(&[8u8; 9000]), 2 * ALIGN - 3000);
        assert!(b.is_full());
        assert_eq!(b.fill_from(&[9u8; 10]), 0);
        assert_eq!(b.as_ref().len(), 2 * ALIGN);
        assert!(b.as_ref()[..3000].iter().all(|&x| x == 7));
        assert!(b.as_ref()[3000..].iter().all(|&x| x == 8));
    }

    #[test]
    fn direct_file_takes_aligned_and_unaligned_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = DirectFile::create(&path, true).unwrap();
        let mut whole = Vec::new();
        for (i, n) in [ALIGN * 4, ALIGN * 2, 1000, ALIGN].into_iter().enumerate() {
            let mut b = AlignedBuf::with_capacity(n);
            let data = vec![i as u8 + 1; n];
            b.fill_from(&data);
            f.append(b.as_ref()).unwrap();
            whole.extend_from_slice(&data);
        }
        // The unaligned piece ends direct writes for the rest of the file.
        assert!(!f.is_direct());
        assert_eq!(f.len(), whole.len() as u64);
        f.file().sync_data().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), whole);
        assert!(DirectFile::create(&path, true).is_err(), "create must not overwrite");
    }
}
