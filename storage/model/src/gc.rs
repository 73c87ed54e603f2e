//! Garbage collection: deletes chunks nobody has referenced for the grace period, chunk
//! files no record knows (a crash between rename and commit), and stale temp files
//! (uploads that broke off while the server was down).

use std::collections::HashSet;
use std::ops::{Bound, ControlFlow};
use std::sync::Arc;
use std::time::Duration;

use fastgate_chunk::TrunkId;

use crate::error::{Result, StorageError};
use crate::ids::{ChunkHash, now_ms};
use crate::keys;
use crate::meta::{self, TxError, WriteBatch};
use crate::records::{ChunkRecord, decode};
use crate::store::Store;

/// Chunks deleted under one hold of the write gate (one apply, one flush): large enough
/// to amortize the flush, small enough not to stall commits for long.
const GC_BATCH: usize = 256;

/// Temp files untouched for this long belong to no live upload.
const STALE_TMP: Duration = Duration::from_secs(3600);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GcReport {
    pub chunks_deleted: u64,
    pub bytes_freed: u64,
    pub orphans_deleted: u64,
    pub temps_deleted: u64,
    pub trunks_deleted: u64,
}

/// A recount of every chunk's references from the records that hold them, against
/// the counts stored in the chunk records (see [`Store::recount_references`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReferenceAudit {
    /// Chunk records.
    pub chunks: u64,
    /// References found in object, version and part records.
    pub references: u64,
    /// Each chunk whose stored count differs from the recount: hash (hex), stored
    /// count (0 for a chunk without a record), recounted.
    pub mismatches: Vec<(String, u64, u64)>,
}

/// Totals of what is stored.
#[derive(Debug, Default, Clone, Copy)]
pub struct StoreStats {
    pub chunks: u64,
    pub chunk_bytes: u64,
    pub unreferenced_chunks: u64,
    pub unreferenced_bytes: u64,
}

impl Store {
    /// One collection pass. Blocking; run it off the async runtime.
    pub fn collect_garbage(self: &Arc<Self>) -> Result<GcReport> {
        let mut report = GcReport::default();
        let now = now_ms();
        let grace = i64::try_from(self.gc_grace.as_millis()).unwrap_or(i64::MAX);
        let start = [keys::ZERO];
        let end = [keys::ZERO + 1];
        let mut candidates: Vec<ChunkHash> = self
            .meta
            .range(Bound::Included(&start), Bound::Excluded(&end))
            .filter_map(|kv| kv.ok())
            .filter(|(_, v)| now.saturating_sub(marker_ms(v)) >= grace)
            .filter_map(|(k, _)| keys::hash_of(&k))
            .collect();
        // And every chunk with writers' deltas of its count (a database several gateways
        // share), to fold them into its record: that keeps the rows few, and the
        // unreferenced gauges true.
        candidates.extend(delta_hashes(&*self.meta));
        candidates.sort_unstable_by_key(|h| h.0);
        candidates.dedup();
        for some in candidates.chunks(GC_BATCH) {
            // As the store's writer for this step: no PUT (of any gateway over the same
            // database) can link or reference one of these chunks between the check
            // below and the file's removal.
            let _gate = self.exclusive_gate()?;
            let mut writes = WriteBatch::default();
            let mut doomed: Vec<(ChunkHash, ChunkRecord)> = Vec::new();
            for hash in some {
                let (rec, own) = meta::stage(&*self.meta, &writes, |tx| {
                    let Some(rec) = settle(tx, hash, now)? else {
                        return Ok(None);
                    };
                    let expired = rec.refs == 0 && rec.zero_since_ms.is_some_and(|t| now.saturating_sub(t) >= grace);
                    if !expired {
                        return Ok(None);
                    }
                    tx.delete(&keys::chunk(hash))?;
                    tx.delete(&keys::zero(hash))?;
                    // No proof of possession outlives its chunk: a later upload of the
                    // same bytes must prove them again.
                    crate::dedup::forget_chunk_proofs(tx, hash)?;
                    // Nor any copy owed of it: there is nothing left to owe. A node's
                    // debts are few (repair settles them), so scanning its group's is cheap.
                    let group = keys::owed_group_prefix(rec.location.group);
                    for k in tx.keys_with_prefix(&group)? {
                        if k.ends_with(&hash.0) {
                            tx.delete(&k)?;
                        }
                    }
                    let mk = keys::md5(&rec.digests.md5);
                    if tx.get(&mk)?.as_deref() == Some(&hash.0[..]) {
                        tx.delete(&mk)?;
                    }
                    Ok::<_, TxError<StorageError>>(Some(rec))
                })?;
                writes.append(own);
                doomed.extend(rec.map(|r| (*hash, r)));
            }
            if writes.is_empty() {
                continue;
            }
            // The records go first: a crash here leaves orphan files, which the sweep
            // below removes, never a record without its file.
            let delta = crate::gauges::Gauges::delta(&meta::Committed(&*self.meta), &writes, true);
            self.meta.apply(writes)?;
            self.gauges.apply(&delta);
            self.meta.flush()?;
            for (hash, rec) in doomed {
                // A chunk in a trunk is freed with its trunk (see `collect_trunks`).
                self.chunks.delete(&hash, rec.location)?;
                report.chunks_deleted += 1;
                report.bytes_freed += rec.digests.size;
            }
        }
        self.collect_trunks(&mut report)?;
        self.sweep_files(&mut report)?;
        Ok(report)
    }

