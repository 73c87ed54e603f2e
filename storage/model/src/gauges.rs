//! Totals of what is stored (chunks, bytes, and those waiting for garbage collection),
//! kept up to date as writes are applied, so that reading them costs nothing however
//! much is stored. One scan at open sets them; after that every applied batch moves
//! them by the difference between the chunk records it replaces and the ones it
//! writes. Computing that from the batch itself, rather than at each place a reference
//! is taken or dropped, keeps them right whichever transaction aborts.
//!
//! Over a database several gateways share, a reference is a delta beside the chunk
//! record (see the model's `refs`): the scan at open sums them, a group commit's
//! deltas move the totals once committed ([`Gauges::count_references`]), and garbage
//! collection's folds compare totals. Each gateway's totals are its own view in any
//! case: other gateways' writes reach it at its next start.

use std::ops::Bound;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::error::Result;
use crate::gc::StoreStats;
use crate::ids::ChunkHash;
use crate::keys;
use crate::meta::{MetaStore, Reads, WriteBatch};
use crate::records::{ChunkRecord, decode};

#[derive(Debug, Default)]
pub(crate) struct Gauges {
    chunks: AtomicI64,
    chunk_bytes: AtomicI64,
    unreferenced_chunks: AtomicI64,
    unreferenced_bytes: AtomicI64,
}

/// What one chunk record adds to the totals.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Share([i64; 4]);

/// The chunk records a batch replaces and writes, as shares of the totals.
pub(crate) type Delta = Vec<(Share, Share)>;

impl Share {
    fn of(rec: Option<&ChunkRecord>) -> Self {
        let Some(rec) = rec else { return Self::default() };
        let size = i64::try_from(rec.digests.size).unwrap_or(i64::MAX);
        let idle = rec.refs == 0;
        Self([1, size, i64::from(idle), if idle { size } else { 0 }])
    }
}

impl Gauges {
    /// The totals as a full scan of the chunk table finds them.
    pub fn scan(meta: &dyn MetaStore) -> Result<Self> {
        let g = Self::default();
        // Writers over a shared database keep deltas of the counts beside the records.
        let deltas = crate::gc::delta_sums(meta)?;
        let (start, end) = ([keys::CHUNK], [keys::CHUNK + 1]);
        for kv in meta.range(Bound::Included(&start), Bound::Excluded(&end)) {
            let (k, v) = kv?;
            let mut rec: ChunkRecord = decode(&k, &v)?;
            let delta = keys::hash_of(&k).and_then(|h| deltas.get(&h)).copied();
            rec.refs = crate::gc::total(&rec, delta);
            g.add(Share::of(Some(&rec)), 1);
        }
        Ok(g)
    }

    fn add(&self, s: Share, sign: i64) {
        let [c, b, uc, ub] = s.0;
        self.chunks.fetch_add(sign * c, Ordering::Relaxed);
        self.chunk_bytes.fetch_add(sign * b, Ordering::Relaxed);
        self.unreferenced_chunks.fetch_add(sign * uc, Ordering::Relaxed);
        self.unreferenced_bytes.fetch_add(sign * ub, Ordering::Relaxed);
    }

    /// How applying `batch` over `meta` will move the totals: read before the apply
    /// (inside the transaction, where there is one), added with [`Gauges::apply`] once
    /// it succeeded. A record that does not decode counts as absent (the apply itself
    /// does not care).
    ///
    /// `folds` is for a batch of garbage collection, which folds the writers' deltas
    /// of every chunk record it writes (see `gc::settle`): a record's old count is then
    /// its own plus the deltas, and its new one its own. A group commit leaves both at
    /// the record's own (its writes of a record that exists do not move that), and must:
    /// reading the other writers' deltas would be reads for their writes to conflict
    /// with. Its deltas move the totals through [`Gauges::count_references`].
    pub fn delta(meta: &dyn Reads, batch: &WriteBatch, folds: bool) -> Delta {
        batch
            .entries_from(&[keys::CHUNK], &[keys::CHUNK + 1])
            .map(|(k, new)| {
                let mut old = meta
                    .get(k)
                    .ok()
                    .flatten()
                    .and_then(|v| decode::<ChunkRecord>(k, &v).ok());
                if let (true, Some(rec), Some(hash)) = (folds, old.as_mut(), keys::hash_of(k)) {
                    let deltas = meta
                        .keys_with_prefix(&keys::ref_deltas(&hash))
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|d| meta.get(d).ok().flatten())
                        .map(|v| crate::meta::counter(Some(&v)))
                        .sum();
                    rec.refs = crate::gc::total(rec, Some(deltas));
                }
                let new = new.and_then(|v| decode::<ChunkRecord>(k, v).ok());
                (Share::of(old.as_ref()), Share::of(new.as_ref()))
            })
            .collect()
    }

    /// Moves the totals for a group commit's changes to writers' deltas (`counted`:
    /// each chunk and what the commit added to its count), once committed: a chunk whose
    /// count reached zero becomes unreferenced, one taken again from zero referenced.
    /// The counts are read after the commit, outside it (where no other writer's write
    /// can conflict with the reads); another gateway's commit in between can make a
    /// move be missed or doubled, which the next fold or start corrects.
    pub fn count_references(&self, meta: &dyn MetaStore, counted: &[(ChunkHash, i64)]) {
        for (hash, n) in counted {
            let k = keys::chunk(hash);
            let Some(rec) = meta
                .get(&k)
                .ok()
                .flatten()
                .and_then(|v| decode::<ChunkRecord>(&k, &v).ok())
            else {
                continue;
            };
            let prefix = keys::ref_deltas(hash);
            let upper = keys::prefix_end(&prefix);
            let upper = upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            let deltas: i64 = meta
                .range(Bound::Included(&prefix), upper)
                .filter_map(|kv| kv.ok())
                .map(|(_, v)| crate::meta::counter(Some(&v)))
                .sum();
            let after = i128::from(rec.refs) + i128::from(deltas);
            let before = after - i128::from(*n);
            let (was, is) = (before <= 0, after <= 0);
            if was != is {
                let size = i64::try_from(rec.digests.size).unwrap_or(i64::MAX);
                let sign = if is { 1 } else { -1 };
                self.unreferenced_chunks.fetch_add(sign, Ordering::Relaxed);
                self.unreferenced_bytes.fetch_add(sign * size, Ordering::Relaxed);
            }
        }
    }

    pub fn apply(&self, delta: &Delta) {
        for (old, new) in delta {
            self.add(*old, -1);
            self.add(*new, 1);
        }
    }

    pub fn read(&self) -> StoreStats {
        let get = |a: &AtomicI64| u64::try_from(a.load(Ordering::Relaxed)).unwrap_or(0);
        StoreStats {
            chunks: get(&self.chunks),
            chunk_bytes: get(&self.chunk_bytes),
            unreferenced_chunks: get(&self.unreferenced_chunks),
            unreferenced_bytes: get(&self.unreferenced_bytes),
        }
    }
}
