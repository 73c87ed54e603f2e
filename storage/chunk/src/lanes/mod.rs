//! MD5 and SHA-256 for many concurrent uploads at once.
//!
//! Every S3 PUT must compute the MD5 of its body for the ETag and the SHA-256 for its
//! identity (dedup) or to check the signed payload hash, and the two are most of what
//! fastgate's CPU does per byte. One stream of either is a chain of dependent steps, but
//! independent streams can advance together: MD5 in the lanes of a vector register or
//! interleaved in scalar ones, whichever this CPU runs faster ([`md5`]); SHA-256 with the SHA extensions, interleaved so that one
//! stream's rounds run while another's wait ([`sha256`]). So large chunks do not hash
//! on their own writer thread: they hand their buffers (shared, not copied) to one
//! engine thread per hash, which gathers the buffers of every upload in flight and runs
//! them through its kernel side by side. This is what MinIO's md5-simd does for Go; the
//! one Rust crate that does it for MD5 (md5-many) is an alpha, and the kernels are short
//! enough to own and test here.
//!
//! An engine waits a little for more uploads' data before running a kernel call that
//! would leave lanes empty, but never holds up a writer that has reached its queue
//! limit or is waiting for its digest. Small bodies keep hashing inline: for them a
//! hand-off would cost more than it saves.

pub(crate) mod md5;
pub(crate) mod sha256;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Buffers one stream may have queued at an engine before its writer waits (2 MiB of
/// 256 KiB buffers; [`MAX_QUEUED_ALL`] bounds them all together). A stream at this
/// limit makes the engine hash at once, lanes full or not, so a short queue means
/// calls with lanes empty: at 4, four 64 MiB uploads ran 2.9 MD5 lanes per call on
/// average, at 8 they run 3.7.
const MAX_QUEUED: usize = 8;
/// Buffers all streams together may have queued at one engine (16 MiB of 256 KiB
/// buffers). Many concurrent uploads share this rather than each holding
/// [`MAX_QUEUED`]: when the cores are busy an engine thread gets a small share of them,
/// and 64 uploads with full queues would add 64 MiB to the server's resident size.
const MAX_QUEUED_ALL: usize = 64;
/// How long an engine waits for more uploads' data before running with lanes empty.
const MAX_WAIT: Duration = Duration::from_millis(2);
/// Blocks per kernel call at most, so that new data joins the lanes often.
const MAX_BLOCKS: usize = 1024;
/// Most streams any kernel advances in one call.
const MAX_LANES: usize = 8;

/// A block hash whose kernel advances several independent streams in one call. Both
/// MD5 and SHA-256 work on 64-byte blocks.
pub(crate) trait LaneHash: Copy + Send + Sync + std::fmt::Debug + 'static {
    /// One stream's chaining value.
    type State: Copy + Send;
    type Digest: Copy + Send + 'static;
    const INIT: Self::State;
    /// Streams one kernel call advances at most (up to [`MAX_LANES`]).
    const LANES: usize;
    /// The engine thread's name.
    const THREAD: &'static str;
    /// Set to `off` to hash every upload inline (to compare, or to rule the engine out
    /// when chasing a problem).
    const ENV: &'static str;

    /// The kernel this CPU runs, if any.
    fn detect() -> Option<Self>;
    /// Advances `states[l]` over the first `blocks` blocks of `inputs[l]`, for every
    /// `l` at once (`states.len() == inputs.len() <= LANES`, each input holding at least
    /// `blocks` blocks, `blocks <= MAX_BLOCKS`).
    fn compress(self, states: &mut [Self::State], inputs: &[&[u8]], blocks: usize);
    /// One stream over whole blocks, without the vector kernel.
    fn compress_one(state: &mut Self::State, blocks: &[[u8; 64]]);
    /// The digest of a stream of `len` bytes whose last `len % 64` bytes are `tail`.
    fn digest(state: Self::State, tail: &[u8], len: u64) -> Self::Digest;
}

