//! fastgate's metadata layer (crate `fastgate-meta`): the metadata engine seam.
//!
//! Everything above this crate talks to [`MetaStore`] only, so that another embedded
//! engine or a server database can stand in without touching the catalog or the
//! gateway. Two embedded engines are here, sled (the default) and fjall, and one
//! server database, PostgreSQL, that several gateways share. The trait is deliberately
//! narrow: point reads, ordered range scans, atomic write batches and transactions over
//! one ordered keyspace.

#![forbid(unsafe_code)]

mod convert;
mod engine;
mod fjall_engine;
mod journal;
mod pg_engine;
mod room;
mod sled_engine;
mod unapplied;

pub use convert::{Converted, convert, convert_to_database};
pub use engine::{MetaEngine, engine_of, open, open_at};
pub use fjall_engine::FjallStore;
pub use pg_engine::PgStore;
pub use sled_engine::SledStore;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::Bound;

/// An engine failure. Engines flatten their own error types into this so that the
/// rest of the crate never names an engine.
#[derive(Debug, thiserror::Error)]
#[error("metadata engine: {0}")]
pub struct MetaError(pub String);

/// The start of the message of a [`MetaError`] that says the engine cannot be reached
/// right now (a database server down or restarting): the request may be retried later,
/// and the gateway answers 503 rather than 500.
pub const UNAVAILABLE: &str = "metadata unavailable: ";

impl MetaError {
    /// Whether the engine was out of reach rather than wrong (see [`UNAVAILABLE`]).
    pub fn is_unavailable(&self) -> bool {
        self.0.starts_with(UNAVAILABLE)
    }
}

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
    /// Adds `n` to the counter at `key` without reading it (see [`WriteBatch::add`]).
    fn add(&self, key: &[u8], n: i64) -> Result<(), MetaError>;
    /// Every key that starts with `prefix`, in order, as the transaction sees them.
    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, MetaError>;
    /// The writer this transaction belongs to, on an engine with several (see
    /// [`MetaStore::writer`]); `None` where the store has one writer.
    fn writer(&self) -> Option<u64>;
}

/// Flattens an engine's own error into [`MetaError`].
fn engine_error(e: impl std::fmt::Display) -> MetaError {
    MetaError(e.to_string())
}

/// An I/O failure on one of the engine's paths.
fn path_error(path: &std::path::Path, e: std::io::Error) -> MetaError {
    MetaError(format!("{}: {e}", path.display()))
}

