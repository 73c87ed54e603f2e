//! Streaming chunk files in and out.
//!
//! Writes: small bodies are gathered in memory (bounded by [`SMALL_CHUNK`]) and written
//! with one blocking call; larger ones are copied into aligned buffers that stream through
//! a short channel to a blocking thread, which hashes and writes each buffer in the same
//! pass, around the page cache unless configured otherwise (see `direct_io`). Either way
//! the bytes are fsynced in a temp file next to their final place before anyone may
//! publish them.
//! Reads stream a byte range of an object across its chunks from a blocking thread.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::buffer_budget::BufferBudget;
use crate::checksum::{ChecksumAlgorithm, ChunkDigests, ContentHasher};
use crate::direct_io::{AlignedBuf, DirectFile};
use crate::ids::{ChunkHash, ChunkLocation};
use crate::placement::Tracker;
use crate::read_ahead::ReadAhead;
use crate::seal::{self, Key256, SealSpec, Sealed, Sealer};

/// Bodies up to this size are written with a single blocking call.
pub const SMALL_CHUNK: usize = 256 * 1024;
/// Buffers handed to the writer thread are coalesced to about this size: large enough
/// to keep syscalls and channel hops rare, small enough that 64 concurrent uploads stay
/// well inside the memory budget (two in flight plus one filling per upload).
pub(crate) const WRITE_BUFFER: usize = 256 * 1024;
const READ_BUFFER: usize = 256 * 1024;
/// Bodies up to this size are hashed on the async runtime: it takes microseconds, less
/// than handing them to a blocking thread.
const INLINE_HASH: usize = 64 * 1024;

/// Bytes of a staged chunk that are not in their final place yet.
#[derive(Debug)]
pub(crate) enum Pending {
    /// A large chunk, fsynced in a temp file next to its final path.
    File(PathBuf),
    /// A small chunk, hashed in memory; publishing appends it to a trunk.
    Memory(Bytes),
    Published,
}

/// A chunk whose bytes are known and hashed and wait to be published by a metadata
/// commit: renamed into place (large) or appended to a trunk (small), or dropped when
/// the content is already stored. Dropping it unpublished deletes any temp file, so a
/// failed or abandoned request leaves nothing behind.
#[derive(Debug)]
pub struct StagedChunk {
    pub location: ChunkLocation,
    pub digests: ChunkDigests,
    pub(crate) pending: Pending,
    /// Keeps the trunk a small chunk was appended to from being collected until the
    /// record that references it is committed.
    pub(crate) guard: Option<crate::trunk::SlotGuard>,
    /// For a chunk stored on a cluster's nodes: the positions, in its group, of the
    /// nodes that did not take a copy. The commit records them as owed, in the same
    /// transaction as the object. Empty for a local chunk.
    pub missed: Vec<u16>,
    /// For a chunk encrypted on disk: its id (not its plaintext's SHA-256) and its data
    /// key, wrapped, for its record.
    pub sealed: Option<Sealed>,
}

impl StagedChunk {
    /// The chunk's id: its SHA-256, or for a sealed chunk the id derived from it (see
    /// [`crate::seal`]).
    pub fn hash(&self) -> ChunkHash {
        match &self.sealed {
            Some(s) => s.id,
            None => ChunkHash(self.digests.sha256),
        }
    }

    pub(crate) fn take_pending(&mut self) -> Pending {
        std::mem::replace(&mut self.pending, Pending::Published)
    }
}

impl Drop for StagedChunk {
    fn drop(&mut self) {
        if let Pending::File(p) = self.take_pending() {
            let _ = std::fs::remove_file(p);
        }
    }
}

enum Msg {
    Data(Bytes),
    /// Sent last: without it the writer thread treats the upload as broken off.
    Finish,
}

