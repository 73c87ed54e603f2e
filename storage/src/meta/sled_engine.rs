//! The embedded default engine: sled's stable 0.34 line (the 1.0 alphas change their
//! on-disk format between releases).

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{Entry, MetaError, MetaStore, Scan, WriteBatch, engine_error, owned_bound, path_error};

pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
    durable: Durable,
}

impl SledStore {
    pub fn open(dir: &Path) -> Result<Self, MetaError> {
        let db = sled::Config::new()
            .path(dir)
            // Durability comes from explicit group-committed flushes; the periodic
            // flush only bounds how much unacknowledged work a crash can drop.
            .flush_every_ms(Some(1000))
            // Metadata records are small; a modest cache keeps the server's resident size
            // bounded (64 concurrent large uploads must fit in 256 MiB).
            .cache_capacity(32 * 1024 * 1024)
            .open()
            .map_err(engine_error)?;
        let tree = db.open_tree("fastgate").map_err(engine_error)?;
        let durable = Durable::open(dir)?;
        Ok(Self { db, tree, durable })
    }
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
        self.tree.get(key).map(|v| v.map(|v| v.to_vec())).map_err(engine_error)
    }

    fn range<'a>(&'a self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Scan<'a> {
        let r = (owned_bound(from), owned_bound(to));
        Box::new(self.tree.range::<Vec<u8>, _>(r).map(entry))
    }

    fn range_rev<'a>(&'a self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Scan<'a> {
        let r = (owned_bound(from), owned_bound(to));
        Box::new(self.tree.range::<Vec<u8>, _>(r).rev().map(entry))
    }

    fn apply(&self, batch: WriteBatch) -> Result<(), MetaError> {
        let mut b = sled::Batch::default();
        for (k, v) in batch {
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        self.tree.apply_batch(b).map_err(engine_error)
    }

    fn flush(&self) -> Result<(), MetaError> {
        self.db.flush().map_err(engine_error)?;
        self.durable.sync()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let synced = store.durable.synced_blobs.lock().unwrap().len();
        assert!(synced >= 1, "the large value's blob file was not seen");
        assert_eq!(store.get(b"big").unwrap(), Some(big));
    }
}
