//! The embedded default engine: sled's stable 0.34 line (the 1.0 alphas change their
//! on-disk format between releases), behind a write-ahead journal.
//!
//! A batch is journaled first (one append and one `fdatasync` per group commit, see
//! [`super::journal`]) and only then written into sled as plain inserts and removals;
//! until then readers find it in [`Unapplied`]. sled itself is made durable at
//! checkpoints, on a thread of their own, after which the journal files it covers are
//! deleted. That takes sled's costly per-batch work (two log rolls and the wake-ups of
//! its whole I/O pool per `apply_batch`, a `sync_file_range` plus an `fdatasync` per
//! flush) off every commit, while a crash still loses nothing acknowledged: opening
//! the store replays the journal into sled.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use super::journal::{self, Journal};
use super::unapplied::Unapplied;
use super::{Entry, MetaError, MetaStore, Scan, WriteBatch, engine_error, owned_bound, path_error};

/// Journal bytes after which sled is checkpointed and the journal starts a new file:
/// bounds the replay at start-up to a few seconds.
const CHECKPOINT_BYTES: u64 = 32 << 20;

pub struct SledStore {
    tree: sled::Tree,
    unapplied: Unapplied,
    queue: Mutex<Queue>,
    /// Held for a whole flush, so flushes happen one at a time and in order.
    journal: Mutex<Flushing>,
    checkpoint_bytes: u64,
    checkpoints: Option<mpsc::Sender<u64>>,
    checkpointer: Option<std::thread::JoinHandle<()>>,
    #[cfg(test)]
    durable: Arc<Durable>,
}

/// Batches applied but not yet journaled.
#[derive(Default)]
struct Queue {
    seq: u64,
    records: Vec<u8>,
    batches: Vec<WriteBatch>,
}

struct Flushing {
    journal: Journal,
    /// Set when a journaled batch could not be written into sled: its journal file must
    /// then stay for the replay at the next start, so no checkpoint may delete it.
    stuck: bool,
}

impl SledStore {
    pub fn open(dir: &Path) -> Result<Self, MetaError> {
        Self::open_with(dir, CHECKPOINT_BYTES)
    }

    fn open_with(dir: &Path, checkpoint_bytes: u64) -> Result<Self, MetaError> {
        let db = sled::Config::new()
            .path(dir)
            // Durability comes from the journal; the periodic flush lets sled write its
            // log and clean its segments in the background.
            .flush_every_ms(Some(1000))
            // Metadata records are small; a modest cache keeps the server's resident size
            // bounded (64 concurrent large uploads must fit in 256 MiB).
            .cache_capacity(32 * 1024 * 1024)
            .open()
            .map_err(engine_error)?;
        let tree = db.open_tree("fastgate").map_err(engine_error)?;
        let durable = Arc::new(Durable::open(dir)?);

        let journal_dir = dir.join("journal");
        let (journal, replay, last) = Journal::open(&journal_dir)?;
        if !replay.is_empty() {
            tracing::info!(batches = replay.len(), "replaying the metadata journal into sled");
            for batch in &replay {
                write_plain(&tree, batch)?;
            }
            db.flush().map_err(engine_error)?;
            durable.sync()?;
        }
        Journal::retire(&journal_dir, last)?;

        let (tx, rx) = mpsc::channel::<u64>();
        let checkpointer = std::thread::Builder::new()
            .name("fastgate-meta-checkpoint".into())
            .spawn({
                let durable = durable.clone();
                move || {
                    for through in rx {
                        let done = db.flush().map_err(engine_error).and_then(|_| durable.sync());
                        match done.and_then(|()| Journal::retire(&journal_dir, through)) {
                            Ok(()) => tracing::debug!(through, "metadata checkpoint"),
                            // The journal files stay and are replayed at the next start.
                            Err(e) => tracing::error!(error = %e, "metadata checkpoint failed"),
                        }
                    }
                }
            })
            .map_err(|e| MetaError(format!("starting the checkpoint thread: {e}")))?;
        Ok(Self {
            tree,
            unapplied: Unapplied::default(),
            queue: Mutex::default(),
            journal: Mutex::new(Flushing { journal, stuck: false }),
            checkpoint_bytes,
            checkpoints: Some(tx),
            checkpointer: Some(checkpointer),
            #[cfg(test)]
            durable,
        })
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        // Let a checkpoint under way finish before sled closes.
        drop(self.checkpoints.take());
        if let Some(t) = self.checkpointer.take() {
            let _ = t.join();
        }
    }
}