/// What every kernel asks of a call: one input per state, at most `lanes` of them, each
/// holding `blocks` whole blocks, and no more than [`MAX_BLOCKS`] blocks.
///
/// # Panics
/// If any of that does not hold: the kernels read `blocks * 64` bytes of every input.
fn check_call(states: usize, inputs: &[&[u8]], blocks: usize, lanes: usize) {
    assert!(
        states == inputs.len() && inputs.len() <= lanes && blocks <= MAX_BLOCKS,
        "a kernel call with {states} states, {} inputs and {blocks} blocks",
        inputs.len()
    );
    for i in inputs {
        assert!(i.len() >= blocks * 64, "a lane is shorter than the blocks asked for");
    }
}

/// A chaining value as digest bytes, each word in the byte order `word` writes
/// (`B == 4 * W`).
fn digest_bytes<const W: usize, const B: usize>(state: [u32; W], word: fn(u32) -> [u8; 4]) -> [u8; B] {
    let mut out = [0u8; B];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&word(w));
    }
    out
}

/// Merkle-Damgard padding shared by MD5 and SHA-256: `0x80`, zeros, and the bit length
/// (in the byte order `length` writes), over one or two final blocks.
fn pad<S>(state: &mut S, tail: &[u8], len: u64, length: fn(u64) -> [u8; 8], compress: fn(&mut S, &[[u8; 64]])) {
    let mut last = [0u8; 128];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    let n = if tail.len() < 56 { 64 } else { 128 };
    last[n - 8..n].copy_from_slice(&length(len.wrapping_mul(8)));
    let (blocks, _) = last[..n].as_chunks::<64>();
    compress(state, blocks);
}

/// One upload's hash, computed by the shared engine of `H`.
pub(crate) struct Stream<H: LaneHash> {
    id: u64,
    tx: mpsc::Sender<Cmd<H>>,
    credits: Arc<Credits>,
    all: Arc<Credits>,
    done: bool,
}

impl<H: EngineSlot> Stream<H> {
    /// A new stream, or `None` where the CPU has no kernel for `H` (hash inline then).
    pub fn open() -> Option<Self> {
        let engine = Engine::<H>::get()?;
        Some(Self {
            id: engine.ids.fetch_add(1, Ordering::Relaxed),
            tx: engine.tx.clone(),
            credits: Arc::default(),
            all: engine.queued.clone(),
            done: false,
        })
    }

    /// Queues `data` for hashing, waiting while this stream has too much queued.
    pub fn update(&mut self, data: Bytes) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.credits.take(MAX_QUEUED, &self.all);
        self.all.take(MAX_QUEUED_ALL, &self.all);
        self.tx
            .send(Cmd::Data {
                id: self.id,
                data,
                credits: self.credits.clone(),
            })
            .map_err(|_| stopped())
    }

    /// Asks for the digest of everything queued; the engine finishes the stream while
    /// the caller goes on (with its fsync, say) until it [`waits`](PendingDigest::wait).
    pub fn finish(mut self) -> io::Result<PendingDigest<H>> {
        self.done = true;
        let (reply, digest) = mpsc::sync_channel(1);
        self.tx
            .send(Cmd::Finish { id: self.id, reply })
            .map_err(|_| stopped())?;
        Ok(PendingDigest(digest))
    }
}

/// A digest an engine is finishing.
pub(crate) struct PendingDigest<H: LaneHash>(mpsc::Receiver<H::Digest>);

impl<H: LaneHash> PendingDigest<H> {
    pub fn wait(self) -> io::Result<H::Digest> {
        self.0.recv().map_err(|_| stopped())
    }
}

impl<H: LaneHash> Drop for Stream<H> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.tx.send(Cmd::Abandon { id: self.id });
        }
    }
}

fn stopped() -> io::Error {
    io::Error::other("a hash engine thread stopped")
}

/// Buffers queued at an engine, by one stream or by all of them; writers wait at the
/// limit.
#[derive(Default)]
struct Credits {
    queued: Mutex<usize>,
    freed: Condvar,
    /// Set on the engine-wide credits when the engine thread ends, which only a bug
    /// could make it do: a writer then never waits for nobody (its next send fails
    /// instead).
    engine_gone: AtomicBool,
}

