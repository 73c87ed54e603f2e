//! The metadata engine seam.
//!
//! Everything above this module talks to [`MetaStore`] only, so that another embedded
//! engine (redb, LMDB) or a server database can replace sled without touching the
//! catalog or the gateway. The trait is deliberately narrow: point reads, ordered
//! range scans and atomic read-modify-write transactions over one ordered keyspace.

mod sled_engine;

pub use sled_engine::SledStore;

use std::ops::Bound;

/// An engine failure. Engines flatten their own error types into this so that the
/// rest of the crate never names an engine.
#[derive(Debug, thiserror::Error)]
#[error("metadata engine: {0}")]
pub struct MetaError(pub String);

/// Why a transaction body stopped: an engine failure, or a reason of the caller's
/// that must abort the whole transaction (and is handed back unchanged).
#[derive(Debug)]
pub enum TxError<E> {
    Engine(MetaError),
    Abort(E),
}

impl<E> From<MetaError> for TxError<E> {
    fn from(e: MetaError) -> Self {
        TxError::Engine(e)
    }
}

/// The view a transaction body has of the keyspace. Reads see the transaction's own
/// writes; nothing is visible to others until the body returns `Ok`.
pub trait Txn {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MetaError>;
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), MetaError>;
    fn delete(&self, key: &[u8]) -> Result<(), MetaError>;
}

/// One key-value pair from a range scan.
pub type Entry = (Vec<u8>, Vec<u8>);

/// The body of a transaction. It may run more than once when the engine retries after
/// a conflict, so it must have no effects other than through the [`Txn`].
pub type TxBody<'a> = dyn Fn(&dyn Txn) -> Result<(), TxError<Box<dyn std::any::Any + Send>>> + 'a;

/// An ordered, transactional key-value store: the only thing the storage layer asks of
/// a metadata engine.
pub trait MetaStore: Send + Sync + 'static {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MetaError>;

    /// Ascending scan over `[from, to)`-style bounds.
    fn range<'a>(
        &'a self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
    ) -> Box<dyn Iterator<Item = Result<Entry, MetaError>> + Send + 'a>;

    /// Descending scan, used to find the last key below a bound.
    fn range_rev<'a>(
        &'a self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
    ) -> Box<dyn Iterator<Item = Result<Entry, MetaError>> + Send + 'a>;

    /// Runs `body` atomically and in isolation.
    fn transact(&self, body: &TxBody<'_>) -> Result<(), TxError<Box<dyn std::any::Any + Send>>>;

    /// Makes every committed transaction durable. Blocking; callers batch it (see
    /// `durability::GroupCommit`).
    fn flush(&self) -> Result<(), MetaError>;
}

/// Typed convenience over [`MetaStore::transact`]: the body returns a value of its own
/// and aborts with an error of its own type.
pub fn transaction<T, E, F>(store: &dyn MetaStore, body: F) -> Result<T, TxError<E>>
where
    F: Fn(&dyn Txn) -> Result<T, TxError<E>>,
    E: Send + 'static,
    T: Send,
{
    let out = std::sync::Mutex::new(None);
    let res = store.transact(&|tx| match body(tx) {
        Ok(v) => {
            *out.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
            Ok(())
        }
        Err(TxError::Engine(e)) => Err(TxError::Engine(e)),
        Err(TxError::Abort(e)) => Err(TxError::Abort(Box::new(e))),
    });
    match res {
        Ok(()) => out
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .ok_or_else(|| TxError::Engine(MetaError("transaction produced no value".into()))),
        Err(TxError::Engine(e)) => Err(TxError::Engine(e)),
        Err(TxError::Abort(any)) => match any.downcast::<E>() {
            Ok(e) => Err(TxError::Abort(*e)),
            Err(_) => Err(TxError::Engine(MetaError(
                "transaction aborted with a foreign error".into(),
            ))),
        },
    }
}