/// Writes a journaled batch into sled key by key: atomicity and durability are the
/// journal's, so sled's own batch machinery is not needed.
fn write_plain(tree: &sled::Tree, batch: &WriteBatch) -> Result<(), MetaError> {
    for (k, v) in &batch.0 {
        match v {
            Some(v) => tree.insert(k.as_slice(), v.as_slice()).map(drop),
            None => tree.remove(k.as_slice()).map(drop),
        }
        .map_err(engine_error)?;
    }
    Ok(())
}

/// What sled's own flush leaves out, done after it. sled makes its log writes stable
/// with `sync_file_range`, which neither writes the file's metadata (the new size and
/// blocks of a grown log) nor flushes the disk's write cache, and it writes values too
/// large for its log (over 128 KiB: an object of a few thousand parts) to files of their
/// own under `blobs/` without syncing them at all. Either could lose an acknowledged
/// write to a power cut, so a flush here ends with an `fdatasync` of the log and an
/// fsync of each blob file (and of the folder) not synced before.
struct Durable {
    log: File,
    log_path: PathBuf,
    blobs: PathBuf,
    synced_blobs: Mutex<HashSet<OsString>>,
}

impl Durable {
    fn open(dir: &Path) -> Result<Self, MetaError> {
        let log_path = dir.join("db");
        let log = File::open(&log_path).map_err(|e| path_error(&log_path, e))?;
        Ok(Self {
            log,
            log_path,
            blobs: dir.join("blobs"),
            synced_blobs: Mutex::default(),
        })
    }

    fn sync(&self) -> Result<(), MetaError> {
        self.log.sync_data().map_err(|e| path_error(&self.log_path, e))?;
        let mut synced = self.synced_blobs.lock().unwrap_or_else(|p| p.into_inner());
        let mut present = HashSet::new();
        let mut added = false;
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(path_error(&self.blobs, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| path_error(&self.blobs, e))?;
            let name = entry.file_name();
            if !synced.contains(&name) {
                let path = entry.path();
                match File::open(&path) {
                    Ok(f) => f.sync_all().map_err(|e| path_error(&path, e))?,
                    // Replaced and removed by sled since it was listed.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(path_error(&path, e)),
                }
                added = true;
            }
            present.insert(name);
        }
        if added {
            File::open(&self.blobs)
                .and_then(|d| d.sync_all())
                .map_err(|e| path_error(&self.blobs, e))?;
        }
        *synced = present;
        Ok(())
    }
}

fn entry(r: sled::Result<(sled::IVec, sled::IVec)>) -> Result<Entry, MetaError> {
    r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(engine_error)
}