impl Credits {
    /// Waits for room in the queue, or until `engine` (the engine-wide credits) says
    /// the engine thread is gone.
    fn take(&self, limit: usize, engine: &Credits) {
        let mut q = self.queued.lock().unwrap_or_else(|p| p.into_inner());
        while *q >= limit && !engine.engine_gone.load(Ordering::Acquire) {
            q = self
                .freed
                .wait_timeout(q, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *q += 1;
    }

    fn give(&self) {
        let mut q = self.queued.lock().unwrap_or_else(|p| p.into_inner());
        *q = q.saturating_sub(1);
        self.freed.notify_one();
    }

    fn queued(&self) -> usize {
        *self.queued.lock().unwrap_or_else(|p| p.into_inner())
    }
}

enum Cmd<H: LaneHash> {
    Data {
        id: u64,
        data: Bytes,
        credits: Arc<Credits>,
    },
    Finish {
        id: u64,
        reply: mpsc::SyncSender<H::Digest>,
    },
    Abandon {
        id: u64,
    },
}

/// One engine: its thread's inbox and the queue room shared by its streams.
pub(crate) struct Engine<H: LaneHash> {
    tx: mpsc::Sender<Cmd<H>>,
    ids: AtomicU64,
    queued: Arc<Credits>,
}

/// The engines of the whole process, one per hash: `None` where the CPU has no kernel
/// or the hash's `ENV` variable says `off`.
struct Engines {
    md5: OnceLock<Option<Engine<md5::Md5Lanes>>>,
    sha256: OnceLock<Option<Engine<sha256::Sha256Lanes>>>,
}

static ENGINES: Engines = Engines {
    md5: OnceLock::new(),
    sha256: OnceLock::new(),
};

/// Which of [`ENGINES`] serves `H`.
pub(crate) trait EngineSlot: LaneHash {
    fn slot() -> &'static OnceLock<Option<Engine<Self>>>;
}

impl EngineSlot for md5::Md5Lanes {
    fn slot() -> &'static OnceLock<Option<Engine<Self>>> {
        &ENGINES.md5
    }
}

impl EngineSlot for sha256::Sha256Lanes {
    fn slot() -> &'static OnceLock<Option<Engine<Self>>> {
        &ENGINES.sha256
    }
}

/// Tells the writers when the engine thread ends, by return or by panic.
struct AliveGuard(Arc<Credits>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.engine_gone.store(true, Ordering::Release);
        self.0.freed.notify_all();
    }
}

impl<H: EngineSlot> Engine<H> {
    fn get() -> Option<&'static Self> {
        H::slot().get_or_init(Self::start).as_ref()
    }

    fn start() -> Option<Self> {
        if std::env::var(H::ENV).is_ok_and(|v| v == "off") {
            return None;
        }
        let kernel = H::detect()?;
        let (tx, rx) = mpsc::channel();
        let queued = Arc::new(Credits::default());
        let all = queued.clone();
        std::thread::Builder::new()
            .name(H::THREAD.into())
            .spawn(move || {
                let _alive = AliveGuard(all.clone());
                Lanes::new(kernel, all).run(&rx);
            })
            .ok()?;
        tracing::debug!(?kernel, "hash engine started");
        Some(Self {
            tx,
            ids: AtomicU64::new(0),
            queued,
        })
    }
}

/// One stream's state on the engine thread.
struct Lane<H: LaneHash> {
    state: H::State,
    /// Bytes absorbed so far (into `state` or `tail`).
    len: u64,
    queue: VecDeque<Bytes>,
    /// Position in `queue.front()`.
    offset: usize,
    /// Fewer than 64 bytes that straddle two buffers.
    tail: Vec<u8>,
    credits: Arc<Credits>,
    all: Arc<Credits>,
    finish: Option<mpsc::SyncSender<H::Digest>>,
    /// Since when this lane's queued data has waited: set when data arrives at an empty
    /// lane and again when a kernel call leaves some of it queued. Restarting the clock
    /// after a call is what lets the other lanes catch up: a call hashes as many blocks
    /// as the shortest lane has, and with the old arrival time the lanes left over
    /// would run again at once, three, then two, then one of them.
    waiting_since: Option<Instant>,
}

impl<H: LaneHash> Lane<H> {
    fn new(credits: Arc<Credits>, all: Arc<Credits>) -> Self {
        Self {
            state: H::INIT,
            len: 0,
            queue: VecDeque::new(),
            offset: 0,
            tail: Vec::with_capacity(64),
            credits,
            all,
            finish: None,
            waiting_since: None,
        }
    }