    /// Folds every writer's delta of a reference count into its chunk record, as the
    /// store's only writer: how a data dir converted from a database shared by several
    /// gateways (`convert-meta`) is opened by an embedded engine, whose writes keep the
    /// count in the record alone. Nothing is deleted but the folded rows.
    pub(crate) fn fold_deltas(meta: &dyn meta::MetaStore) -> Result<()> {
        let hashes = delta_hashes(meta);
        if hashes.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut writes = WriteBatch::default();
        for hash in &hashes {
            let ((), own) = meta::stage(meta, &writes, |tx| {
                settle(tx, hash, now)?;
                Ok::<_, TxError<StorageError>>(())
            })?;
            writes.append(own);
        }
        meta.apply(writes)?;
        meta.flush()?;
        Ok(())
    }

    /// Trunks (group, store path, trunk id) that some chunk record points into.
    fn live_trunks(&self) -> Result<HashSet<TrunkId>> {
        let start = [keys::CHUNK];
        let end = [keys::CHUNK + 1];
        let mut live = HashSet::new();
        for kv in self.meta.range(Bound::Included(&start), Bound::Excluded(&end)) {
            let (k, v) = kv?;
            let rec: ChunkRecord = decode(&k, &v)?;
            if let Some(s) = rec.location.slot {
                live.insert((rec.location.group, rec.location.store_path, s.trunk));
            }
        }
        Ok(live)
    }

    /// Deletes trunks no record points into. The order matters: trunks are sealed
    /// first (only the active trunk takes appends), candidates are chosen among sealed
    /// trunks with no append still on its way to a commit, and only then are the live
    /// trunks read, so every record pointing into a candidate is already visible.
    fn collect_trunks(&self, report: &mut GcReport) -> Result<()> {
        let live = self.live_trunks()?;
        self.chunks.seal_trunks(&live)?;
        let candidates = self.chunks.idle_trunks()?;
        let live = self.live_trunks()?;
        for id in candidates {
            if !live.contains(&id) && self.chunks.delete_trunk(id)? {
                report.trunks_deleted += 1;
            }
        }
        Ok(())
    }

