//! A write-ahead journal of write batches: the durability of an engine whose own
//! atomic, durable commit is too costly to pay once per group commit.
//!
//! sled is that engine: every `apply_batch` rolls its log buffer twice (each roll hands
//! a write to its I/O pool, which wakes all of the pool's threads), and its flush is a
//! `sync_file_range` that still needs an `fdatasync` after it. Through this journal a
//! group commit is one append and one `fdatasync`; the batches then go into the engine
//! as plain writes, and the engine is made durable only at checkpoints, after which the
//! journal files it covers are deleted.
//!
//! The journal is a folder of numbered files, each zero-filled ahead of its records
//! ([`Room`]). A record is a batch: its length, its CRC-32C and its writes. Replay reads the files in order and each file up to its first
//! torn or corrupt record (the tail a crash cut short, never acknowledged). Records hold
//! whole values, not changes, so replaying a record the engine already has is harmless:
//! after a crash the engine holds some prefix of the journaled batches, and replaying
//! them all in order ends in the same state.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{MetaError, WriteBatch, path_error};
use crate::room::Room;

/// Bytes before a record's payload: its length and its CRC-32C.
const HEADER: usize = 8;

const PUT: u8 = 1;
const DELETE: u8 = 0;

/// The open journal: the file appended to now, and the folder of all of them.
pub(super) struct Journal {
    dir: PathBuf,
    file: File,
    number: u64,
    len: u64,
    room: Room,
}

impl Journal {
    /// Opens the journal in `dir`, creating it when missing. Returns the batches of the
    /// files already there (in the order they were written), which the caller must
    /// apply to the engine and make durable before calling [`Journal::retire`] on them.
    pub fn open(dir: &Path) -> Result<(Self, Vec<WriteBatch>, u64), MetaError> {
        std::fs::create_dir_all(dir).map_err(|e| path_error(dir, e))?;
        let mut numbers = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| path_error(dir, e))? {
            let entry = entry.map_err(|e| path_error(dir, e))?;
            if let Some(n) = entry.file_name().to_str().and_then(parse_name) {
                numbers.push(n);
            }
        }
        numbers.sort_unstable();
        let mut batches = Vec::new();
        for &n in &numbers {
            let path = dir.join(file_name(n));
            let bytes = std::fs::read(&path).map_err(|e| path_error(&path, e))?;
            let (found, end) = decode_all(&bytes);
            if end < bytes.len() {
                tracing::warn!(
                    path = %path.display(),
                    valid = end,
                    len = bytes.len(),
                    "metadata journal ends in a torn or corrupt record (a write cut short by a crash); replaying up to it"
                );
            }
            batches.extend(found);
        }
        let last = numbers.last().copied().unwrap_or(0);
        let journal = Self::create(dir, last + 1)?;
        Ok((journal, batches, last))
    }

    fn create(dir: &Path, number: u64) -> Result<Self, MetaError> {
        let path = dir.join(file_name(number));
        let file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .map_err(|e| path_error(&path, e))?;
        // The file must outlive a crash before anything in it is relied on.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| path_error(dir, e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            file,
            number,
            len: 0,
            room: Room::default(),
        })
    }

    /// Appends encoded records and makes them durable.
    pub fn append(&mut self, records: &[u8]) -> Result<(), MetaError> {
        let path = || self.dir.join(file_name(self.number));
        let end = self.len + records.len() as u64;
        self.room.reserve(&self.file, end).map_err(|e| path_error(&path(), e))?;
        self.file
            .write_all_at(records, self.len)
            .map_err(|e| path_error(&path(), e))?;
        self.file.sync_data().map_err(|e| path_error(&path(), e))?;
        self.len += records.len() as u64;
        Ok(())
    }

    /// Bytes in the current file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Starts a new file; records appended from now on go there. Returns the number of
    /// the last file that the next checkpoint covers.
    pub fn rotate(&mut self) -> Result<u64, MetaError> {
        let done = self.number;
        *self = Self::create(&self.dir, self.number + 1)?;
        Ok(done)
    }

    /// Deletes the files up to `through`, once the engine holds their batches durably.
    pub fn retire(dir: &Path, through: u64) -> Result<(), MetaError> {
        for entry in std::fs::read_dir(dir).map_err(|e| path_error(dir, e))? {
            let entry = entry.map_err(|e| path_error(dir, e))?;
            if entry
                .file_name()
                .to_str()
                .and_then(parse_name)
                .is_some_and(|n| n <= through)
            {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(|e| path_error(&path, e))?;
            }
        }
        // A deletion lost to a crash only means replaying batches the engine has.
        Ok(())
    }
}

