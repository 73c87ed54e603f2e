//! The embedded default engine: sled's stable 0.34 line (the 1.0 alphas change their
//! on-disk format between releases).

use std::ops::Bound;
use std::path::Path;

use super::{Entry, MetaError, MetaStore, Scan, WriteBatch, engine_error, owned_bound};

pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
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
            .cache_capacity(64 * 1024 * 1024)
            .open()
            .map_err(engine_error)?;
        let tree = db.open_tree("fastgate").map_err(engine_error)?;
        Ok(Self { db, tree })
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
        self.db.flush().map(drop).map_err(engine_error)
    }
}