enum State {
    Buffering(BytesMut),
    Streaming {
        tx: mpsc::Sender<Msg>,
        /// The buffer being filled, admitted to the budget when full.
        pending: AlignedBuf,
        task: JoinHandle<io::Result<StagedChunk>>,
    },
    /// Copies on other machines (a cluster's storage nodes), fed as the body arrives.
    Remote(Box<Remote>),
    Done,
}

/// A boxed future, for the object-safe [`ChunkSink`].
pub type SinkFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = io::Result<T>> + Send + 'a>>;

/// Where a remote [`ChunkWriter`] sends a chunk's bytes: the copies a cluster makes on
/// its storage nodes, each written while the body streams in (no second pass over it).
/// The writer hashes the bytes itself, as it does for a local chunk, and hands the
/// SHA-256 to [`ChunkSink::finish`] so that every copy is verified against it.
pub trait ChunkSink: Send + 'static {
    /// Takes the next piece of the chunk, waiting while the copies lag behind (the
    /// memory held stays bounded as for a local chunk).
    fn send(&mut self, data: Bytes) -> SinkFuture<'_, ()>;

    /// Ends the chunk with its SHA-256 and resolves once enough copies have it
    /// verified and fsynced, with the copies that could not be made (see
    /// [`StagedChunk::missed`]); an error otherwise. Dropping the sink unfinished
    /// abandons every copy.
    fn finish(self: Box<Self>, sha256: [u8; 32]) -> SinkFuture<'static, Vec<u16>>;
}

/// The state of a remote writer: bytes not yet handed on, the hashing thread once the
/// body outgrows one buffer (the hasher inline before), and the sink.
struct Remote {
    sink: Box<dyn ChunkSink>,
    buf: BytesMut,
    hasher: Option<ContentHasher>,
    hashing: Option<(mpsc::Sender<Bytes>, JoinHandle<io::Result<ChunkDigests>>)>,
}

impl Remote {
    /// Hands one full buffer to the hashing thread and to the sink, side by side.
    async fn hand_on(&mut self, piece: Bytes) -> io::Result<()> {
        if self.hashing.is_none() {
            let (tx, mut rx) = mpsc::channel::<Bytes>(2);
            let mut hasher = self
                .hasher
                .take()
                .unwrap_or_else(|| ContentHasher::new(&[]))
                .with_shared_engines();
            let task = tokio::task::spawn_blocking(move || {
                while let Some(b) = rx.blocking_recv() {
                    hasher.update_bytes(&b);
                }
                hasher.finish()
            });
            self.hashing = Some((tx, task));
        }
        if let Some((tx, _)) = &self.hashing
            && tx.send(piece.clone()).await.is_err()
        {
            return Err(broken_pipe());
        }
        self.sink.send(piece).await
    }

    async fn finish(mut self, location: ChunkLocation) -> io::Result<StagedChunk> {
        let rest = self.buf.split().freeze();
        let digests = if self.hashing.is_some() {
            if !rest.is_empty() {
                self.hand_on(rest).await?;
            }
            let (tx, task) = self.hashing.take().ok_or_else(broken_pipe)?;
            drop(tx);
            task.await.map_err(io::Error::other)??
        } else {
            let mut hasher = self.hasher.take().unwrap_or_else(|| ContentHasher::new(&[]));
            if !rest.is_empty() {
                self.sink.send(rest.clone()).await?;
            }
            if rest.len() <= INLINE_HASH {
                hasher.update(&rest);
                hasher.finish()?
            } else {
                tokio::task::spawn_blocking(move || {
                    hasher.update(&rest);
                    hasher.finish()
                })
                .await
                .map_err(io::Error::other)??
            }
        };
        let missed = self.sink.finish(digests.sha256).await?;
        Ok(StagedChunk {
            location,
            digests,
            pending: Pending::Published,
            guard: None,
            missed,
            sealed: None,
        })
    }
}

