//! The chunk layer's interface ([`ChunkStore`]) and its in-process implementation over
//! this node's store paths ([`LocalChunks`]).
//!
//! The interface is what a storage node will serve over the network: start a chunk and
//! stream it in (verified and fsynced by [`ChunkWriter::finish`]), publish it, read a
//! range, has, delete, list. It knows nothing of buckets, keys or S3, and nothing of the
//! metadata either: whether a content is already stored is the caller's knowledge, and
//! it says so when it publishes. The caller also decides *when* chunks may be published
//! or deleted (the model does both under its write gate); this layer only does it.
//!
//! The writer and the reader are concrete types, not trait objects: a large upload hands
//! thousands of buffers to its writer, and each goes through a plain method call with no
//! box. The trait's methods are called once per chunk or per batch.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::buffer_budget::BufferBudget;
use crate::checksum::ChecksumAlgorithm;
use crate::chunk_io::{ChunkWriter, ObjectReader, Pending, ReadSpan, StagedChunk};
use crate::config::ChunkConfig;
use crate::dir::sync_dir;
use crate::error::Result;
use crate::ids::{ChunkHash, ChunkLocation};
use crate::placement::Tracker;
use crate::seal::{Key256, Sealed};

/// A trunk file: (group, store path, trunk id).
pub type TrunkId = (u16, u16, u32);

/// What one publishing batch did so far: chunks published in it (a second copy of the
/// same content in the batch is dropped, not written twice) and the store paths whose
/// trunks took appends (synced once for the batch by [`ChunkStore::sync`]).
#[derive(Debug, Default)]
pub struct PublishBatch {
    published: HashMap<ChunkHash, (ChunkLocation, Option<Sealed>)>,
    trunks_touched: Vec<ChunkLocation>,
}

/// What the model needs from chunks. Object-safe: the model holds an
/// `Arc<dyn ChunkStore>`, [`LocalChunks`] today, a client of a storage node tomorrow.
pub trait ChunkStore: Send + Sync + 'static {
    /// Starts a new chunk of about `size_hint` bytes where placement picks, computing
    /// MD5, SHA-256 and `extras` while it is written. [`ChunkWriter::finish`] returns
    /// the chunk staged: hashed, and fsynced if it is large.
    fn writer(&self, size_hint: u64, extras: &[ChecksumAlgorithm]) -> Result<ChunkWriter>;

    /// Puts a staged chunk's bytes in their final place, unless `stored` (the content
    /// is already stored: dedup at rest) or `batch` published it already, and points
    /// the staged chunk at where its bytes are. Large chunks are renamed into place and
    /// their directory fsynced here; small ones are appended to a trunk and durable only
    /// after [`ChunkStore::sync`].
    fn publish(&self, chunk: &mut StagedChunk, stored: bool, batch: &mut PublishBatch) -> Result<()>;

    /// Makes every append of `batch` durable: one data sync per touched trunk.
    fn sync(&self, batch: &PublishBatch) -> Result<()>;

    /// Streams `[start, end)` of the concatenation of `parts` (hash, location, size).
    fn read(&self, parts: &[(ChunkHash, ChunkLocation, u64)], start: u64, end: u64) -> Result<ObjectReader>;

    /// [`ChunkStore::read`] of parts some of which are sealed: `keys[i]` is the data
    /// key of `parts[i]`, `None` for plaintext. A range decrypts only the segments it
    /// returns. Refused by a chunk layer that cannot store sealed chunks.
    fn read_sealed(
        &self,
        parts: &[(ChunkHash, ChunkLocation, u64)],
        keys: &[Option<Key256>],
        start: u64,
        end: u64,
    ) -> Result<ObjectReader> {
        if keys.iter().any(Option::is_some) {
            return Err(unsealable());
        }
        self.read(parts, start, end)
    }

    /// [`ChunkStore::checksum`] of a sealed chunk, from its plaintext. Blocking.
    fn checksum_sealed(
        &self,
        hash: &ChunkHash,
        location: ChunkLocation,
        size: u64,
        alg: ChecksumAlgorithm,
        key: &Key256,
    ) -> Result<Vec<u8>> {
        let _ = (hash, location, size, alg, key);
        Err(unsealable())
    }

    /// A checksum of a stored chunk of `size` bytes, computed from its bytes. Blocking.
    fn checksum(&self, hash: &ChunkHash, location: ChunkLocation, size: u64, alg: ChecksumAlgorithm)
    -> Result<Vec<u8>>;

    /// Whether the `size` bytes of a chunk are where `location` says.
    fn has(&self, hash: &ChunkHash, location: ChunkLocation, size: u64) -> Result<bool>;

    /// Deletes a chunk's own file; `false` when there was none. A chunk in a trunk is
    /// freed with its trunk (see [`ChunkStore::delete_trunk`]), so this returns `false`.
    fn delete(&self, hash: &ChunkHash, location: ChunkLocation) -> Result<bool>;

    /// Visits every chunk file (not trunk slots) with the location of its store path,
    /// until `visit` breaks: for repair and for the orphan sweep.
    fn list(&self, visit: &mut dyn FnMut(ChunkHash, ChunkLocation) -> ControlFlow<()>) -> Result<()>;

    /// How long ago a chunk's own file was last modified, if it has one.
    fn age(&self, hash: &ChunkHash, location: ChunkLocation) -> Option<Duration>;

    /// Deletes temp files untouched for `older_than` (uploads that broke off while the
    /// server was down) and returns how many.
    fn sweep_temps(&self, older_than: Duration) -> Result<u64>;

    /// Seals each store path's active trunk unless `live` holds it, so that it can be
    /// collected.
    fn seal_trunks(&self, live: &HashSet<TrunkId>) -> Result<()>;

    /// Sealed trunks with no append still on its way to a commit.
    fn idle_trunks(&self) -> Result<Vec<TrunkId>>;

    /// Deletes a trunk file; `false` when there was none.
    fn delete_trunk(&self, id: TrunkId) -> Result<bool>;

    /// The file id of a chunk, FastDFS style: `group1/M00/3f/a2/<sha256>`.
    fn file_id(&self, hash: &ChunkHash, location: ChunkLocation) -> Result<String>;
}

