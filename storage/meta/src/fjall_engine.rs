//! An LSM engine (fjall): a write batch is one append to its journal and a few
//! in-memory inserts, and a flush is one `fdatasync` of that journal. That makes it
//! the cheaper engine for many small durable writes.

use std::ops::Bound;
use std::path::Path;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{Entry, MetaError, MetaStore, Scan, WriteBatch, engine_error, owned_bound};

pub struct FjallStore {
    db: Database,
    tree: Keyspace,
}

impl FjallStore {
    pub fn open(dir: &Path) -> Result<Self, MetaError> {
        let db = Database::builder(dir)
            // The committer asks for durability once per group commit (`flush`).
            .manual_journal_persist(true)
            // Memory is budgeted for object data in flight (64 concurrent large
            // uploads in 256 MiB); metadata blocks are small and mostly read in order.
            .cache_size(16 << 20)
            .open()
            .map_err(engine_error)?;
        let tree = db
            .keyspace("fastgate", || {
                // fjall's default of 64 MiB per memtable would hold a quarter of that
                // budget in keys already written; a smaller one flushes sooner.
                KeyspaceCreateOptions::default().max_memtable_size(16 << 20)
            })
            .map_err(engine_error)?;
        Ok(Self { db, tree })
    }
}

fn entry(g: fjall::Guard) -> Result<Entry, MetaError> {
    g.into_inner()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .map_err(engine_error)
}

impl MetaStore for FjallStore {
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

    fn apply(&self, mut batch: WriteBatch) -> Result<(), MetaError> {
        // The store's one writer applies batches one at a time: nothing moves the
        // counters between these reads and this apply.
        batch.resolve_adds(|k| self.get(k))?;
        let mut b = self.db.batch().durability(Some(PersistMode::Buffer));
        for (k, v) in batch {
            match v {
                Some(v) => b.insert(&self.tree, k, v),
                None => b.remove(&self.tree, k),
            }
        }
        b.commit().map_err(engine_error)
    }

    fn flush(&self) -> Result<(), MetaError> {
        self.db.persist(PersistMode::SyncData).map_err(engine_error)
    }
}