/// Writes one chunk. Create it with `ChunkStore::writer` (the model: `Store::chunk_writer`).
pub struct ChunkWriter {
    location: ChunkLocation,
    tmp_dir: PathBuf,
    extras: Vec<ChecksumAlgorithm>,
    verified_sha256: Option<[u8; 32]>,
    /// Whether large chunks are written around the page cache (see `direct_io`).
    direct: bool,
    budget: BufferBudget,
    state: State,
    /// How the chunk is sealed, and its fresh data key; `None` writes plaintext.
    seal: Option<(SealSpec, Key256)>,
}

/// Bytes of a streamed chunk after which its dirty pages are handed to the disk. The
/// final fdatasync then waits for one window instead of the whole chunk, which matters
/// when concurrent uploads finish together and would otherwise all wait at once.
const WRITEBACK_WINDOW: u64 = 8 << 20;

/// Starts writeback of `[offset, offset + len)` without waiting for it to finish. A
/// hint only: durability still comes from the fdatasync at the end, so a failure is
/// ignored.
///
/// The one `unsafe` outside the hash kernels: neither `rustix` nor the standard library
/// binds `sync_file_range`, and no safe call starts writeback without also waiting for
/// it (`fdatasync`) or dropping the range from the page cache (`fadvise(DONTNEED)`).
#[allow(unsafe_code)]
fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
            return;
        };
        // SAFETY: sync_file_range takes plain integers; the descriptor belongs to
        // `file`, which outlives the call.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

pub(crate) fn tmp_name(dir: &Path) -> PathBuf {
    dir.join(format!("{}.part", hex::encode(rand::random::<[u8; 12]>())))
}

fn broken_pipe() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "chunk writer thread stopped")
}

impl ChunkWriter {
    pub(crate) fn new(
        location: ChunkLocation,
        tmp_dir: PathBuf,
        extras: Vec<ChecksumAlgorithm>,
        direct: bool,
        budget: BufferBudget,
    ) -> Self {
        Self {
            location,
            tmp_dir,
            extras,
            verified_sha256: None,
            direct,
            budget,
            state: State::Buffering(BytesMut::new()),
            seal: None,
        }
    }

    /// A writer whose chunk is stored by `sink` (copies on other machines) at
    /// `location`, hashed here as it passes. Its staged chunk is already in place on
    /// every copy when [`ChunkWriter::finish`] returns: publishing it writes nothing.
    pub fn remote(location: ChunkLocation, extras: &[ChecksumAlgorithm], sink: Box<dyn ChunkSink>) -> Self {
        Self {
            location,
            tmp_dir: PathBuf::new(),
            extras: extras.to_vec(),
            verified_sha256: None,
            direct: false,
            budget: BufferBudget::new(0, WRITE_BUFFER),
            state: State::Remote(Box::new(Remote {
                sink,
                buf: BytesMut::new(),
                hasher: None,
                hashing: None,
            })),
            seal: None,
        }
    }

    /// Takes the chunk's SHA-256 as given instead of computing it. Only for bodies
    /// whose SHA-256 another layer verifies while they stream, failing the stream on a
    /// mismatch (SigV4's signed payload hash): then the bytes are hashed once, not twice,
    /// and a mismatch still commits nothing because the write never finishes cleanly.
    pub fn trust_verified_sha256(&mut self, sha256: [u8; 32]) {
        self.verified_sha256 = Some(sha256);
    }

