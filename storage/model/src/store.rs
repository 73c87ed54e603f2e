//! The storage layer's front door: one `Store` per process, shared by every request.

use std::sync::Arc;
use std::time::Duration;

use std::sync::MutexGuard;

use fastgate_chunk::{ChunkStore, ChunkWriter, LocalChunks, ObjectReader, StagedChunk};

use crate::checksum::ChecksumAlgorithm;
use crate::commit::{Body, Committer, Job, Shared, WriteGate};
use crate::config::DedupIndex;
use crate::config::StorageConfig;
use crate::encryption::{CustomerKey, Keyring, ObjectEncryption, SealedKey};
use crate::error::{Result, StorageError};
use crate::gauges::Gauges;
use crate::ids::{ChunkHash, now_ms};
use crate::keys;
use crate::meta::{MetaError, MetaStore, TxError, Txn};
use crate::records::{ChunkRecord, ObjectRecord, decode, encode};
use fastgate_chunk::seal::{Key256, SealSpec};

pub struct Store {
    pub(crate) meta: Arc<dyn MetaStore>,
    /// The chunk layer, reached only through its interface.
    pub(crate) chunks: Arc<dyn ChunkStore>,
    committer: Committer,
    gate: Arc<WriteGate>,
    pub(crate) gauges: Arc<Gauges>,
    pub(crate) gc_grace: Duration,
    pub(crate) dedup_index: DedupIndex,
    pub(crate) keyring: Keyring,
}

impl Store {
    /// Opens (or creates) the store described by `config`, with its metadata engine.
    pub fn open(config: &StorageConfig) -> Result<Arc<Self>> {
        let meta = crate::meta::open_at(config.meta_engine, &config.meta_dir, config.meta_url.as_deref())?;
        Self::with_meta(config, meta)
    }

    /// Opens the store over any metadata engine, with this node's store paths as its
    /// chunk layer. No upload can be in flight before the store is open (the metadata
    /// engine holds the data dir's lock), so the chunk layer may clear its temp files.
    pub fn with_meta(config: &StorageConfig, meta: Arc<dyn MetaStore>) -> Result<Arc<Self>> {
        let chunks = Arc::new(LocalChunks::open(&config.chunks)?);
        Self::with_layers(config, meta, chunks)
    }

    /// Opens the store over any metadata engine and any chunk layer.
    pub fn with_layers(
        config: &StorageConfig,
        meta: Arc<dyn MetaStore>,
        chunks: Arc<dyn ChunkStore>,
    ) -> Result<Arc<Self>> {
        crate::dedup::index_proofs_by_chunk(&*meta)?;
        if meta.writer().is_none() {
            // Counts split by the writers of a database this data dir was converted from.
            Store::fold_deltas(&*meta)?;
        }
        check_keys(&*meta, &config.keyring)?;
        let gate = Arc::new(WriteGate::default());
        // The one scan of the chunk table; writes keep the totals from here on.
        let gauges = Arc::new(Gauges::scan(&*meta)?);
        let committer = Committer::start(Shared {
            meta: meta.clone(),
            chunks: chunks.clone(),
            gate: gate.clone(),
            gauges: gauges.clone(),
        })?;
        Ok(Arc::new(Self {
            committer,
            meta,
            chunks,
            gate,
            gauges,
            gc_grace: config.gc_grace,
            dedup_index: config.dedup_index,
            keyring: config.keyring.clone(),
        }))
    }

    /// The operator's keys.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// How new chunks of an object encrypted as `enc` are sealed: what a chunk
    /// writer's [`ChunkWriter::seal`] takes.
    pub fn seal_spec(&self, enc: &ObjectEncryption, customer: Option<&CustomerKey>) -> Result<SealSpec> {
        Ok(self.keyring.spec(enc, customer)?)
    }

