//! The embedded default engine: sled's stable 0.34 line (the 1.0 alphas change their
//! on-disk format between releases).

use std::ops::Bound;
use std::path::Path;

use super::{Entry, MetaError, MetaStore, WriteBatch};

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
            .map_err(err)?;
        let tree = db.open_tree("fastgate").map_err(err)?;
        Ok(Self { db, tree })
    }
}

fn err(e: impl std::fmt::Display) -> MetaError {
    MetaError(e.to_string())
}

fn to_owned_bound(b: Bound<&[u8]>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(k.to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn entry(r: sled::Result<(sled::IVec, sled::IVec)>) -> Result<Entry, MetaError> {
    r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(err)
}

impl MetaStore for SledStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MetaError> {
        self.tree.get(key).map(|v| v.map(|v| v.to_vec())).map_err(err)
    }

    fn range<'a>(
        &'a self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
    ) -> Box<dyn Iterator<Item = Result<Entry, MetaError>> + Send + 'a> {
        let r = (to_owned_bound(from), to_owned_bound(to));
        Box::new(self.tree.range::<Vec<u8>, _>(r).map(entry))
    }

    fn range_rev<'a>(
        &'a self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
    ) -> Box<dyn Iterator<Item = Result<Entry, MetaError>> + Send + 'a> {
        let r = (to_owned_bound(from), to_owned_bound(to));
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
        self.tree.apply_batch(b).map_err(err)
    }

    fn flush(&self) -> Result<(), MetaError> {
        self.db.flush().map(drop).map_err(err)
    }
}