    /// Seals the chunk on disk under a fresh data key, wrapped as `spec` says (see
    /// [`crate::seal`]). Called before the first write. A remote writer refuses: a
    /// storage node verifies the SHA-256 of what it receives, and a sealed chunk's bytes
    /// are not its plaintext.
    pub fn seal(&mut self, spec: SealSpec) -> io::Result<()> {
        match &self.state {
            State::Buffering(b) if b.is_empty() => {
                self.seal = Some((spec, Key256::random()));
                Ok(())
            }
            State::Remote(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "encryption at rest is not available on a cluster gateway",
            )),
            _ => Err(io::Error::other("a chunk is sealed before its first byte")),
        }
    }

    /// What a sealed chunk's record keeps, once its plaintext SHA-256 is known.
    fn sealed_for(seal: Option<&(SealSpec, Key256)>, sha256: &[u8; 32]) -> Option<Sealed> {
        seal.map(|(spec, key)| {
            let id = spec.chunk_id(sha256);
            Sealed {
                id,
                key_id: spec.key_id.clone(),
                wrapped: seal::wrap(&spec.kek, &spec.key_id, &id, key),
            }
        })
    }

    fn hasher(&self) -> ContentHasher {
        match self.verified_sha256 {
            Some(s) => ContentHasher::with_verified_sha256(&self.extras, s),
            None => ContentHasher::new(&self.extras),
        }
    }

    pub async fn write(&mut self, data: Bytes) -> io::Result<()> {
        match &mut self.state {
            State::Buffering(buf) => {
                if buf.len() + data.len() <= SMALL_CHUNK {
                    buf.extend_from_slice(&data);
                    return Ok(());
                }
                let first = std::mem::take(buf);
                self.start_streaming(&first);
                self.push(data).await
            }
            State::Streaming { .. } => self.push(data).await,
            State::Remote(r) => {
                if r.hasher.is_none() && r.hashing.is_none() {
                    r.hasher = Some(match self.verified_sha256 {
                        Some(s) => ContentHasher::with_verified_sha256(&self.extras, s),
                        None => ContentHasher::new(&self.extras),
                    });
                }
                // Copied into buffers of our own, for the reason given in `push`.
                r.buf.extend_from_slice(&data);
                while r.buf.len() >= WRITE_BUFFER {
                    let piece = r.buf.split_to(WRITE_BUFFER).freeze();
                    r.hand_on(piece).await?;
                }
                Ok(())
            }
            State::Done => Err(broken_pipe()),
        }
    }

    fn start_streaming(&mut self, first: &[u8]) {
        let (tx, mut rx) = mpsc::channel::<Msg>(2);
        let direct = self.direct;
        let location = self.location;
        let tmp = tmp_name(&self.tmp_dir);
        // Large chunks hash their MD5 on the shared engine, alongside other uploads.
        let mut hasher = self.hasher().with_shared_engines();
        let seal = self.seal.clone();
        let task = tokio::task::spawn_blocking(move || {
            let mut file = DirectFile::create(&tmp, direct)?;
            let mut guard = StagedChunk {
                location,
                digests: ContentHasher::new(&[]).finish()?,
                pending: Pending::File(tmp),
                guard: None,
                missed: Vec::new(),
                sealed: None,
            };
            let mut sealer = seal.as_ref().map(|(_, key)| (Sealer::new(key), Vec::new()));
            let mut handed = 0u64;
            loop {
                match rx.blocking_recv() {
                    Some(Msg::Data(b)) => {
                        hasher.update_bytes(&b);
                        match &mut sealer {
                            Some((s, out)) => {
                                out.clear();
                                s.push(&b, out);
                                file.append(out)?;
                            }
                            None => file.append(&b)?,
                        }
                        let written = file.len();
                        // Direct writes are on the disk already when they return.
                        if !file.is_direct() && written - handed >= WRITEBACK_WINDOW {
                            start_writeback(file.file(), handed, written - handed);
                            handed = written;
                        }
                    }
                    Some(Msg::Finish) => {
                        if let Some((s, mut out)) = sealer.take() {
                            out.clear();
                            s.finish(&mut out);
                            file.append(&out)?;
                        }
                        break;
                    }
                    // The request went away mid-body: `guard` removes the temp file.
                    None => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "upload broke off")),
                }
            }
            guard.digests = hasher.finish_while(|| file.file().sync_data())?;
            guard.sealed = Self::sealed_for(seal.as_ref(), &guard.digests.sha256);
            Ok(guard)
        });
        // `first` (at most SMALL_CHUNK bytes) fits in one buffer.
        let mut pending = self.budget.buffer();
        pending.fill_from(first);
        self.state = State::Streaming { tx, pending, task };
    }

    async fn push(&mut self, data: Bytes) -> io::Result<()> {
        let mut rest = &data[..];
        while !rest.is_empty() {
            let State::Streaming { tx, pending, .. } = &mut self.state else {
                return Err(broken_pipe());
            };
            // Always copied, even a body piece large enough to pass on as it is: the
            // copy is what puts the bytes in whole, aligned buffers that can go to the
            // disk directly. And hyper's pieces are slices of its connection read
            // buffer: each one held past the write (the hash engines hold them until
            // hashed) would pin a whole read buffer, about 100 MiB more resident memory
            // with 64 uploads.
            let n = pending.fill_from(rest);
            rest = &rest[n..];
            if pending.is_full() {
                let full = std::mem::replace(pending, self.budget.buffer());
                let full = self.budget.admit(full).await;
                if tx.send(Msg::Data(Bytes::from_owner(full))).await.is_err() {
                    return Err(self.thread_error().await);
                }
            }
        }
        Ok(())
    }

    /// The writer thread's own error (a full disk, say), once it has stopped.
    async fn thread_error(&mut self) -> io::Error {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Streaming { task, .. } => match task.await {
                Ok(Err(e)) => e,
                _ => broken_pipe(),
            },
            _ => broken_pipe(),
        }
    }

    /// Flushes, fsyncs and returns the staged chunk with its digests.
    pub async fn finish(mut self) -> io::Result<StagedChunk> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Buffering(buf) => {
                // Small bodies are only hashed here; publishing appends them to a trunk
                // (or skips the write when the content is already stored).
                let (location, mut hasher, buf) = (self.location, self.hasher(), buf.freeze());
                let inline = buf.len() <= INLINE_HASH;
                let seal = self.seal.take();
                let hash = move || {
                    hasher.update(&buf);
                    let digests = hasher.finish()?;
                    let sealed = Self::sealed_for(seal.as_ref(), &digests.sha256);
                    let pending = match &seal {
                        Some((_, key)) => Bytes::from(Sealer::seal_all(key, &buf)),
                        None => buf,
                    };
                    Ok(StagedChunk {
                        location,
                        digests,
                        pending: Pending::Memory(pending),
                        guard: None,
                        missed: Vec::new(),
                        sealed,
                    })
                };
                if inline {
                    hash()
                } else {
                    tokio::task::spawn_blocking(hash).await.map_err(io::Error::other)?
                }
            }
            State::Streaming { tx, pending, task } => {
                // A send error means the thread already failed; its own error follows.
                if !pending.is_empty() {
                    let pending = self.budget.admit(pending).await;
                    let _ = tx.send(Msg::Data(Bytes::from_owner(pending))).await;
                }
                let _ = tx.send(Msg::Finish).await;
                drop(tx);
                task.await.map_err(io::Error::other)?
            }
            State::Remote(r) => {
                let mut r = *r;
                if r.hasher.is_none() && r.hashing.is_none() {
                    r.hasher = Some(self.hasher());
                }
                r.finish(self.location).await
            }
            State::Done => Err(broken_pipe()),
        }
    }
}