/// A borrowed range bound as an owned one, for engines whose iterators own their range.
fn owned_bound(b: Bound<&[u8]>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(k.to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// One key-value pair from a range scan.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A range scan in progress.
pub type Scan<'a> = Box<dyn Iterator<Item = Result<Entry, MetaError>> + Send + 'a>;

/// Writes gathered to be applied together: each key's new value, or `None` to delete it,
/// and additions to counters ([`WriteBatch::add`]). Later writes to a key replace
/// earlier ones.
#[derive(Debug, Default)]
pub struct WriteBatch(BTreeMap<Vec<u8>, Option<Vec<u8>>>, BTreeMap<Vec<u8>, i64>);

/// The value of a counter ([`WriteBatch::add`]): an `i64`, big-endian. A value of
/// another length counts as 0.
pub fn counter(value: Option<&[u8]>) -> i64 {
    value
        .and_then(|v| <[u8; 8]>::try_from(v).ok())
        .map_or(0, i64::from_be_bytes)
}

/// What a batch does to one key.
enum Pending {
    /// Sets it (`None`: deletes it).
    Set(Option<Vec<u8>>),
    /// Adds to the counter it holds.
    Add(i64),
}

impl WriteBatch {
    pub fn put(&mut self, key: &[u8], value: &[u8]) {
        self.1.remove(key);
        self.0.insert(key.to_vec(), Some(value.to_vec()));
    }

    pub fn delete(&mut self, key: &[u8]) {
        self.1.remove(key);
        self.0.insert(key.to_vec(), None);
    }

    /// Adds `n` to the counter at `key` (see [`counter`]; an absent key holds 0),
    /// without reading it first. On a database that several writers share, the
    /// addition happens in the database, so the transaction neither reads the row nor
    /// holds a lock on what it read: writers that each count in a row of their own
    /// conflict with no one. The embedded engines, with one writer, add when they
    /// apply the batch.
    pub fn add(&mut self, key: &[u8], n: i64) {
        match self.0.get_mut(key) {
            Some(v) => *v = Some((counter(v.as_deref()) + n).to_be_bytes().to_vec()),
            None => *self.1.entry(key.to_vec()).or_default() += n,
        }
    }

    fn pending(&self, key: &[u8]) -> Option<Pending> {
        match self.0.get(key) {
            Some(v) => Some(Pending::Set(v.clone())),
            None => self.1.get(key).map(|n| Pending::Add(*n)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty() && self.1.is_empty()
    }

    /// Turns the batch's additions into puts of the sums, reading each counter with
    /// `read`: what an engine with one writer does before it applies a batch.
    pub fn resolve_adds(
        &mut self,
        read: impl Fn(&[u8]) -> Result<Option<Vec<u8>>, MetaError>,
    ) -> Result<(), MetaError> {
        for (k, n) in std::mem::take(&mut self.1) {
            let now = counter(read(&k)?.as_deref());
            self.0.insert(k, Some((now + n).to_be_bytes().to_vec()));
        }
        Ok(())
    }

    /// Takes the batch's additions out of it, for an engine that adds in the database.
    fn take_adds(&mut self) -> BTreeMap<Vec<u8>, i64> {
        std::mem::take(&mut self.1)
    }

    /// The batch's writes to keys in `[from, to)`: each key and its new value, or
    /// `None` for a deletion.
    pub fn entries_from<'a>(&'a self, from: &[u8], to: &[u8]) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> {
        self.0
            .range::<[u8], _>((Bound::Included(from), Bound::Excluded(to)))
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
    }

    /// The batch's additions to counters at keys in `[from, to)`.
    pub fn additions_from<'a>(&'a self, from: &[u8], to: &[u8]) -> impl Iterator<Item = (&'a [u8], i64)> {
        self.1
            .range::<[u8], _>((Bound::Included(from), Bound::Excluded(to)))
            .map(|(k, n)| (k.as_slice(), *n))
    }

    /// Adds `later`'s writes on top of this batch's.
    pub fn append(&mut self, mut later: WriteBatch) {
        if self.1.is_empty() {
            // No addition of this batch's for a later write to replace: one merge.
            self.0.append(&mut later.0);
        } else {
            for (k, v) in later.0 {
                self.1.remove(&k);
                self.0.insert(k, v);
            }
        }
        for (k, n) in later.1 {
            self.add(&k, n);
        }
    }
}

/// The puts and deletions of the batch. An engine resolves or takes its additions
/// first ([`WriteBatch::resolve_adds`]); any left are not in this.
impl IntoIterator for WriteBatch {
    type Item = (Vec<u8>, Option<Vec<u8>>);
    type IntoIter = std::collections::btree_map::IntoIter<Vec<u8>, Option<Vec<u8>>>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// A batch from `(key, Some(value))` puts and `(key, None)` deletions, for tests.
/// The smallest key greater than every key starting with `prefix`, or `None` when no
/// such key exists (the prefix is all 0xFF).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = prefix.to_vec();
    while let Some(last) = p.pop() {
        if last < 0xFF {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}

#[cfg(test)]
pub(crate) fn test_batch(writes: &[(&str, Option<&str>)]) -> WriteBatch {
    let mut b = WriteBatch::default();
    for (k, v) in writes {
        match v {
            Some(v) => b.put(k.as_bytes(), v.as_bytes()),
            None => b.delete(k.as_bytes()),
        }
    }
    b
}

/// What a transaction reads beneath its own writes: the committed state of an embedded
/// engine, or the server database's transaction.
pub trait Reads {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MetaError>;
    /// Every key that starts with `prefix`, in order.
    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, MetaError>;
    /// See [`MetaStore::writer`].
    fn writer(&self) -> Option<u64>;
}

/// The committed state of a store, as the base of a transaction of its single writer.
pub struct Committed<'a, S: ?Sized>(pub &'a S);

impl<S: MetaStore + ?Sized> Reads for Committed<'_, S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MetaError> {
        self.0.get(key)
    }
    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, MetaError> {
        let end = prefix_end(prefix);
        let upper = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        self.0
            .range(Bound::Included(prefix), upper)
            .map(|kv| kv.map(|(k, _)| k))
            .collect()
    }
    fn writer(&self) -> Option<u64> {
        self.0.writer()
    }
}

/// A transaction run by [`MetaStore::transact`]: it reads through the given [`Reads`]
/// and returns the writes to apply. It may be run more than once.
pub type TransactBody<'a> = dyn FnMut(&dyn Reads) -> Result<WriteBatch, MetaError> + 'a;

/// A held gate (see [`MetaStore::shared_gate`]); dropping it opens the gate.
pub type Gate = Box<dyn Send>;

/// An ordered key-value store with atomic batches: the only thing the storage layer
/// asks of a metadata engine.
///
/// On the embedded engines there are no engine transactions. The store has one writer
/// at a time (the committer thread, or garbage collection while it holds the write
/// gate), which reads what it needs, stages its writes in a [`WriteBatch`] and applies
/// the batch at once. That costs one atomic apply per group commit instead of one
/// engine transaction per request, and any engine with an atomic write batch can serve
/// it. A database shared by several gateways has several writers: there each group
/// commit is one real transaction of the database ([`MetaStore::transact`]), and the
/// gates ([`MetaStore::shared_gate`], [`MetaStore::exclusive_gate`]) reach across
/// processes.
pub trait MetaStore: Send + Sync + 'static {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MetaError>;

    /// Ascending scan over `[from, to)`-style bounds.
    fn range<'a>(&'a self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Scan<'a>;

    /// Descending scan, used to find the last key below a bound.
    fn range_rev<'a>(&'a self, from: Bound<&[u8]>, to: Bound<&[u8]>) -> Scan<'a>;

    /// Applies every write in `batch` atomically: a reader, or a restart after a crash,
    /// sees all of them or none.
    fn apply(&self, batch: WriteBatch) -> Result<(), MetaError>;

    /// Makes everything applied so far durable. Blocking; callers batch it (the
    /// committer flushes once per group commit).
    fn flush(&self) -> Result<(), MetaError>;

    /// Runs `body` as one transaction and applies the writes it returns, atomically.
    /// The embedded engines have one writer (the caller), so the body reads the
    /// committed state and its batch is applied as it is. An engine with several
    /// writers isolates the body's reads from theirs and, when the database reports a
    /// conflict, runs the body again (bounded): a body must depend on nothing but
    /// what it reads.
    fn transact(&self, body: &mut TransactBody<'_>) -> Result<(), MetaError> {
        let batch = body(&Committed(self))?;
        if batch.is_empty() {
            return Ok(());
        }
        self.apply(batch)
    }

    /// Whether a point read costs so little (an embedded engine: about a microsecond)
    /// that an async task may make it inline. A server database answers over the
    /// network, so its reads go to the blocking pool.
    fn reads_inline(&self) -> bool {
        true
    }

    /// Runs of transactions that this store started again because another writer's
    /// transaction conflicted with them, since it was opened: how much writers over one
    /// database get in each other's way. Always 0 on an engine with one writer.
    fn conflicts(&self) -> u64 {
        0
    }

    /// On an engine that several writers (gateways) share, this one's id: drawn when
    /// the store is opened, so that it is no other's, now or before. A writer keeps
    /// rows of its own under it where all of them would otherwise write one row (a
    /// hot chunk's reference count), and so stops conflicting with the others there.
    /// `None` on an engine with one writer, which has no one to conflict with.
    fn writer(&self) -> Option<u64> {
        None
    }

    /// Shares, with every other writer, the right to link chunk files and write
    /// records that point at them; garbage collection takes it exclusively
    /// ([`MetaStore::exclusive_gate`]) to delete chunks. In one process the store's
    /// own write gate does this and the default holds nothing; several gateways over
    /// one database need it held in the database.
    fn shared_gate(&self) -> Result<Gate, MetaError> {
        Ok(Box::new(()))
    }

    /// The right to delete chunks: no writer of any process holds the shared gate
    /// meanwhile.
    fn exclusive_gate(&self) -> Result<Gate, MetaError> {
        Ok(Box::new(()))
    }
}