    /// Makes the caller the only writer of every process over the same metadata (the
    /// in-process gate, then the engine's, which a database shared by several gateways
    /// holds for all of them): what garbage collection needs to delete chunks.
    pub(crate) fn exclusive_gate(&self) -> Result<(MutexGuard<'_, ()>, crate::meta::Gate)> {
        let local = self.gate.lock();
        let shared = self.meta.exclusive_gate()?;
        Ok((local, shared))
    }

    /// Starts a new chunk on the store path the tracker picks for `size_hint` bytes,
    /// computing MD5, SHA-256 and `extras` while it is written.
    pub fn chunk_writer(&self, size_hint: u64, extras: &[ChecksumAlgorithm]) -> Result<ChunkWriter> {
        Ok(self.chunks.writer(size_hint, extras)?)
    }

    /// The file id of a chunk, FastDFS style: `group1/M00/3f/a2/<sha256>`.
    pub fn file_id(&self, rec: &ChunkRecord, hash: &ChunkHash) -> Result<String> {
        Ok(self.chunks.file_id(hash, rec.location)?)
    }

    pub fn chunk(&self, hash: &ChunkHash) -> Result<Option<ChunkRecord>> {
        let key = keys::chunk(hash);
        self.meta.get(&key)?.map(|v| decode(&key, &v)).transpose()
    }