    fn sweep_files(self: &Arc<Self>, report: &mut GcReport) -> Result<()> {
        report.temps_deleted += self.chunks.sweep_temps(STALE_TMP)?;
        let min_age = self.gc_grace.min(STALE_TMP);
        let mut failed = None;
        self.chunks.list(&mut |hash, location| {
            let orphan = || -> Result<bool> {
                Ok(match self.chunk(&hash)? {
                    None => true,
                    // A copy in a store path other than the recorded one.
                    Some(rec) => rec.location != location,
                })
            };
            let mut sweep = || -> Result<()> {
                // Orphans are rare: look without the write gate, and take it only to
                // confirm and delete, so the sweep does not queue behind every commit
                // batch once per file.
                if !orphan()? {
                    return Ok(());
                }
                if self.chunks.age(&hash, location).is_none_or(|a| a < min_age) {
                    return Ok(());
                }
                let _gate = self.exclusive_gate()?;
                if orphan()? && matches!(self.chunks.delete(&hash, location), Ok(true)) {
                    report.orphans_deleted += 1;
                }
                Ok(())
            };
            match sweep() {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    failed = Some(e);
                    ControlFlow::Break(())
                }
            }
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// Recounts every chunk's references from the records that hold one (each part of
    /// a current object, of a noncurrent version, and each part of an open upload) and
    /// compares them with the chunk records' counts, which writes keep by
    /// read-modify-write: with several writers over one database, a lost update shows
    /// here. Blocking, and in proportion to what is stored: a check for tests and for
    /// operators, best run while nothing writes (a write between the two scans shows
    /// as a mismatch).
    pub fn recount_references(&self) -> Result<ReferenceAudit> {
        use crate::records::{ObjectRecord, PartRecord};
        let mut counted: std::collections::HashMap<ChunkHash, u64> = std::collections::HashMap::new();
        let mut audit = ReferenceAudit::default();
        let deltas = delta_sums(&*self.meta)?;
        for tag in [keys::OBJECT, keys::VERSION] {
            for kv in self
                .meta
                .range(Bound::Included(&[tag][..]), Bound::Excluded(&[tag + 1][..]))
            {
                let (k, v) = kv?;
                let rec: ObjectRecord = decode(&k, &v)?;
                for p in &rec.parts {
                    *counted.entry(p.hash).or_default() += 1;
                    audit.references += 1;
                }
            }
        }
        for kv in self.meta.range(
            Bound::Included(&[keys::PART][..]),
            Bound::Excluded(&[keys::PART + 1][..]),
        ) {
            let (k, v) = kv?;
            let rec: PartRecord = decode(&k, &v)?;
            *counted.entry(rec.hash).or_default() += 1;
            audit.references += 1;
        }
        for kv in self.meta.range(
            Bound::Included(&[keys::CHUNK][..]),
            Bound::Excluded(&[keys::CHUNK + 1][..]),
        ) {
            let (k, v) = kv?;
            let rec: ChunkRecord = decode(&k, &v)?;
            audit.chunks += 1;
            let Ok(hash) = <[u8; 32]>::try_from(&k[1..]).map(ChunkHash) else {
                continue;
            };
            let found = counted.remove(&hash).unwrap_or(0);
            let stored = total(&rec, deltas.get(&hash).copied());
            if found != stored {
                audit.mismatches.push((hash.to_hex(), stored, found));
            }
        }
        // References to chunks without a record at all.
        for (hash, found) in counted {
            audit.mismatches.push((hash.to_hex(), 0, found));
        }
        audit.mismatches.sort();
        Ok(audit)
    }

    /// The totals of what is stored, as kept up to date by every write: no scan. Over
    /// a database several gateways share, each counts the writes it made (and those
    /// stored when it started).
    pub fn gauges(&self) -> StoreStats {
        self.gauges.read()
    }

    /// Metadata transactions this store ran again because another writer over the
    /// same database conflicted with them (see [`crate::meta::MetaStore::conflicts`]).
    pub fn meta_conflicts(&self) -> u64 {
        self.meta.conflicts()
    }

    /// The totals of what is stored, counted by a scan of every chunk record: exact
    /// but in proportion to what is stored. Blocking.
    pub fn stats(&self) -> Result<StoreStats> {
        let deltas = delta_sums(&*self.meta)?;
        let mut s = StoreStats::default();
        let start = [keys::CHUNK];
        let end = [keys::CHUNK + 1];
        for kv in self.meta.range(Bound::Included(&start), Bound::Excluded(&end)) {
            let (k, v) = kv?;
            let rec: ChunkRecord = decode(&k, &v)?;
            s.chunks += 1;
            s.chunk_bytes += rec.digests.size;
            if total(&rec, keys::hash_of(&k).and_then(|h| deltas.get(&h)).copied()) == 0 {
                s.unreferenced_chunks += 1;
                s.unreferenced_bytes += rec.digests.size;
            }
        }
        Ok(s)
    }
}

/// The time a [`keys::ZERO`] marker holds (0 for one that does not decode: expired).
fn marker_ms(v: &[u8]) -> i64 {
    <[u8; 8]>::try_from(v).map(i64::from_be_bytes).unwrap_or(0)
}

/// Every chunk with a writer's delta of its count ([`keys::REF_DELTA`]), in order.
fn delta_hashes(meta: &dyn meta::MetaStore) -> Vec<ChunkHash> {
    let (start, end) = ([keys::REF_DELTA], [keys::REF_DELTA + 1]);
    let mut out: Vec<ChunkHash> = meta
        .range(Bound::Included(&start), Bound::Excluded(&end))
        .filter_map(|kv| kv.ok())
        .filter_map(|(k, _)| keys::hash_of(&k))
        .collect();
    out.dedup();
    out
}

/// The sum of every writer's delta of each chunk's count that has one.
pub(crate) fn delta_sums(meta: &dyn meta::MetaStore) -> Result<std::collections::HashMap<ChunkHash, i64>> {
    let (start, end) = ([keys::REF_DELTA], [keys::REF_DELTA + 1]);
    let mut out = std::collections::HashMap::new();
    for kv in meta.range(Bound::Included(&start), Bound::Excluded(&end)) {
        let (k, v) = kv?;
        if let Some(hash) = keys::hash_of(&k) {
            *out.entry(hash).or_default() += crate::store::refs::decode_delta(&v);
        }
    }
    Ok(out)
}

/// A chunk's reference count: its record's, plus the writers' `deltas` (none below 0).
pub(crate) fn total(rec: &ChunkRecord, deltas: Option<i64>) -> u64 {
    let sum = i128::from(rec.refs) + i128::from(deltas.unwrap_or(0));
    u64::try_from(sum.max(0)).unwrap_or(u64::MAX)
}

/// Folds the writers' deltas of `hash`'s count and their candidate markers into its
/// record and its one marker, and returns the record as folded (`None` when there is
/// none: the rows of a chunk already gone are dropped). Run only by the store's sole
/// writer (garbage collection under the exclusive gate, or the store at open): no
/// delta is then on its way to a commit, so the total is exact and nothing referenced
/// can look unreferenced. A chunk whose total is zero is zero since the last time a
/// writer dropped a reference to it, the latest of the markers.
fn settle(
    tx: &dyn meta::Txn,
    hash: &ChunkHash,
    now: i64,
) -> std::result::Result<Option<ChunkRecord>, TxError<StorageError>> {
    let mut deltas = 0i64;
    let delta_keys = tx.keys_with_prefix(&keys::ref_deltas(hash))?;
    for k in &delta_keys {
        deltas += tx.get(k)?.map_or(0, |v| crate::store::refs::decode_delta(&v));
    }
    // `Z <hash>` and every writer's `Z <hash> <writer>`.
    let zero = keys::zero(hash);
    let marker_keys = tx.keys_with_prefix(&zero)?;
    let mut latest: Option<i64> = None;
    for k in &marker_keys {
        if let Some(v) = tx.get(k)? {
            latest = latest.max(Some(marker_ms(&v)));
        }
    }
    let ck = keys::chunk(hash);
    let Some(v) = tx.get(&ck)? else {
        for k in delta_keys.iter().chain(&marker_keys) {
            tx.delete(k)?;
        }
        return Ok(None);
    };
    let mut rec: ChunkRecord = decode(&ck, &v).map_err(TxError::Abort)?;
    let folded = total(&rec, Some(deltas));
    if delta_keys.is_empty() && marker_keys.iter().all(|k| *k == zero) {
        // Nothing a writer left: the record and its marker already agree.
        return Ok(Some(rec));
    }
    if i128::from(rec.refs) + i128::from(deltas) < 0 {
        tracing::warn!(chunk = %hash.to_hex(), refs = rec.refs, deltas, "a reference count folded below zero");
    }
    for k in delta_keys.iter().chain(&marker_keys) {
        tx.delete(k)?;
    }
    rec.refs = folded;
    if folded == 0 {
        let since = rec.zero_since_ms.max(latest).unwrap_or(now);
        rec.zero_since_ms = Some(since);
        tx.put(&zero, &since.to_be_bytes())?;
    } else {
        rec.zero_since_ms = None;
    }
    tx.put(&ck, &crate::records::encode(&rec))?;
    Ok(Some(rec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::ChunkDigests;
    use crate::ids::ChunkLocation;
    use crate::meta::MetaEngine;
    use crate::records::encode;

    fn chunk(refs: u64) -> ChunkRecord {
        ChunkRecord {
            location: ChunkLocation {
                group: 1,
                store_path: 0,
                slot: None,
            },
            digests: ChunkDigests {
                size: 10,
                md5: [0; 16],
                sha256: [0; 32],
                checksums: Vec::new(),
            },
            refs,
            zero_since_ms: None,
            sealed: None,
        }
    }

    #[test]
    fn the_counts_of_a_converted_shared_database_fold_into_their_records() {
        for engine in MetaEngine::ALL {
            let dir = tempfile::tempdir().unwrap();
            let meta = crate::meta::open(engine, dir.path()).unwrap();
            let (live, idle, gone) = (ChunkHash([1; 32]), ChunkHash([2; 32]), ChunkHash([3; 32]));
            let mut b = WriteBatch::default();
            // Referenced twice more by one gateway, once less by another.
            b.put(&keys::chunk(&live), &encode(&chunk(1)));
            b.add(&keys::ref_delta(&live, 7), 2);
            b.add(&keys::ref_delta(&live, 9), -1);
            b.put(&keys::zero_by(&live, 9), &100i64.to_be_bytes());
            // Released by the gateway 9 at 5000 and by nobody since: idle from then on.
            b.put(&keys::chunk(&idle), &encode(&chunk(1)));
            b.add(&keys::ref_delta(&idle, 9), -1);
            b.put(&keys::zero_by(&idle, 9), &5000i64.to_be_bytes());
            // Rows of a chunk already collected.
            b.add(&keys::ref_delta(&gone, 7), 1);
            b.put(&keys::zero_by(&gone, 7), &1i64.to_be_bytes());
            meta.apply(b).unwrap();

            Store::fold_deltas(&*meta).unwrap();
            let rec = |h: &ChunkHash| -> ChunkRecord {
                let k = keys::chunk(h);
                decode(&k, &meta.get(&k).unwrap().unwrap()).unwrap()
            };
            assert_eq!((rec(&live).refs, rec(&live).zero_since_ms), (2, None));
            assert_eq!((rec(&idle).refs, rec(&idle).zero_since_ms), (0, Some(5000)));
            assert_eq!(
                meta.get(&keys::zero(&idle)).unwrap(),
                Some(5000i64.to_be_bytes().to_vec())
            );
            // Of the writers' rows nothing is left; of the markers, the idle chunk's own.
            let left: Vec<Vec<u8>> = [keys::REF_DELTA, keys::ZERO]
                .into_iter()
                .flat_map(|t| meta.range(Bound::Included(&[t][..]), Bound::Excluded(&[t + 1][..])))
                .map(|kv| kv.unwrap().0)
                .collect();
            assert_eq!(left, [keys::zero(&idle)]);
        }
    }
}