/// What a chunk layer without sealed chunks (a cluster's) answers for one.
fn unsealable() -> crate::error::ChunkError {
    crate::error::ChunkError::Config("encryption at rest is not available on a cluster gateway".into())
}

/// The chunks of this node: its store paths, their trunks, and placement among them.
pub struct LocalChunks {
    tracker: Arc<Tracker>,
    /// Whether large chunks are written around the page cache (see `direct_io`).
    direct_writes: bool,
    write_buffers: BufferBudget,
}

impl LocalChunks {
    /// Opens (or creates) the store paths of `config` and removes every temp file in
    /// them. The caller must be the only process using them: the model opens this after
    /// its metadata engine, whose lock on the data dir guarantees it, so every temp file
    /// is what a crash left behind.
    pub fn open(config: &ChunkConfig) -> Result<Self> {
        let tracker = Arc::new(Tracker::open(&config.groups, config.placement.clone())?);
        for group in tracker.groups() {
            for sp in &group.paths {
                for entry in std::fs::read_dir(sp.tmp_dir())?.flatten() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(Self {
            tracker,
            direct_writes: config.direct_writes,
            write_buffers: BufferBudget::new(config.write_buffer_budget, crate::chunk_io::WRITE_BUFFER),
        })
    }

    /// The placement policy over this node's groups and store paths.
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    /// Where this node holds a chunk as a file of its own, and its length: what a
    /// storage node answers from, since its callers know a chunk by its hash only.
    pub fn find(&self, hash: &ChunkHash) -> Result<Option<(ChunkLocation, u64)>> {
        for group in self.tracker.groups() {
            for sp in &group.paths {
                match std::fs::metadata(sp.chunk_path(hash)) {
                    Ok(m) => return Ok(Some((sp.location, m.len()))),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(None)
    }

    /// One page of the chunks held as files of their own (every chunk of a storage
    /// node), in ascending order of SHA-256: at most `limit`, each after `after`. The
    /// fan-out directories are named by a hash's first two bytes, so a page walks only
    /// the directories from `after` on, stops at the first past a full page, and holds
    /// no more than `limit` hashes: a node with millions of chunks is listed page by
    /// page in bounded memory.
    pub fn list_page(&self, after: Option<&ChunkHash>, limit: usize) -> Result<Vec<ChunkHash>> {
        let after_hex = after.map(ChunkHash::to_hex);
        let mut page = BTreeSet::new();
        if limit == 0 {
            return Ok(Vec::new());
        }
        for group in self.tracker.groups() {
            for sp in &group.paths {
                let data = sp.data_dir();
                for l1 in fan_out_dirs(&data, after_hex.as_deref().map(|h| &h[0..2]))? {
                    if full_before(&page, limit, &l1) {
                        break;
                    }
                    let from = after_hex.as_deref().filter(|h| h[0..2] == l1).map(|h| &h[2..4]);
                    for l2 in fan_out_dirs(&data.join(&l1), from)? {
                        if full_before(&page, limit, &format!("{l1}{l2}")) {
                            break;
                        }
                        let files = match std::fs::read_dir(data.join(&l1).join(&l2)) {
                            Ok(f) => f,
                            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                            Err(e) => return Err(e.into()),
                        };
                        for f in files.flatten() {
                            let Some(hash) = f.file_name().to_str().and_then(ChunkHash::from_hex) else {
                                continue;
                            };
                            if after.is_some_and(|a| hash <= *a) {
                                continue;
                            }
                            page.insert(hash);
                            if page.len() > limit {
                                page.pop_last();
                            }
                        }
                    }
                }
            }
        }
        Ok(page.into_iter().collect())
    }

    /// Publishes a staged chunk as a file of its own, however small, renamed into place
    /// and its directory fsynced before this returns; dropped when the node has the
    /// content already. A storage node stores every chunk this way: a trunk slot is a
    /// node's private place, which its callers could not name.
    pub fn publish_file(&self, c: &mut StagedChunk) -> Result<()> {
        let hash = c.hash();
        if self.find(&hash)?.is_some() {
            if let Pending::File(tmp) = c.take_pending() {
                std::fs::remove_file(&tmp)?;
            }
            return Ok(());
        }
        let sp = self.tracker.path(c.location)?;
        let tmp = match c.take_pending() {
            Pending::Published => return Ok(()),
            Pending::File(tmp) => tmp,
            Pending::Memory(bytes) => {
                let tmp = crate::chunk_io::tmp_name(&sp.tmp_dir());
                let written = std::fs::File::create(&tmp).and_then(|mut f| {
                    std::io::Write::write_all(&mut f, &bytes)?;
                    f.sync_data()
                });
                if let Err(e) = written {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e.into());
                }
                tmp
            }
        };
        let dest: PathBuf = sp.chunk_path(&hash);
        let dir = dest.parent().map(PathBuf::from).unwrap_or_default();
        std::fs::create_dir_all(&dir)?;
        if let Err(e) = std::fs::rename(&tmp, &dest) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
        sync_dir(&dir)?;
        Ok(())
    }
}

/// The fan-out directories (two hex digits) in `dir`, sorted, from `from` on; none when
/// `dir` is gone (emptied and removed meanwhile).
fn fan_out_dirs(dir: &std::path::Path, from: Option<&str>) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.len() == 2 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        .filter(|n| from.is_none_or(|f| n.as_str() >= f))
        .collect();
    names.sort_unstable();
    Ok(names)
}

/// Whether `page` is full and its last hash sorts before every hash whose hex starts
/// with `prefix`: nothing under that fan-out directory (or any after it) can enter.
fn full_before(page: &BTreeSet<ChunkHash>, limit: usize, prefix: &str) -> bool {
    page.len() >= limit && page.last().is_some_and(|l| &l.to_hex()[..prefix.len()] < prefix)
}

fn remove(path: &std::path::Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn age(path: &std::path::Path, now: SystemTime) -> Option<Duration> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    Some(now.duration_since(modified).unwrap_or_default())
}

impl ChunkStore for LocalChunks {
    fn writer(&self, size_hint: u64, extras: &[ChecksumAlgorithm]) -> Result<ChunkWriter> {
        let path = self.tracker.pick(size_hint)?;
        Ok(ChunkWriter::new(
            path.location,
            path.tmp_dir(),
            extras.to_vec(),
            self.direct_writes,
            self.write_buffers.clone(),
        ))
    }

    fn publish(&self, c: &mut StagedChunk, stored: bool, batch: &mut PublishBatch) -> Result<()> {
        let hash = c.hash();
        let earlier = batch.published.get(&hash).cloned();
        match c.take_pending() {
            Pending::Published => {}
            Pending::Memory(_) if stored => {}
            Pending::File(tmp) if stored => std::fs::remove_file(&tmp)?,
            // The copy published earlier in the batch is the one on disk: a sealed one
            // takes its data key too, which opens those bytes (its own would not).
            Pending::Memory(_) if let Some((loc, sealed)) = earlier => {
                c.location = loc;
                c.sealed = sealed;
            }
            Pending::Memory(bytes) => {
                let (slot, guard) = self.tracker.path(c.location)?.trunks.append(bytes)?;
                c.location.slot = Some(slot);
                c.guard = Some(guard);
                batch.trunks_touched.push(c.location);
                batch.published.insert(hash, (c.location, c.sealed.clone()));
            }
            Pending::File(tmp) if let Some((loc, sealed)) = earlier => {
                std::fs::remove_file(&tmp)?;
                c.location = loc;
                c.sealed = sealed;
            }
            Pending::File(tmp) => {
                let dest: PathBuf = self.tracker.path(c.location)?.chunk_path(&hash);
                let dir = dest.parent().map(PathBuf::from).unwrap_or_default();
                std::fs::create_dir_all(&dir)?;
                if let Err(e) = std::fs::rename(&tmp, &dest) {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e.into());
                }
                sync_dir(&dir)?;
                batch.published.insert(hash, (c.location, c.sealed.clone()));
            }
        }
        Ok(())
    }

    fn sync(&self, batch: &PublishBatch) -> Result<()> {
        let mut touched = batch.trunks_touched.clone();
        touched.sort_by_key(|l| (l.group, l.store_path));
        touched.dedup_by_key(|l| (l.group, l.store_path));
        // Every trunk is synced even after one fails; the batch fails as a whole.
        let mut failed = None;
        for loc in &touched {
            if let Err(e) = self.tracker.path(*loc).and_then(|p| Ok(p.trunks.sync()?)) {
                failed = Some(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    fn read(&self, parts: &[(ChunkHash, ChunkLocation, u64)], start: u64, end: u64) -> Result<ObjectReader> {
        let spans = crate::chunk_io::spans(&self.tracker, parts, None, start, end)?;
        Ok(ObjectReader::spawn(spans))
    }

    fn read_sealed(
        &self,
        parts: &[(ChunkHash, ChunkLocation, u64)],
        keys: &[Option<Key256>],
        start: u64,
        end: u64,
    ) -> Result<ObjectReader> {
        let spans = crate::chunk_io::spans(&self.tracker, parts, Some(keys), start, end)?;
        Ok(ObjectReader::spawn(spans))
    }

    fn checksum_sealed(
        &self,
        hash: &ChunkHash,
        location: ChunkLocation,
        size: u64,
        alg: ChecksumAlgorithm,
        key: &Key256,
    ) -> Result<Vec<u8>> {
        let (path, offset) = self.tracker.path(location)?.locate(&location, hash);
        let span = ReadSpan {
            path,
            offset,
            len: size,
            sealed: Some(crate::chunk_io::SealedSpan {
                key: key.clone(),
                plain: size,
                from: 0,
            }),
        };
        Ok(crate::chunk_io::checksum_file(&span, alg)?)
    }

    fn checksum(
        &self,
        hash: &ChunkHash,
        location: ChunkLocation,
        size: u64,
        alg: ChecksumAlgorithm,
    ) -> Result<Vec<u8>> {
        let (path, offset) = self.tracker.path(location)?.locate(&location, hash);
        let span = ReadSpan {
            path,
            offset,
            len: size,
            sealed: None,
        };
        Ok(crate::chunk_io::checksum_file(&span, alg)?)
    }

    fn has(&self, hash: &ChunkHash, location: ChunkLocation, size: u64) -> Result<bool> {
        let (path, offset) = self.tracker.path(location)?.locate(&location, hash);
        match File::open(&path).and_then(|f| f.metadata()) {
            Ok(m) => Ok(m.len() >= offset.saturating_add(size)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn delete(&self, hash: &ChunkHash, location: ChunkLocation) -> Result<bool> {
        if location.slot.is_some() {
            return Ok(false);
        }
        remove(&self.tracker.path(location)?.chunk_path(hash))
    }

    fn list(&self, visit: &mut dyn FnMut(ChunkHash, ChunkLocation) -> ControlFlow<()>) -> Result<()> {
        for group in self.tracker.groups() {
            for sp in &group.paths {
                for l1 in std::fs::read_dir(sp.data_dir())?.flatten() {
                    for l2 in std::fs::read_dir(l1.path())?.flatten() {
                        for f in std::fs::read_dir(l2.path())?.flatten() {
                            let Some(hash) = f.file_name().to_str().and_then(ChunkHash::from_hex) else {
                                continue;
                            };
                            if visit(hash, sp.location).is_break() {
                                return Ok(());
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn age(&self, hash: &ChunkHash, location: ChunkLocation) -> Option<Duration> {
        if location.slot.is_some() {
            return None;
        }
        age(&self.tracker.path(location).ok()?.chunk_path(hash), SystemTime::now())
    }

    fn sweep_temps(&self, older_than: Duration) -> Result<u64> {
        let now = SystemTime::now();
        let mut deleted = 0;
        for group in self.tracker.groups() {
            for sp in &group.paths {
                for entry in std::fs::read_dir(sp.tmp_dir())?.flatten() {
                    let old = age(&entry.path(), now).is_some_and(|a| a >= older_than);
                    if old && std::fs::remove_file(entry.path()).is_ok() {
                        deleted += 1;
                    }
                }
            }
        }
        Ok(deleted)
    }

    fn seal_trunks(&self, live: &HashSet<TrunkId>) -> Result<()> {
        for group in self.tracker.groups() {
            for sp in &group.paths {
                let (g, p) = (sp.location.group, sp.location.store_path);
                if !live.contains(&(g, p, sp.trunks.active())) {
                    sp.trunks.rotate()?;
                }
            }
        }
        Ok(())
    }

    fn idle_trunks(&self) -> Result<Vec<TrunkId>> {
        let mut idle = Vec::new();
        for group in self.tracker.groups() {
            for sp in &group.paths {
                let active = sp.trunks.active();
                for id in crate::trunk::list(sp.trunks.dir())? {
                    if id != active && sp.trunks.inflight(id) == 0 {
                        idle.push((sp.location.group, sp.location.store_path, id));
                    }
                }
            }
        }
        Ok(idle)
    }

    fn delete_trunk(&self, (group, store_path, id): TrunkId) -> Result<bool> {
        let sp = self.tracker.path(ChunkLocation {
            group,
            store_path,
            slot: None,
        })?;
        remove(&crate::trunk::trunk_path(sp.trunks.dir(), id))
    }

    fn file_id(&self, hash: &ChunkHash, location: ChunkLocation) -> Result<String> {
        let sp = self.tracker.path(location)?;
        let group = &self.tracker.groups()[usize::from(location.group)];
        let hex = hash.to_hex();
        Ok(format!(
            "{}/{}/{}/{}/{}",
            group.name,
            sp.name(),
            &hex[0..2],
            &hex[2..4],
            hex
        ))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn open(dir: &std::path::Path) -> Arc<dyn ChunkStore> {
        Arc::new(LocalChunks::open(&ChunkConfig::single(dir)).unwrap())
    }

    async fn stage(chunks: &dyn ChunkStore, data: &[u8]) -> StagedChunk {
        let mut w = chunks.writer(data.len() as u64, &[]).unwrap();
        // In pieces, so that large bodies take the streaming path.
        for piece in data.chunks(100_000) {
            w.write(Bytes::copy_from_slice(piece)).await.unwrap();
        }
        w.finish().await.unwrap()
    }

    async fn read(chunks: &dyn ChunkStore, parts: &[(ChunkHash, ChunkLocation, u64)], start: u64, end: u64) -> Vec<u8> {
        let mut r = chunks.read(parts, start, end).unwrap();
        let mut out = Vec::new();
        while let Some(b) = r.next().await {
            out.extend_from_slice(&b.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn published_chunks_are_read_listed_and_deleted_through_the_trait() {
        let dir = tempfile::tempdir().unwrap();
        let chunks = open(dir.path());
        let large: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let small = b"a small chunk".to_vec();
        let mut batch = PublishBatch::default();
        let mut big = stage(&*chunks, &large).await;
        let mut little = stage(&*chunks, &small).await;
        let mut twin = stage(&*chunks, &small).await;
        for c in [&mut big, &mut little, &mut twin] {
            chunks.publish(c, false, &mut batch).unwrap();
        }
        chunks.sync(&batch).unwrap();
        assert!(little.location.slot.is_some(), "small chunks go to a trunk");
        assert_eq!(twin.location, little.location, "one copy of a content per batch");

        let parts = [
            (big.hash(), big.location, large.len() as u64),
            (little.hash(), little.location, small.len() as u64),
        ];
        let mut whole = large.clone();
        whole.extend_from_slice(&small);
        assert_eq!(read(&*chunks, &parts, 0, whole.len() as u64).await, whole);
        assert_eq!(
            read(&*chunks, &parts, 999_990, 1_000_005).await,
            whole[999_990..1_000_005]
        );
        assert!(chunks.has(&big.hash(), big.location, large.len() as u64).unwrap());
        assert!(chunks.has(&little.hash(), little.location, small.len() as u64).unwrap());
        let crc = ChecksumAlgorithm::Crc32;
        assert_eq!(
            chunks
                .checksum(&little.hash(), little.location, small.len() as u64, crc)
                .unwrap(),
            crc.digest(&small)
        );
        assert!(
            chunks
                .file_id(&big.hash(), big.location)
                .unwrap()
                .starts_with("group1/M00/")
        );

        let mut listed = Vec::new();
        chunks
            .list(&mut |hash, _| {
                listed.push(hash);
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(listed, vec![big.hash()], "trunk slots are not chunk files");
        assert!(chunks.delete(&big.hash(), big.location).unwrap());
        assert!(!chunks.has(&big.hash(), big.location, large.len() as u64).unwrap());
        assert!(
            !chunks.delete(&little.hash(), little.location).unwrap(),
            "a slot goes with its trunk"
        );
    }

    async fn stage_sealed(chunks: &dyn ChunkStore, data: &[u8], spec: &crate::seal::SealSpec) -> StagedChunk {
        let mut w = chunks.writer(data.len() as u64, &[]).unwrap();
        w.seal(spec.clone()).unwrap();
        for piece in data.chunks(100_000) {
            w.write(Bytes::copy_from_slice(piece)).await.unwrap();
        }
        w.finish().await.unwrap()
    }

    #[tokio::test]
    async fn sealed_chunks_are_stored_apart_from_their_plaintext_and_read_back_with_their_key() {
        use crate::seal::{Key256, SealSpec, unwrap};
        let dir = tempfile::tempdir().unwrap();
        let chunks = open(dir.path());
        let spec = SealSpec {
            key_id: "k".into(),
            kek: Key256::random(),
            id_key: Key256([3; 32]),
        };
        let large: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        let small = b"a small sealed chunk".to_vec();
        let mut batch = PublishBatch::default();
        let mut big = stage_sealed(&*chunks, &large, &spec).await;
        let mut little = stage_sealed(&*chunks, &small, &spec).await;
        // The same content again in the batch, under a data key of its own.
        let mut twin = stage_sealed(&*chunks, &small, &spec).await;
        let mut plain = stage(&*chunks, &small).await;
        assert_ne!(twin.sealed, little.sealed);
        for c in [&mut big, &mut little, &mut twin, &mut plain] {
            chunks.publish(c, false, &mut batch).unwrap();
        }
        chunks.sync(&batch).unwrap();
        assert_eq!(big.hash(), spec.chunk_id(&big.digests.sha256));
        assert_ne!(
            little.hash(),
            plain.hash(),
            "a sealed chunk is not its plaintext's chunk"
        );
        assert_eq!(twin.location, little.location);
        assert_eq!(twin.sealed, little.sealed, "the copy on disk comes with its own key");

        let key = |c: &StagedChunk| {
            let s = c.sealed.as_ref().unwrap();
            Some(unwrap(&spec.kek, &s.key_id, &s.id, &s.wrapped).unwrap())
        };
        let parts = [
            (big.hash(), big.location, large.len() as u64),
            (twin.hash(), twin.location, small.len() as u64),
            (plain.hash(), plain.location, small.len() as u64),
        ];
        let keys = [key(&big), key(&twin), None];
        let mut whole = large.clone();
        whole.extend_from_slice(&small);
        whole.extend_from_slice(&small);
        let read_sealed = |start: u64, end: u64| {
            let mut r = chunks.read_sealed(&parts, &keys, start, end).unwrap();
            async move {
                let mut out = Vec::new();
                while let Some(b) = r.next().await {
                    out.extend_from_slice(&b.unwrap());
                }
                out
            }
        };
        assert_eq!(read_sealed(0, whole.len() as u64).await, whole);
        assert_eq!(read_sealed(65_530, 700_010).await, whole[65_530..700_010]);
        let crc = ChecksumAlgorithm::Crc32;
        let k = key(&big).unwrap();
        assert_eq!(
            chunks
                .checksum_sealed(&big.hash(), big.location, large.len() as u64, crc, &k)
                .unwrap(),
            crc.digest(&large)
        );
    }

    #[tokio::test]
    async fn content_already_stored_is_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let chunks = open(dir.path());
        let data = vec![7u8; 600_000];
        let mut c = stage(&*chunks, &data).await;
        chunks.publish(&mut c, true, &mut PublishBatch::default()).unwrap();
        assert!(!chunks.has(&c.hash(), c.location, data.len() as u64).unwrap());
        assert_eq!(std::fs::read_dir(dir.path().join("M00/tmp")).unwrap().count(), 0);
    }
}