    /// Publishes `staged` chunks and runs `body` as one transaction on the committer
    /// thread, in a batch with whatever else is being committed, and returns once the
    /// result is durable. The job runs to completion even if the caller stops waiting.
    pub(crate) async fn commit_with<T, F>(self: &Arc<Self>, staged: Vec<StagedChunk>, body: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&dyn Txn, &[StagedChunk]) -> Result<T, TxError<StorageError>> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let body: Body =
            Box::new(move |tx, staged| body(tx, staged).map(|v| Box::new(v) as Box<dyn std::any::Any + Send>));
        self.committer.submit(Job { staged, body, reply })?;
        let out = answer
            .await
            .map_err(|_| StorageError::Meta(MetaError("the committer dropped a job".into())))??;
        out.downcast::<T>()
            .map(|b| *b)
            .map_err(|_| StorageError::Meta(MetaError("commit produced a value of the wrong type".into())))
    }

    /// Runs a metadata read on tokio's blocking pool. Every range scan of the public API
    /// goes through here: a scan takes time in proportion to what it walks, and against a
    /// database over the network each read waits on it, so neither may hold an async
    /// worker. Point reads (`object`, `bucket`, `upload`, `lifecycle`, `instant_lookup`)
    /// stay inline, on purpose: on sled and fjall one costs about 1.4 µs, while the
    /// hand-off through `spawn_blocking` measured 10 to 38 µs on the 2-core test machine,
    /// and a small GET makes two of them (bucket, then object): `fastgate bench get --size
    /// 4KiB -c 8` (release, sled) ran 12k to 20k GETs/s with them inline and 7k to 10k
    /// with both through `spawn_blocking`. `block_in_place` would be
    /// cheap (about 0.3 µs more) but panics on a current-thread runtime, which the tests
    /// and embedders use. A database server's reads are a network round trip: those
    /// point reads go through [`Store::point`], which sends them here.
    pub(crate) async fn off_worker<T, F>(self: &Arc<Self>, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T> + Send + 'static,
    {
        let store = Arc::clone(self);
        tokio::task::spawn_blocking(move || read(&store))
            .await
            .map_err(|e| StorageError::Meta(MetaError(format!("a metadata read did not finish: {e}"))))?
    }

    /// Runs a point read (`object`, `bucket`, `upload`, ...): inline on an embedded
    /// engine, where it costs about a microsecond (see [`Store::off_worker`] for what
    /// the hand-off would cost), and on tokio's blocking pool when the engine is a
    /// database server, so that no async worker waits on the network.
    pub async fn point<T, F>(self: &Arc<Self>, read: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T> + Send + 'static,
    {
        if self.meta.reads_inline() {
            read(self)
        } else {
            self.off_worker(read).await
        }
    }

    /// How many copies are owed to each storage node (group, node position) of a
    /// cluster: copies a write could not make there, recorded with the write.
    pub async fn owed(self: &Arc<Self>) -> Result<std::collections::BTreeMap<(u16, u16), u64>> {
        self.off_worker(|s| {
            let start = [keys::OWED];
            let end = [keys::OWED + 1];
            let mut out = std::collections::BTreeMap::new();
            for kv in s
                .meta
                .range(std::ops::Bound::Included(&start), std::ops::Bound::Excluded(&end))
            {
                let (k, _) = kv?;
                if let (Some(g), Some(n)) = (k.get(1..3), k.get(3..5)) {
                    let g = u16::from_be_bytes([g[0], g[1]]);
                    let n = u16::from_be_bytes([n[0], n[1]]);
                    *out.entry((g, n)).or_insert(0) += 1;
                }
            }
            Ok(out)
        })
        .await
    }

    /// Forgets every copy owed to node `node` of group `group`, which repair has
    /// given everything its group holds. Returns how many were settled.
    pub async fn settle_owed(self: &Arc<Self>, group: u16, node: u16) -> Result<u64> {
        self.commit_with(Vec::new(), move |tx, _| {
            let keys = tx.keys_with_prefix(&keys::owed_prefix(group, node))?;
            for k in &keys {
                tx.delete(k)?;
            }
            Ok(keys.len() as u64)
        })
        .await
    }

    /// Streams `[start, end)` of an object; `customer` is the key of an SSE-C object.
    /// An encrypted object's chunks in the range are opened with their data keys,
    /// unwrapped from their records.
    pub async fn read(
        self: &Arc<Self>,
        obj: &ObjectRecord,
        start: u64,
        end: u64,
        customer: Option<&CustomerKey>,
    ) -> Result<ObjectReader> {
        let spans = obj.spans();
        if obj.encryption.is_none() {
            return Ok(self.chunks.read(&spans, start, end)?);
        }
        // The data keys of the chunks the range covers are in their chunk records: one
        // point read each, together, off the async worker where the engine needs it.
        let mut pos = 0u64;
        let wanted: Vec<Option<ChunkHash>> = spans
            .iter()
            .map(|(hash, _, size)| {
                let w = pos < end && pos + size > start;
                pos += size;
                w.then_some(*hash)
            })
            .collect();
        let customer = customer.cloned();
        let keys = self
            .point(move |s| {
                wanted
                    .iter()
                    .map(|h| match h {
                        Some(hash) => s.data_key(hash, customer.as_ref()),
                        None => Ok(None),
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .await?;
        Ok(self.chunks.read_sealed(&spans, &keys, start, end)?)
    }

    /// The data key of chunk `hash`, `None` for a plaintext chunk.
    pub(crate) fn data_key(&self, hash: &ChunkHash, customer: Option<&CustomerKey>) -> Result<Option<Key256>> {
        let rec = self
            .chunk(hash)?
            .ok_or_else(|| StorageError::ChunkGone(hash.to_hex()))?;
        match &rec.sealed {
            Some(s) => Ok(Some(self.keyring.unwrap(hash, s, customer)?)),
            None => Ok(None),
        }
    }

    /// Rewraps the data key of every chunk sealed under key `from` under key `to`
    /// (both in the keyring), a thousand records per transaction: the chunks are not
    /// touched. Returns how many were rewrapped. Once it returns, `from` may leave the
    /// key file (and `to` become the master key, for SSE-S3).
    pub async fn rotate_key(self: &Arc<Self>, from: &str, to: &str) -> Result<u64> {
        use crate::encryption::KeyError;
        for k in [from, to] {
            if !self.keyring.has(k) {
                return Err(KeyError::Unknown(k.to_owned()).into());
            }
        }
        let mut done = 0u64;
        let mut after: Option<Vec<u8>> = None;
        loop {
            // One page of chunk records, read off the async workers.
            let from_owned = from.to_owned();
            let start = after.clone();
            let page: Vec<(Vec<u8>, ChunkHash)> = self
                .off_worker(move |s| {
                    let lo = start.unwrap_or_else(|| vec![keys::CHUNK]);
                    let hi = vec![keys::CHUNK + 1];
                    let mut out = Vec::new();
                    for kv in s
                        .meta
                        .range(std::ops::Bound::Excluded(&lo), std::ops::Bound::Excluded(&hi))
                    {
                        let (k, v) = kv?;
                        let rec: ChunkRecord = decode(&k, &v)?;
                        let Some(hash) = k.get(1..33).and_then(|h| <[u8; 32]>::try_from(h).ok()) else {
                            continue;
                        };
                        if rec.sealed.as_ref().is_some_and(|s| s.key_id == from_owned) {
                            out.push((k.clone(), ChunkHash(hash)));
                        }
                        if out.len() >= 1000 {
                            break;
                        }
                    }
                    Ok(out)
                })
                .await?;
            let last = page.last().map(|(k, _)| k.clone());
            let (from_c, to_c, ring) = (from.to_owned(), to.to_owned(), self.keyring.clone());
            done += self
                .commit_with(Vec::new(), move |tx, _| {
                    let mut n = 0u64;
                    for (_, hash) in &page {
                        let Some(mut rec) = refs::get(tx, hash)? else { continue };
                        let Some(sealed) = rec.sealed.as_ref().filter(|s| s.key_id == from_c) else {
                            continue;
                        };
                        rec.sealed = Some(ring.rewrap(hash, sealed, &to_c).map_err(StorageError::from)?);
                        tx.put(&keys::chunk(hash), &encode(&rec))?;
                        n += 1;
                    }
                    tx.put(&keys::sealed_by(&to_c), &[])?;
                    Ok(n)
                })
                .await?;
            match last {
                Some(k) => after = Some(k),
                None => break,
            }
        }
        // The last pass as the store's only writer: chunks sealed under `from` by writes
        // that committed while the pages above were rewrapped are rewrapped too, and only
        // then is `from` forgotten (a write still in flight that commits later records it
        // again, and the start-up check then asks for it). Writes wait for one scan of
        // the chunk table, once per rotation.
        let (from_c, to_c) = (from.to_owned(), to.to_owned());
        done += self
            .off_worker(move |s| {
                let _gate = s.exclusive_gate()?;
                let mut writes = crate::meta::WriteBatch::default();
                let mut n = 0u64;
                let (lo, hi) = ([keys::CHUNK], [keys::CHUNK + 1]);
                for kv in s
                    .meta
                    .range(std::ops::Bound::Included(&lo[..]), std::ops::Bound::Excluded(&hi[..]))
                {
                    let (k, v) = kv?;
                    let mut rec: ChunkRecord = decode(&k, &v)?;
                    let Some(sealed) = rec.sealed.as_ref().filter(|x| x.key_id == from_c) else {
                        continue;
                    };
                    let Some(hash) = k.get(1..33).and_then(|h| <[u8; 32]>::try_from(h).ok()) else {
                        continue;
                    };
                    rec.sealed = Some(s.keyring.rewrap(&ChunkHash(hash), sealed, &to_c)?);
                    writes.put(&k, &encode(&rec));
                    n += 1;
                }
                writes.put(&keys::sealed_by(&to_c), &[]);
                writes.delete(&keys::sealed_by(&from_c));
                let delta = Gauges::delta(&crate::meta::Committed(&*s.meta), &writes, false);
                s.meta.apply(writes)?;
                s.gauges.apply(&delta);
                s.meta.flush()?;
                Ok(n)
            })
            .await?;
        Ok(done)
    }
}

/// Refuses a data dir whose sealed chunks need a key the keyring lacks: without it they
/// could not be read, and a server that started anyway would fail every such GET.
fn check_keys(meta: &dyn MetaStore, ring: &Keyring) -> Result<()> {
    let lo = [keys::SEALED_BY];
    let hi = [keys::SEALED_BY + 1];
    let mut missing = Vec::new();
    for kv in meta.range(std::ops::Bound::Included(&lo[..]), std::ops::Bound::Excluded(&hi[..])) {
        let (k, _) = kv?;
        let name = String::from_utf8_lossy(&k[1..]).into_owned();
        if name != crate::encryption::CUSTOMER_KEY_ID && !ring.has(&name) {
            missing.push(name);
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StorageError::Config(format!(
            "encrypted objects in this data dir need the key(s) {missing:?}, which the key file / FASTGATE_KMS_KEYS does not have; without them they cannot be read"
        )))
    }
}

/// Reference counting inside a transaction.
///
/// With one writer (the embedded engines) a chunk's count is its record's `refs`,
/// kept by read-modify-write, and a `keys::zero` marker says since when it is zero.
/// Writers sharing a database ([`Txn::writer`]) would all read-modify-write that one
/// record when they reference the same content at once (the empty object, a popular
/// file), and each such overlap fails a group commit, which then runs again. So there
/// a writer leaves the record alone once it exists and changes a row of its own
/// instead, `keys::ref_delta(hash, writer)`; dropping a reference also leaves its own
/// candidate marker, `keys::zero_by(hash, writer)`, since it cannot know whether the
/// total reached zero without reading every other writer's row (and conflicting with
/// their writes). Garbage collection, the only one who needs the total and the only
/// writer while it decides, folds the deltas into the record (`gc::settle`).
pub(crate) mod refs {
    use super::*;
    use crate::checksum::ChunkDigests;
    use crate::ids::ChunkLocation;

    pub fn get(tx: &dyn Txn, hash: &ChunkHash) -> Result<Option<ChunkRecord>, TxError<StorageError>> {
        let key = keys::chunk(hash);
        match tx.get(&key)? {
            Some(v) => Ok(Some(decode(&key, &v)?)),
            None => Ok(None),
        }
    }

    /// Moves this writer's delta of `hash`'s count by `by`, without reading it: a read
    /// would be a predicate lock of PostgreSQL's serializable checks on the index page
    /// that the other writers' deltas of the same chunk share, which their writes
    /// break (see `WriteBatch::add`).
    fn bump(tx: &dyn Txn, hash: &ChunkHash, writer: u64, by: i64) -> Result<(), TxError<StorageError>> {
        tx.add(&keys::ref_delta(hash, writer), by)?;
        Ok(())
    }

    /// The value of a `keys::ref_delta` row.
    pub fn decode_delta(v: &[u8]) -> i64 {
        crate::meta::counter(Some(v))
    }

    /// Puts `key` (an entry whose value never changes), over a shared database only
    /// unless it is there: writers that wrote it again each time would all be writing
    /// the same row. One writer just writes it (a read would cost as much).
    fn put_once(tx: &dyn Txn, key: &[u8], value: &[u8]) -> Result<(), TxError<StorageError>> {
        if tx.writer().is_none() || tx.get(key)?.as_deref() != Some(value) {
            tx.put(key, value)?;
        }
        Ok(())
    }

    /// Adds a reference to a chunk that must already be stored (an instant upload, a
    /// copy, a completed part).
    pub fn add(tx: &dyn Txn, hash: &ChunkHash) -> Result<ChunkRecord, TxError<StorageError>> {
        let mut rec = get(tx, hash)?.ok_or_else(|| StorageError::ChunkGone(hash.to_hex()))?;
        if let Some(writer) = tx.writer() {
            bump(tx, hash, writer, 1)?;
            return Ok(rec);
        }
        if rec.refs == 0 {
            tx.delete(&keys::zero(hash))?;
            rec.zero_since_ms = None;
        }
        rec.refs += 1;
        tx.put(&keys::chunk(hash), &encode(&rec))?;
        Ok(rec)
    }

    /// Adds a reference to a chunk that was just written, creating its record when it
    /// is new, and records what `index` asks for: that `owner` and `bucket` have shown
    /// its bytes, and its MD5.
    /// A sealed chunk's record keeps its wrapped data key (the copy already stored
    /// keeps its own), and is never indexed by MD5: that index leads a plaintext
    /// instant upload to its chunk.
    pub fn add_staged(
        tx: &dyn Txn,
        staged: &StagedChunk,
        owner: &str,
        bucket: &str,
        index: DedupIndex,
    ) -> Result<ChunkRecord, TxError<StorageError>> {
        let (location, digests): (ChunkLocation, &ChunkDigests) = (staged.location, &staged.digests);
        let hash = staged.hash();
        // Whether the record is written: always with one writer; with several only when
        // it is new or learns a checksum, since every writer of the same content would
        // otherwise rewrite it.
        let mut changed = true;
        let rec = match get(tx, &hash)? {
            Some(mut rec) => {
                match tx.writer() {
                    Some(writer) => {
                        bump(tx, &hash, writer, 1)?;
                        changed = false;
                    }
                    None => {
                        if rec.refs == 0 {
                            tx.delete(&keys::zero(&hash))?;
                            rec.zero_since_ms = None;
                        }
                        rec.refs += 1;
                    }
                }
                // Keep any checksum this write computed that the record lacks.
                for (alg, v) in &digests.checksums {
                    if rec.digests.checksum(*alg).is_none() {
                        rec.digests.checksums.push((*alg, v.clone()));
                        changed = true;
                    }
                }
                rec
            }
            None => ChunkRecord {
                location,
                digests: digests.clone(),
                refs: 1,
                zero_since_ms: None,
                sealed: staged.sealed.as_ref().map(|s| SealedKey {
                    key_id: s.key_id.clone(),
                    wrapped: s.wrapped.clone(),
                }),
            },
        };
        if let Some(s) = &rec.sealed {
            put_once(tx, &keys::sealed_by(&s.key_id), &[])?;
        }
        if changed {
            tx.put(&keys::chunk(&hash), &encode(&rec))?;
        }
        // Each proof with its reverse entry, so that it goes with the chunk.
        if index.owner {
            put_once(tx, &keys::owner_has(owner, &hash), &[])?;
            put_once(tx, &keys::has_by_chunk(&hash, keys::BY_OWNER, owner), &[])?;
        }
        if index.bucket {
            put_once(tx, &keys::bucket_has(bucket, &hash), &[])?;
            put_once(tx, &keys::has_by_chunk(&hash, keys::BY_BUCKET, bucket), &[])?;
        }
        if index.md5 && staged.sealed.is_none() {
            put_once(tx, &keys::md5(&digests.md5), &hash.0)?;
        }
        Ok(rec)
    }

    /// Drops a reference; a chunk left with none waits for garbage collection.
    pub fn release(tx: &dyn Txn, hash: &ChunkHash) -> Result<(), TxError<StorageError>> {
        let Some(mut rec) = get(tx, hash)? else { return Ok(()) };
        if let Some(writer) = tx.writer() {
            bump(tx, hash, writer, -1)?;
            tx.put(&keys::zero_by(hash, writer), &now_ms().to_be_bytes())?;
            return Ok(());
        }
        rec.refs = rec.refs.saturating_sub(1);
        if rec.refs == 0 {
            let now = now_ms();
            rec.zero_since_ms = Some(now);
            tx.put(&keys::zero(hash), &now.to_be_bytes())?;
        }
        tx.put(&keys::chunk(hash), &encode(&rec))?;
        Ok(())
    }
}
