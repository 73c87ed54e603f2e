//! Garbage collection: deletes chunks nobody has referenced for the grace period, chunk
//! files no record knows (a crash between rename and commit), and stale temp files
//! (uploads that broke off while the server was down).

use std::collections::HashSet;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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
        let candidates: Vec<ChunkHash> = self
            .meta
            .range(Bound::Included(&start), Bound::Excluded(&end))
            .filter_map(|kv| kv.ok())
            .filter(|(_, v)| {
                let since = <[u8; 8]>::try_from(v.as_slice()).map(i64::from_be_bytes).unwrap_or(0);
                now.saturating_sub(since) >= grace
            })
            .filter_map(|(k, _)| <[u8; 32]>::try_from(&k[1..]).ok().map(ChunkHash))
            .collect();
        for some in candidates.chunks(GC_BATCH) {
            // As the store's writer for this step: no PUT can link or reference one of
            // these chunks between the check below and the file's removal.
            let _gate = self.write_gate();
            let mut writes = WriteBatch::default();
            let mut doomed: Vec<(ChunkHash, ChunkRecord)> = Vec::new();
            for hash in some {
                let (rec, own) = meta::stage(&*self.meta, &writes, |tx| {
                    let ck = keys::chunk(hash);
                    let Some(v) = tx.get(&ck)? else {
                        tx.delete(&keys::zero(hash))?;
                        return Ok(None);
                    };
                    let rec: ChunkRecord = decode(&ck, &v).map_err(TxError::Abort)?;
                    let expired = rec.refs == 0 && rec.zero_since_ms.is_some_and(|t| now.saturating_sub(t) >= grace);
                    if !expired {
                        return Ok(None);
                    }
                    tx.delete(&ck)?;
                    tx.delete(&keys::zero(hash))?;
                    // No proof of possession outlives its chunk: a later upload of the
                    // same bytes must prove them again.
                    crate::dedup::forget_chunk_proofs(tx, hash)?;
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
            let delta = crate::gauges::Gauges::delta(&*self.meta, &writes);
            self.meta.apply(writes)?;
            self.gauges.apply(&delta);
            self.meta.flush()?;
            for (hash, rec) in doomed {
                // A chunk in a trunk is freed with its trunk (see `collect_trunks`).
                if rec.location.slot.is_none() {
                    let path = self.tracker.path(rec.location)?.chunk_path(&hash);
                    match std::fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                report.chunks_deleted += 1;
                report.bytes_freed += rec.digests.size;
            }
        }
        self.collect_trunks(&mut report)?;
        self.sweep_files(&mut report)?;
        Ok(report)
    }

    /// Trunks (group, store path, trunk id) that some chunk record points into.
    fn live_trunks(&self) -> Result<HashSet<(u16, u16, u32)>> {
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
        for group in self.tracker.groups() {
            for sp in &group.paths {
                let (g, p) = (sp.location.group, sp.location.store_path);
                if !live.contains(&(g, p, sp.trunks.active())) {
                    sp.trunks.rotate()?;
                }
            }
        }
        let mut candidates = Vec::new();
        for group in self.tracker.groups() {
            for sp in &group.paths {
                let active = sp.trunks.active();
                for id in crate::trunk::list(sp.trunks.dir())? {
                    if id != active && sp.trunks.inflight(id) == 0 {
                        candidates.push((sp, id));
                    }
                }
            }
        }
        let live = self.live_trunks()?;
        for (sp, id) in candidates {
            if !live.contains(&(sp.location.group, sp.location.store_path, id)) {
                let path = crate::trunk::trunk_path(sp.trunks.dir(), id);
                match std::fs::remove_file(&path) {
                    Ok(()) => report.trunks_deleted += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    fn sweep_files(self: &Arc<Self>, report: &mut GcReport) -> Result<()> {
        let now = SystemTime::now();
        let old = |p: &Path, age: Duration| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() >= age)
        };
        for group in self.tracker.groups() {
            for sp in &group.paths {
                for entry in std::fs::read_dir(sp.tmp_dir())?.flatten() {
                    if old(&entry.path(), STALE_TMP) && std::fs::remove_file(entry.path()).is_ok() {
                        report.temps_deleted += 1;
                    }
                }
                for l1 in std::fs::read_dir(sp.data_dir())?.flatten() {
                    for l2 in std::fs::read_dir(l1.path())?.flatten() {
                        for f in std::fs::read_dir(l2.path())?.flatten() {
                            let Some(hash) = f.file_name().to_str().and_then(ChunkHash::from_hex) else {
                                continue;
                            };
                            let orphan = || -> Result<bool> {
                                Ok(match self.chunk(&hash)? {
                                    None => true,
                                    // A copy in a store path other than the recorded one.
                                    Some(rec) => rec.location != sp.location,
                                })
                            };
                            // Orphans are rare: look without the write gate, and take it
                            // only to confirm and delete, so the sweep does not queue
                            // behind every commit batch once per file.
                            if !orphan()? || !old(&f.path(), self.gc_grace.min(STALE_TMP)) {
                                continue;
                            }
                            let _gate = self.write_gate();
                            if orphan()? && std::fs::remove_file(f.path()).is_ok() {
                                report.orphans_deleted += 1;
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The totals of what is stored, as kept up to date by every write: no scan.
    pub fn gauges(&self) -> StoreStats {
        self.gauges.read()
    }

    /// The totals of what is stored, counted by a scan of every chunk record: exact
    /// but in proportion to what is stored. Blocking.
    pub fn stats(&self) -> Result<StoreStats> {
        let mut s = StoreStats::default();
        let start = [keys::CHUNK];
        let end = [keys::CHUNK + 1];
        for kv in self.meta.range(Bound::Included(&start), Bound::Excluded(&end)) {
            let (k, v) = kv?;
            let rec: ChunkRecord = decode(&k, &v)?;
            s.chunks += 1;
            s.chunk_bytes += rec.digests.size;
            if rec.refs == 0 {
                s.unreferenced_chunks += 1;
                s.unreferenced_bytes += rec.digests.size;
            }
        }
        Ok(s)
    }
}