/// A transaction of one request: reads fall through its own writes, then the writes
/// staged earlier in the same batch (`below`), then the base (the store, or the
/// database's transaction).
struct Overlay<'a> {
    store: &'a dyn Reads,
    below: &'a WriteBatch,
    own: RefCell<WriteBatch>,
}

impl Txn for Overlay<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, MetaError> {
        // Additions pending over whatever lies below them.
        let mut added = 0i64;
        let mut set = None;
        for batch in [&*self.own.borrow(), self.below] {
            match batch.pending(key) {
                Some(Pending::Set(v)) => {
                    set = Some(v);
                    break;
                }
                Some(Pending::Add(n)) => added += n,
                None => {}
            }
        }
        let value = match set {
            Some(v) => v,
            None => self.store.get(key)?,
        };
        Ok(match added {
            0 => value,
            n => Some((counter(value.as_deref()) + n).to_be_bytes().to_vec()),
        })
    }
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), MetaError> {
        self.own.borrow_mut().put(key, value);
        Ok(())
    }
    fn delete(&self, key: &[u8]) -> Result<(), MetaError> {
        self.own.borrow_mut().delete(key);
        Ok(())
    }
    fn add(&self, key: &[u8], n: i64) -> Result<(), MetaError> {
        self.own.borrow_mut().add(key, n);
        Ok(())
    }
    fn keys_with_prefix(&self, prefix: &[u8]) -> Result<Vec<Vec<u8>>, MetaError> {
        let end = prefix_end(prefix);
        let upper = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let mut keys: std::collections::BTreeSet<Vec<u8>> = self.store.keys_with_prefix(prefix)?.into_iter().collect();
        // The batch below, then this transaction's own writes, over the store.
        let own = self.own.borrow();
        for batch in [self.below, &*own] {
            for (k, v) in batch.0.range::<[u8], _>((Bound::Included(prefix), upper)) {
                match v {
                    Some(_) => keys.insert(k.clone()),
                    None => keys.remove(k),
                };
            }
            for k in batch
                .1
                .range::<[u8], _>((Bound::Included(prefix), upper))
                .map(|(k, _)| k)
            {
                keys.insert(k.clone());
            }
        }
        Ok(keys.into_iter().collect())
    }
    fn writer(&self) -> Option<u64> {
        self.store.writer()
    }
}