    /// Moves the lane to a point where its next bytes are whole blocks at the front
    /// buffer's offset, or it has nothing more to hash for now: completes a block that
    /// straddles two buffers, and returns finished buffers to the writer.
    fn settle(&mut self) {
        while let Some(front) = self.queue.front() {
            let rest = &front[self.offset..];
            if self.tail.is_empty() && rest.len() >= 64 {
                return;
            }
            let take = rest.len().min(64 - self.tail.len());
            self.tail.extend_from_slice(&rest[..take]);
            self.offset += take;
            if self.tail.len() == 64 {
                let mut block = [0u8; 64];
                block.copy_from_slice(&self.tail);
                H::compress_one(&mut self.state, &[block]);
                self.len += 64;
                self.tail.clear();
            }
            if self.offset == front.len() {
                self.queue.pop_front();
                self.offset = 0;
                self.credits.give();
                self.all.give();
            }
        }
        self.waiting_since = None;
    }

    /// Whole blocks ready at the front buffer.
    fn ready_blocks(&self) -> usize {
        match self.queue.front() {
            Some(f) if self.tail.is_empty() => (f.len() - self.offset) / 64,
            _ => 0,
        }
    }

    fn ready(&self) -> &[u8] {
        self.queue.front().map_or(&[], |f| &f[self.offset..])
    }

    fn advance(&mut self, blocks: usize) {
        self.offset += blocks * 64;
        self.len += blocks as u64 * 64;
        self.settle();
        if !self.queue.is_empty() {
            self.waiting_since = Some(Instant::now());
        }
    }

    fn digest(&self) -> H::Digest {
        H::digest(self.state, &self.tail, self.len + self.tail.len() as u64)
    }
}

impl<H: LaneHash> Drop for Lane<H> {
    /// An abandoned stream's buffers go unhashed: their room in the shared queue must
    /// come back, or the other uploads would find less of it each time.
    fn drop(&mut self) {
        for _ in self.queue.drain(..) {
            self.all.give();
        }
    }
}

/// The engine thread: every open stream, hashed side by side.
struct Lanes<H: LaneHash> {
    kernel: H,
    lanes: HashMap<u64, Lane<H>>,
    all: Arc<Credits>,
}

impl<H: LaneHash> Lanes<H> {
    fn new(kernel: H, all: Arc<Credits>) -> Self {
        Self {
            kernel,
            lanes: HashMap::new(),
            all,
        }
    }