impl MetaStore for SledStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MetaError> {
        if let Some(v) = self.unapplied.get(key) {
            return Ok(v);
        }
        self.tree.get(key).map(|v| v.map(|v| v.to_vec())).map_err(engine_error)
    }

    fn range<'a>(&'a self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Scan<'a> {
        let r = (owned_bound(from), owned_bound(to));
        let engine = Box::new(self.tree.range::<Vec<u8>, _>(r).map(entry));
        self.unapplied.merge(from, to, false, engine)
    }

    fn range_rev<'a>(&'a self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Scan<'a> {
        let r = (owned_bound(from), owned_bound(to));
        let engine = Box::new(self.tree.range::<Vec<u8>, _>(r).rev().map(entry));
        self.unapplied.merge(from, to, true, engine)
    }

    fn apply(&self, mut batch: WriteBatch) -> Result<(), MetaError> {
        if batch.is_empty() {
            return Ok(());
        }
        // The store's one writer applies batches one at a time: nothing moves the
        // counters between these reads and this apply.
        batch.resolve_adds(|k| self.get(k))?;
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.seq += 1;
        journal::encode(&batch, &mut q.records);
        self.unapplied.insert(q.seq, &batch);
        q.batches.push(batch);
        Ok(())
    }

    fn flush(&self) -> Result<(), MetaError> {
        let mut f = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        let (records, batches, through) = {
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            (std::mem::take(&mut q.records), std::mem::take(&mut q.batches), q.seq)
        };
        if batches.is_empty() {
            return Ok(());
        }
        if let Err(e) = f.journal.append(&records) {
            // The file may now end in part of a record, and after a failed fsync its
            // pages are in doubt: later records go to a new file (replay stops at the
            // torn record and goes on with the next file). The batches go back to the
            // front of the queue, for the next flush to try again.
            if let Err(r) = f.journal.rotate() {
                tracing::error!(error = %r, "starting a new metadata journal file");
            }
            let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            let later_records = std::mem::replace(&mut q.records, records);
            q.records.extend_from_slice(&later_records);
            let later = std::mem::replace(&mut q.batches, batches);
            q.batches.extend(later);
            return Err(e);
        }
        for batch in &batches {
            if let Err(e) = write_plain(&self.tree, batch) {
                // Readers keep seeing the batches in `unapplied`; the journal has them.
                f.stuck = true;
                return Err(e);
            }
        }
        self.unapplied.remove(through, &batches);
        if f.journal.len() >= self.checkpoint_bytes && !f.stuck {
            let done = f.journal.rotate()?;
            if let Some(tx) = &self.checkpoints {
                let _ = tx.send(done);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_batch as batch;

    #[test]
    fn a_flush_syncs_the_blob_files_of_large_values() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let big = vec![7u8; 300 * 1024];
        let mut batch = WriteBatch::default();
        batch.put(b"big", &big);
        batch.put(b"small", b"1");
        store.apply(batch).unwrap();
        store.flush().unwrap();
        store.durable.sync().unwrap();
        let synced = store.durable.synced_blobs.lock().unwrap().len();
        assert!(synced >= 1, "the large value's blob file was not seen");
        assert_eq!(store.get(b"big").unwrap(), Some(big));
    }

    fn all(store: &SledStore) -> Vec<(String, String)> {
        store
            .range(Bound::Unbounded, Bound::Unbounded)
            .map(|e| {
                let (k, v) = e.unwrap();
                (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap())
            })
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// sled releases its lock from a background thread after the last handle drops.
    fn reopen(dir: &Path, checkpoint_bytes: u64) -> SledStore {
        (0..200)
            .find_map(|_| {
                SledStore::open_with(dir, checkpoint_bytes).ok().or_else(|| {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    None
                })
            })
            .expect("reopened")
    }

    fn journal_files(dir: &Path) -> Vec<u64> {
        let mut v: Vec<u64> = std::fs::read_dir(dir.join("journal"))
            .unwrap()
            .map(|e| std::fs::metadata(e.unwrap().path()).unwrap().len())
            .collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn an_applied_batch_is_read_whole_before_and_after_its_flush() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        store
            .apply(batch(&[("a", Some("1")), ("b", Some("2")), ("c", Some("3"))]))
            .unwrap();
        store.flush().unwrap();
        store.apply(batch(&[("b", None), ("d", Some("4"))])).unwrap();
        // Not flushed: sled has none of it yet, readers see all of it.
        assert_eq!(store.tree.get("d").unwrap(), None);
        assert_eq!(store.get(b"b").unwrap(), None);
        assert_eq!(all(&store), pairs(&[("a", "1"), ("c", "3"), ("d", "4")]));
        let rev: Vec<_> = store
            .range_rev(Bound::Unbounded, Bound::Excluded(b"d"))
            .map(|e| e.unwrap().0)
            .collect();
        assert_eq!(rev, [b"c".to_vec(), b"a".to_vec()]);
        store.flush().unwrap();
        assert_eq!(store.tree.get("d").unwrap().as_deref(), Some(&b"4"[..]));
        assert_eq!(all(&store), pairs(&[("a", "1"), ("c", "3"), ("d", "4")]));
    }

    #[test]
    fn opening_replays_the_journal_a_crash_left_and_stops_at_a_torn_record() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        store.apply(batch(&[("a", Some("1")), ("b", Some("2"))])).unwrap();
        store.flush().unwrap();
        drop(store);
        // What a crash leaves: batches the journal made durable that sled never got,
        // then a record cut short.
        let mut bytes = Vec::new();
        journal::encode(&batch(&[("a", None), ("c", Some("3"))]), &mut bytes);
        journal::encode(&batch(&[("c", Some("33")), ("d", Some("4"))]), &mut bytes);
        let whole = bytes.len();
        journal::encode(&batch(&[("e", Some("5"))]), &mut bytes);
        bytes.truncate(whole + 7);
        std::fs::write(dir.path().join("journal").join(format!("{:016}.log", 900)), &bytes).unwrap();

        let store = reopen(dir.path(), CHECKPOINT_BYTES);
        assert_eq!(all(&store), pairs(&[("b", "2"), ("c", "33"), ("d", "4")]));
        assert_eq!(
            store.tree.get("c").unwrap().as_deref(),
            Some(&b"33"[..]),
            "replayed into sled"
        );
        assert_eq!(journal_files(dir.path()), [0], "replayed files are deleted");
    }

    #[test]
    fn checkpoints_make_sled_durable_and_delete_the_journal_files_they_cover() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open_with(dir.path(), 1).unwrap();
        for i in 0..20 {
            store.apply(batch(&[(&format!("k{i:02}"), Some("v"))])).unwrap();
            store.flush().unwrap();
        }
        drop(store);
        // Dropping waits for the checkpoints under way.
        assert_eq!(journal_files(dir.path()), [0]);
        let store = reopen(dir.path(), 1);
        assert_eq!(all(&store).len(), 20);
    }
}
