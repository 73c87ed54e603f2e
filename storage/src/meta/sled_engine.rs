//! The embedded default engine: sled's stable 0.34 line (the 1.0 alphas change their
//! on-disk format between releases).

use std::any::Any;
use std::ops::Bound;
use std::path::Path;

use std::cell::Cell;

use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};

use super::{Entry, MetaError, MetaStore, TxBody, TxError, Txn};

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

/// A transaction view that remembers a conflict, so that the body's error can be turned
/// back into sled's retry signal instead of failing the request.
struct SledTxn<'a> {
    tree: &'a TransactionalTree,
    conflicted: Cell<bool>,
}

impl SledTxn<'_> {
    fn check<T>(&self, r: Result<T, UnabortableTransactionError>) -> Result<T, MetaError> {
        r.map_err(|e| {
            if matches!(e, UnabortableTransactionError::Conflict) {
                self.conflicted.set(true);
            }
            err(e)
        })
    }
}

impl Txn for SledTxn<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MetaError> {
        self.check(self.tree.get(key)).map(|v| v.map(|v| v.to_vec()))
    }
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), MetaError> {
        self.check(self.tree.insert(key, value)).map(drop)
    }
    fn delete(&self, key: &[u8]) -> Result<(), MetaError> {
        self.check(self.tree.remove(key)).map(drop)
    }
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

    fn transact(&self, body: &TxBody<'_>) -> Result<(), TxError<Box<dyn Any + Send>>> {
        // sled retries the closure on conflict; an abort carries the caller's error out
        // through sled's own abort channel. The abort value must be Clone for sled's
        // retry machinery, so it travels in an Arc'd slot.
        type Slot = std::sync::Arc<std::sync::Mutex<Option<TxError<Box<dyn Any + Send>>>>>;
        let res: Result<(), TransactionError<Slot>> = self.tree.transaction(|tree| {
            let txn = SledTxn {
                tree,
                conflicted: Cell::new(false),
            };
            match body(&txn) {
                Ok(()) => Ok(()),
                Err(_) if txn.conflicted.get() => Err(ConflictableTransactionError::Conflict),
                Err(e) => Err(ConflictableTransactionError::Abort(std::sync::Arc::new(
                    std::sync::Mutex::new(Some(e)),
                ))),
            }
        });
        match res {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(slot)) => {
                let taken = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
                Err(taken.unwrap_or_else(|| TxError::Engine(MetaError("lost transaction abort".into()))))
            }
            Err(TransactionError::Storage(e)) => Err(TxError::Engine(err(e))),
        }
    }

    fn flush(&self) -> Result<(), MetaError> {
        self.db.flush().map(drop).map_err(err)
    }
}