    fn run(mut self, rx: &mpsc::Receiver<Cmd<H>>) {
        loop {
            let cmd = match self.wait_for() {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(d) if d.is_zero() => rx.try_recv().map_err(|e| match e {
                    mpsc::TryRecvError::Empty => RecvTimeoutError::Timeout,
                    mpsc::TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                }),
                Some(d) => rx.recv_timeout(d),
            };
            match cmd {
                Ok(cmd) => {
                    self.apply(cmd);
                    for cmd in rx.try_iter() {
                        self.apply(cmd);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.hash_ready();
        }
    }

    /// How long to wait for more data before hashing: `None` when there is nothing to
    /// hash, zero when hashing should not wait.
    fn wait_for(&self) -> Option<Duration> {
        let all_full = self.all.queued() >= MAX_QUEUED_ALL;
        let mut ready = 0;
        let mut oldest: Option<Instant> = None;
        for lane in self.lanes.values() {
            if lane.queue.is_empty() {
                continue;
            }
            // A writer at its limit or waiting for its digest must not wait on others.
            if all_full || lane.queue.len() >= MAX_QUEUED || lane.finish.is_some() {
                return Some(Duration::ZERO);
            }
            ready += 1;
            oldest = match (oldest, lane.waiting_since) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        if ready == 0 {
            return None;
        }
        if ready >= self.lanes.len().min(H::LANES) {
            return Some(Duration::ZERO);
        }
        Some(MAX_WAIT.saturating_sub(oldest.map_or(Duration::ZERO, |t| t.elapsed())))
    }

    fn apply(&mut self, cmd: Cmd<H>) {
        match cmd {
            Cmd::Data { id, data, credits } => {
                let all = self.all.clone();
                let lane = self.lanes.entry(id).or_insert_with(|| Lane::new(credits, all));
                lane.queue.push_back(data);
                lane.waiting_since.get_or_insert_with(Instant::now);
                lane.settle();
            }
            Cmd::Finish { id, reply } => match self.lanes.get_mut(&id) {
                Some(lane) => {
                    lane.finish = Some(reply);
                    self.complete(id);
                }
                None => {
                    let _ = reply.send(Lane::<H>::new(Arc::default(), Arc::default()).digest());
                }
            },
            Cmd::Abandon { id } => {
                self.lanes.remove(&id);
            }
        }
    }

    /// Answers a finishing stream once all its data is hashed.
    fn complete(&mut self, id: u64) {
        let done = self
            .lanes
            .get(&id)
            .is_some_and(|l| l.finish.is_some() && l.queue.is_empty());
        if done && let Some(mut lane) = self.lanes.remove(&id) {
            let digest = lane.digest();
            if let Some(reply) = lane.finish.take() {
                let _ = reply.send(digest);
            }
        }
    }

    /// Hashes queued data, up to `H::LANES` streams per kernel call, oldest first, for
    /// as long as [`Self::wait_for`] says not to wait: so lanes stay full, and data is
    /// left queued for the next round rather than hashed in a call that is mostly empty.
    fn hash_ready(&mut self) {
        while self.wait_for().is_some_and(|d| d.is_zero()) {
            let mut ids: Vec<(Option<Instant>, u64)> = self
                .lanes
                .iter()
                .filter(|(_, l)| l.ready_blocks() > 0)
                .map(|(id, l)| (l.waiting_since, *id))
                .collect();
            if ids.is_empty() {
                break;
            }
            ids.sort_unstable();
            ids.truncate(H::LANES.min(MAX_LANES));
            let blocks = ids
                .iter()
                .filter_map(|(_, id)| self.lanes.get(id).map(Lane::ready_blocks))
                .min()
                .unwrap_or(0)
                .min(MAX_BLOCKS);
            let mut states = [H::INIT; MAX_LANES];
            let mut inputs: [&[u8]; MAX_LANES] = [&[]; MAX_LANES];
            for (i, (_, id)) in ids.iter().enumerate() {
                if let Some(lane) = self.lanes.get(id) {
                    states[i] = lane.state;
                    inputs[i] = lane.ready();
                }
            }
            let n = ids.len();
            self.kernel.compress(&mut states[..n], &inputs[..n], blocks);
            for (i, (_, id)) in ids.iter().enumerate() {
                if let Some(lane) = self.lanes.get_mut(id) {
                    lane.state = states[i];
                    lane.advance(blocks);
                }
                self.complete(*id);
            }
        }
        let finishing: Vec<u64> = self.lanes.keys().copied().collect();
        for id in finishing {
            self.complete(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::md5::{Md5Lanes, Vector};
    use super::sha256::Sha256Lanes;
    use super::*;
    use ::md5::Digest as _;

    fn random(n: usize) -> Vec<u8> {
        (0..n).map(|_| rand::random::<u8>()).collect()
    }

    fn md5_of(data: &[u8]) -> [u8; 16] {
        ::md5::Md5::digest(data).into()
    }

    fn sha256_of(data: &[u8]) -> [u8; 32] {
        sha2::Sha256::digest(data).into()
    }

    /// Every lane count a kernel takes, each lane with its own message.
    fn kernel_matches<H: LaneHash>(kernel: H, reference: fn(&[u8]) -> H::Digest)
    where
        H::Digest: PartialEq + std::fmt::Debug,
    {
        for n in 1..=H::LANES {
            let msgs: Vec<Vec<u8>> = (0..n).map(|_| random(64 * 9)).collect();
            let mut states = vec![H::INIT; n];
            let inputs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
            kernel.compress(&mut states, &inputs, 9);
            for (l, m) in msgs.iter().enumerate() {
                assert_eq!(
                    H::digest(states[l], &[], m.len() as u64),
                    reference(m),
                    "{kernel:?}, {n} lanes, lane {l}"
                );
            }
        }
    }

    #[test]
    fn kernels_match_the_reference_in_every_lane() {
        // Every plan: interleaved passes only, vector lanes only, and each switch-over.
        kernel_matches(Md5Lanes::SCALAR, md5_of);
        // A CPU with AVX-512 has AVX2 too.
        let runs: &[Vector] = match Vector::detect() {
            Some(Vector::Avx512) => &[Vector::Avx512, Vector::Avx2],
            Some(Vector::Avx2) => &[Vector::Avx2],
            None => &[],
        };
        for &v in runs {
            for from in 1..=Md5Lanes::LANES {
                kernel_matches(Md5Lanes::with_vector(v, from), md5_of);
            }
        }
        if let Some(k) = Md5Lanes::detect() {
            kernel_matches(k, md5_of);
        }
        if let Some(k) = Sha256Lanes::detect() {
            kernel_matches(k, sha256_of);
        }
    }

    #[test]
    fn padding_matches_the_reference_at_every_tail_length() {
        for len in [0usize, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000] {
            let m = random(len);
            let whole = len / 64 * 64;
            let (blocks, _) = m[..whole].as_chunks::<64>();
            let mut s = Md5Lanes::INIT;
            Md5Lanes::compress_one(&mut s, blocks);
            assert_eq!(Md5Lanes::digest(s, &m[whole..], len as u64), md5_of(&m), "md5 {len}");
            let mut s = Sha256Lanes::INIT;
            Sha256Lanes::compress_one(&mut s, blocks);
            assert_eq!(
                Sha256Lanes::digest(s, &m[whole..], len as u64),
                sha256_of(&m),
                "sha256 {len}"
            );
        }
    }

    /// More streams than lanes; buffers of every size, including empty, 1 byte and not
    /// multiples of 64; bodies of 0, 55, 56, 64 and many blocks.
    fn concurrent_streams<H: EngineSlot>(reference: fn(&[u8]) -> H::Digest)
    where
        H::Digest: PartialEq + std::fmt::Debug,
    {
        if Engine::<H>::get().is_none() {
            return;
        }
        let sizes = [0usize, 1, 55, 56, 63, 64, 65, 1000, 300_000, 1 << 20, 3 << 20];
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let body = random(sizes[i % sizes.len()] + i);
                std::thread::spawn(move || {
                    let mut s = Stream::<H>::open().unwrap();
                    let mut at = 0;
                    let mut step = 1 + i * 7;
                    while at < body.len() {
                        let end = (at + step).min(body.len());
                        s.update(Bytes::copy_from_slice(&body[at..end])).unwrap();
                        s.update(Bytes::new()).unwrap();
                        at = end;
                        step = (step * 3 + 17) % 200_000 + 1;
                    }
                    assert_eq!(s.finish().and_then(PendingDigest::wait).unwrap(), reference(&body));
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }

    #[test]
    fn concurrent_streams_with_odd_buffers_get_their_own_digest() {
        concurrent_streams::<Md5Lanes>(md5_of);
        concurrent_streams::<Sha256Lanes>(sha256_of);
    }

    /// More abandoned buffers than the shared queue holds: a leak would hang here.
    fn abandoned_streams<H: EngineSlot>(reference: fn(&[u8]) -> H::Digest)
    where
        H::Digest: PartialEq + std::fmt::Debug,
    {
        if Engine::<H>::get().is_none() {
            return;
        }
        for _ in 0..2 * MAX_QUEUED_ALL / MAX_QUEUED {
            let mut gone = Stream::<H>::open().unwrap();
            for _ in 0..MAX_QUEUED {
                gone.update(Bytes::from(random(100_000))).unwrap();
            }
            drop(gone);
        }
        let body = random(70_000);
        let mut s = Stream::<H>::open().unwrap();
        s.update(Bytes::copy_from_slice(&body)).unwrap();
        assert_eq!(s.finish().and_then(PendingDigest::wait).unwrap(), reference(&body));
    }

    #[test]
    fn abandoned_streams_leave_the_engine_working_and_give_back_their_room() {
        abandoned_streams::<Md5Lanes>(md5_of);
        abandoned_streams::<Sha256Lanes>(sha256_of);
    }
}