/// Runs `body` as a transaction over `store` with `below` (writes not applied yet)
/// already in effect. On success returns the body's value and its writes, for the
/// caller to add to its batch; on failure nothing of the body remains.
///
/// Only the store's single writer may call this: reads are not isolated from other
/// writers.
pub fn stage<T, E>(
    store: &dyn MetaStore,
    below: &WriteBatch,
    body: impl FnOnce(&dyn Txn) -> Result<T, TxError<E>>,
) -> Result<(T, WriteBatch), TxError<E>> {
    stage_over(&Committed(store), below, body)
}

/// [`stage`] over any base: inside [`MetaStore::transact`], the reads it is given.
pub fn stage_over<T, E>(
    base: &dyn Reads,
    below: &WriteBatch,
    body: impl FnOnce(&dyn Txn) -> Result<T, TxError<E>>,
) -> Result<(T, WriteBatch), TxError<E>> {
    let tx = Overlay {
        store: base,
        below,
        own: RefCell::new(WriteBatch::default()),
    };
    let out = body(&tx)?;
    Ok((out, tx.own.into_inner()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefix_end_skips_the_prefix() {
        assert_eq!(prefix_end(b"a/"), Some(b"a0".to_vec()));
        assert_eq!(prefix_end(&[b'a', 0xFF]), Some(b"b".to_vec()));
        assert_eq!(prefix_end(&[0xFF]), None);
    }

    use super::*;

    #[test]
    fn a_transaction_sees_its_batch_and_its_own_writes_and_leaves_nothing_on_failure() {
        for engine in MetaEngine::ALL {
            let dir = tempfile::tempdir().unwrap();
            let store = open(engine, dir.path()).unwrap();
            transaction_over_batches(&*store);
        }
    }

    #[test]
    fn additions_to_a_counter_sum_over_the_store_the_batch_below_and_the_transaction() {
        for engine in MetaEngine::ALL {
            let dir = tempfile::tempdir().unwrap();
            let store = open(engine, dir.path()).unwrap();
            let mut first = WriteBatch::default();
            first.add(b"n", 5);
            first.add(b"n", 1);
            store.apply(first).unwrap();
            assert_eq!(counter(store.get(b"n").unwrap().as_deref()), 6);

            let mut below = WriteBatch::default();
            below.add(b"n", 2);
            below.put(b"m", &10i64.to_be_bytes());
            let ((), own) = stage(&*store, &below, |tx| {
                tx.add(b"n", -1)?;
                tx.add(b"m", 3)?;
                tx.add(b"new", 4)?;
                assert_eq!(counter(tx.get(b"n")?.as_deref()), 7);
                assert_eq!(counter(tx.get(b"m")?.as_deref()), 13);
                assert_eq!(tx.keys_with_prefix(b"n")?, [b"n".to_vec(), b"new".to_vec()]);
                Ok::<_, TxError<()>>(())
            })
            .unwrap();
            below.append(own);
            store.apply(below).unwrap();
            for (k, want) in [(&b"n"[..], 7), (b"m", 13), (b"new", 4)] {
                assert_eq!(counter(store.get(k).unwrap().as_deref()), want);
            }
            // A put replaces an addition staged before it.
            let mut b = WriteBatch::default();
            b.add(b"n", 100);
            b.put(b"n", &1i64.to_be_bytes());
            store.apply(b).unwrap();
            assert_eq!(counter(store.get(b"n").unwrap().as_deref()), 1);
        }
    }

    fn transaction_over_batches(store: &dyn MetaStore) {
        let mut first = WriteBatch::default();
        first.put(b"a", b"1");
        first.put(b"b", b"2");
        store.apply(first).unwrap();

        let mut below = WriteBatch::default();
        below.delete(b"a");
        let ((), own) = stage(store, &below, |tx| {
            assert_eq!(tx.get(b"a")?, None);
            assert_eq!(tx.get(b"b")?.as_deref(), Some(&b"2"[..]));
            tx.put(b"c", b"3")?;
            assert_eq!(tx.get(b"c")?.as_deref(), Some(&b"3"[..]));
            assert_eq!(tx.keys_with_prefix(b"")?, [b"b".to_vec(), b"c".to_vec()]);
            Ok::<_, TxError<()>>(())
        })
        .unwrap();
        below.append(own);
        let failed = stage(store, &below, |tx| {
            tx.put(b"d", b"4")?;
            Err::<(), _>(TxError::Abort("no"))
        });
        assert!(matches!(failed, Err(TxError::Abort("no"))));

        store.apply(below).unwrap();
        assert_eq!(store.get(b"a").unwrap(), None);
        assert_eq!(store.get(b"c").unwrap().as_deref(), Some(&b"3"[..]));
        assert_eq!(store.get(b"d").unwrap(), None);
    }
}