fn file_name(number: u64) -> String {
    format!("{number:016}.log")
}

fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    (digits.len() == 16).then(|| digits.parse().ok()).flatten()
}

/// Appends `batch` as one record to `out`.
pub(super) fn encode(batch: &WriteBatch, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    for (key, value) in &batch.0 {
        match value {
            Some(v) => {
                out.push(PUT);
                put_bytes(out, key);
                put_bytes(out, v);
            }
            None => {
                out.push(DELETE);
                put_bytes(out, key);
            }
        }
    }
    let payload = &out[start + HEADER..];
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let crc = crc32c(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Keys and values are far below 4 GiB (an object record of 10,000 parts is about a
    // megabyte); `encode` would otherwise write a length its CRC then rejects.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

fn crc32c(bytes: &[u8]) -> u32 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, bytes) as u32
}

/// The batches of the whole records at the start of `bytes`, and where they end.
fn decode_all(bytes: &[u8]) -> (Vec<WriteBatch>, usize) {
    let mut batches = Vec::new();
    let mut at = 0;
    while let Some((batch, next)) = decode_one(bytes, at) {
        batches.push(batch);
        at = next;
    }
    (batches, at)
}

fn decode_one(bytes: &[u8], at: usize) -> Option<(WriteBatch, usize)> {
    let header = bytes.get(at..at + HEADER)?;
    let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    if len == 0 {
        // The zero-filled room after the last record (a batch is never empty).
        return None;
    }
    let payload = bytes.get(at + HEADER..at + HEADER + len)?;
    if crc32c(payload) != crc {
        return None;
    }
    let mut batch = WriteBatch::default();
    let mut p = payload;
    while let Some((&kind, rest)) = p.split_first() {
        let (key, rest) = take_bytes(rest)?;
        p = match kind {
            PUT => {
                let (value, rest) = take_bytes(rest)?;
                batch.put(key, value);
                rest
            }
            DELETE => {
                batch.delete(key);
                rest
            }
            _ => return None,
        };
    }
    Some((batch, at + HEADER + len))
}

fn take_bytes(p: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_le_bytes(p.get(..4)?.try_into().ok()?) as usize;
    let bytes = p.get(4..4 + len)?;
    Some((bytes, &p[4 + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_batch as batch;

    fn pairs(b: &WriteBatch) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        b.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    #[test]
    fn records_round_trip_and_a_torn_tail_is_dropped() {
        let one = batch(&[("a", Some("1")), ("b", None)]);
        let two = batch(&[("", Some("")), ("c", Some("333"))]);
        let mut bytes = Vec::new();
        encode(&one, &mut bytes);
        encode(&two, &mut bytes);
        let (found, end) = decode_all(&bytes);
        assert_eq!(end, bytes.len());
        assert_eq!(
            found.iter().map(pairs).collect::<Vec<_>>(),
            vec![pairs(&one), pairs(&two)]
        );

        // Every cut inside the second record leaves the first alone.
        let first_end = {
            let mut b = Vec::new();
            encode(&one, &mut b);
            b.len()
        };
        for cut in first_end..bytes.len() {
            let (found, end) = decode_all(&bytes[..cut]);
            assert_eq!((found.len(), end), (1, first_end), "cut at {cut}");
        }
        // A flipped bit anywhere in a record ends the replay there.
        for i in 0..first_end {
            let mut bad = bytes.clone();
            bad[i] ^= 0x10;
            assert_eq!(decode_all(&bad).0.len(), 0, "flip at {i}");
        }
    }

    #[test]
    fn open_returns_the_batches_of_every_file_in_order_and_retire_deletes_them() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, old, last) = Journal::open(dir.path()).unwrap();
        assert!(old.is_empty());
        assert_eq!(last, 0);
        let mut rec = Vec::new();
        encode(&batch(&[("k", Some("1"))]), &mut rec);
        j.append(&rec).unwrap();
        let first = j.rotate().unwrap();
        rec.clear();
        encode(&batch(&[("k", Some("2"))]), &mut rec);
        j.append(&rec).unwrap();
        drop(j);

        let (j, old, last) = Journal::open(dir.path()).unwrap();
        assert_eq!(
            old.iter().map(pairs).collect::<Vec<_>>(),
            vec![pairs(&batch(&[("k", Some("1"))])), pairs(&batch(&[("k", Some("2"))])),]
        );
        assert_eq!(last, first + 1);
        assert_eq!(j.len(), 0);
        Journal::retire(dir.path(), last).unwrap();
        drop(j);
        let (_, old, _) = Journal::open(dir.path()).unwrap();
        assert!(old.is_empty());
    }
}