/// One piece of an object to read: a chunk and the byte range of it that is wanted.
#[derive(Clone, Debug)]
pub struct ReadSpan {
    pub path: PathBuf,
    pub offset: u64,
    pub len: u64,
    /// For a sealed chunk: `offset` is where the chunk starts in its file, and this
    /// says how to open it and which plaintext bytes (from `offset` + `from`) are
    /// wanted.
    pub sealed: Option<SealedSpan>,
}

/// How to read a sealed chunk: its data key, its plaintext size, and where in its
/// plaintext the wanted bytes start.
#[derive(Clone, Debug)]
pub struct SealedSpan {
    pub key: Key256,
    pub plain: u64,
    pub from: u64,
}

/// Segments of a sealed chunk opened per read: about one read buffer.
const SEGMENTS_PER_READ: u64 = (READ_BUFFER / seal::SEGMENT) as u64;

/// Reads the wanted plaintext of a sealed span, opening only the segments it covers,
/// a few at a time, and hands each piece to `emit` (which stops the read with `false`).
fn read_sealed_span(span: &ReadSpan, s: &SealedSpan, mut emit: impl FnMut(Bytes) -> bool) -> io::Result<()> {
    let (from, to) = (s.from, s.from + span.len);
    let (_, disk_end, first) = seal::sealed_range(s.plain, from, to);
    let seg = seal::SEGMENT as u64;
    let last = if to == 0 { 0 } else { (to - 1) / seg };
    let mut file = ReadAhead::new(File::open(&span.path)?, span.offset + disk_end);
    let mut index = first;
    while index <= last {
        let upto = (index + SEGMENTS_PER_READ).min(last + 1);
        let (start, end, _) = seal::sealed_range(s.plain, index * seg, (upto * seg).min(s.plain));
        let mut buf = vec![0u8; usize::try_from(end - start).map_err(io::Error::other)?];
        file.read_exact_at(&mut buf, span.offset + start)?;
        seal::open_in_place(&s.key, s.plain, index, &mut buf)?;
        // The wanted part of these segments, handed on without a copy.
        let base = index * seg;
        let lo = usize::try_from(from.max(base) - base).map_err(io::Error::other)?;
        let hi = usize::try_from(to.min(base + buf.len() as u64) - base).map_err(io::Error::other)?;
        if lo < hi && !emit(Bytes::from(buf).slice(lo..hi)) {
            return Ok(());
        }
        index = upto;
    }
    Ok(())
}

/// A stream of an object's bytes, produced by a blocking reader thread.
pub struct ObjectReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
}

impl ObjectReader {
    /// A reader of whatever `rx` delivers: an object read from other machines.
    pub fn from_channel(rx: mpsc::Receiver<io::Result<Bytes>>) -> Self {
        Self { rx }
    }

    pub(crate) fn spawn(spans: Vec<ReadSpan>) -> Self {
        let (tx, rx) = mpsc::channel(2);
        tokio::task::spawn_blocking(move || {
            for span in spans {
                if let Err(e) = read_span(&span, &tx) {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        });
        Self { rx }
    }

    pub async fn next(&mut self) -> Option<io::Result<Bytes>> {
        self.rx.recv().await
    }

    /// [`ObjectReader::next`] for a hand-written `Stream` or HTTP body.
    pub fn poll_next(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<io::Result<Bytes>>> {
        self.rx.poll_recv(cx)
    }
}

fn read_span(span: &ReadSpan, tx: &mpsc::Sender<io::Result<Bytes>>) -> io::Result<()> {
    if span.len == 0 {
        return Ok(());
    }
    if let Some(s) = &span.sealed {
        // A send error means the client went away.
        return read_sealed_span(span, s, |b| tx.blocking_send(Ok(b)).is_ok());
    }
    let end = span.offset + span.len;
    let mut file = ReadAhead::new(File::open(&span.path)?, end);
    let mut left = span.len;
    while left > 0 {
        let want = usize::try_from(left.min(READ_BUFFER as u64)).unwrap_or(READ_BUFFER);
        let mut buf = BytesMut::zeroed(want);
        file.read_exact_at(&mut buf, end - left)?;
        left -= want as u64;
        if tx.blocking_send(Ok(buf.freeze())).is_err() {
            // The client went away.
            return Ok(());
        }
    }
    Ok(())
}

/// Reads a whole chunk into a checksummer, for checksums a chunk was not written with.
pub(crate) fn checksum_file(span: &ReadSpan, alg: ChecksumAlgorithm) -> io::Result<Vec<u8>> {
    if let Some(s) = &span.sealed {
        let mut h = crate::checksum::Checksummer::new(alg);
        read_sealed_span(span, s, |b| {
            h.update(&b);
            true
        })?;
        return Ok(h.finish());
    }
    let mut file = File::open(&span.path)?;
    file.seek(SeekFrom::Start(span.offset))?;
    let mut h = crate::checksum::Checksummer::new(alg);
    let mut buf = vec![0u8; READ_BUFFER];
    let mut left = span.len;
    while left > 0 {
        let want = usize::try_from(left.min(READ_BUFFER as u64)).unwrap_or(READ_BUFFER);
        file.read_exact(&mut buf[..want])?;
        h.update(&buf[..want]);
        left -= want as u64;
    }
    Ok(h.finish())
}

/// Resolves object parts to file paths and byte spans for the range `[start, end)`;
/// `keys`, where given, are the data keys of sealed parts, in the order of `parts`.
pub(crate) fn spans(
    tracker: &Arc<Tracker>,
    parts: &[(ChunkHash, ChunkLocation, u64)],
    keys: Option<&[Option<Key256>]>,
    start: u64,
    end: u64,
) -> crate::error::Result<Vec<ReadSpan>> {
    let mut out = Vec::new();
    let mut pos = 0u64;
    for (i, (hash, loc, size)) in parts.iter().enumerate() {
        let (cs, ce) = (pos, pos + size);
        pos = ce;
        if ce <= start || cs >= end {
            continue;
        }
        let from = start.max(cs) - cs;
        let to = end.min(ce) - cs;
        let (path, base) = tracker.path(*loc)?.locate(loc, hash);
        let key = keys.and_then(|k| k.get(i)).cloned().flatten();
        out.push(match key {
            Some(key) => ReadSpan {
                path,
                offset: base,
                len: to - from,
                sealed: Some(SealedSpan {
                    key,
                    plain: *size,
                    from,
                }),
            },
            None => ReadSpan {
                path,
                offset: base + from,
                len: to - from,
                sealed: None,
            },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use sha2::{Digest as _, Sha256};

    use super::*;

    /// The bytes a sink was given, and the SHA-256 it was finished with.
    type Received = (Vec<u8>, Option<[u8; 32]>);

    /// A sink that keeps what it is given.
    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Received>>);

    impl ChunkSink for Kept {
        fn send(&mut self, data: Bytes) -> SinkFuture<'_, ()> {
            self.0.lock().unwrap().0.extend_from_slice(&data);
            Box::pin(async { Ok(()) })
        }

        fn finish(self: Box<Self>, sha256: [u8; 32]) -> SinkFuture<'static, Vec<u16>> {
            self.0.lock().unwrap().1 = Some(sha256);
            Box::pin(async { Ok(Vec::new()) })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_remote_writer_hands_every_byte_on_once_and_its_sha256_last() {
        let location = ChunkLocation {
            group: 1,
            store_path: 0,
            slot: None,
        };
        for size in [0usize, 10, 100_000, 3 * WRITE_BUFFER + 17] {
            let body: Vec<u8> = (0..size).map(|i| (i % 241) as u8).collect();
            let kept = Kept::default();
            let mut w = ChunkWriter::remote(location, &[ChecksumAlgorithm::Crc32], Box::new(kept.clone()));
            for piece in body.chunks(70_000) {
                w.write(Bytes::copy_from_slice(piece)).await.unwrap();
            }
            let staged = w.finish().await.unwrap();
            let sha: [u8; 32] = Sha256::digest(&body).into();
            let (sent, announced) = kept.0.lock().unwrap().clone();
            assert_eq!(sent, body, "{size} bytes");
            assert_eq!(announced, Some(sha));
            assert_eq!(staged.hash().0, sha);
            assert_eq!(staged.digests.size, size as u64);
            assert_eq!(
                staged.digests.checksum(ChecksumAlgorithm::Crc32),
                Some(&ChecksumAlgorithm::Crc32.digest(&body)[..])
            );
            assert_eq!(staged.location, location);
        }
    }
}
