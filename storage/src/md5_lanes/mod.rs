//! MD5 for many concurrent uploads at once.
//!
//! Every S3 PUT must compute the MD5 of its body for the ETag, and MD5 is the most
//! expensive thing fastgate does per byte: one stream is a chain of dependent steps
//! that no core runs faster than about 600 MiB/s. Independent streams, though, fit in
//! the lanes of a vector register and advance together for the price of one (see
//! [`kernel`]). So large chunks do not hash their MD5 on their own writer thread: they
//! hand their buffers (shared, not copied) to one engine thread, which gathers the
//! buffers of every upload in flight and runs them through the vector kernel side by
//! side. This is what MinIO's md5-simd does for Go; the one Rust crate that does it
//! (md5-many) is an alpha, and the kernel is short enough to own and test here.
//!
//! The engine waits a little for more uploads' data before running a kernel call that
//! would leave lanes empty, but never holds up a writer that has reached its queue
//! limit or is waiting for its digest. Small bodies keep hashing inline: for them a
//! hand-off would cost more than it saves.

mod kernel;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use kernel::{Kernel, LANES};

/// Buffers one stream may have queued at the engine before its writer waits (2 MiB of
/// 256 KiB buffers; [`MAX_QUEUED_ALL`] bounds them all together). A stream at this
/// limit makes the engine hash at once, lanes full or not, so a short queue means
/// calls with lanes empty: at 4, four 64 MiB uploads ran 2.9 lanes per call on
/// average, at 8 they run 3.7.
const MAX_QUEUED: usize = 8;
/// Buffers all streams together may have queued (16 MiB of 256 KiB buffers). Many
/// concurrent uploads share this rather than each holding [`MAX_QUEUED`]: when the
/// cores are busy the engine thread gets a small share of them, and 64 uploads with
/// full queues would add 64 MiB to the server's resident size.
const MAX_QUEUED_ALL: usize = 64;
/// How long the engine waits for more uploads' data before running with lanes empty.
const MAX_WAIT: Duration = Duration::from_millis(2);
/// Blocks per kernel call at most, so that new data joins the lanes often.
const MAX_BLOCKS: usize = 1024;

const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// The engine shared by the whole process: `None` where the CPU has no vector kernel,
/// or when `FASTGATE_MD5_LANES=off` asks every upload to hash its own MD5 (to compare,
/// or to rule the engine out when chasing a problem).
fn engine() -> Option<&'static Engine> {
    static ENGINE: OnceLock<Option<Engine>> = OnceLock::new();
    ENGINE.get_or_init(Engine::start).as_ref()
}

/// One upload's MD5, computed by the shared engine.
pub(crate) struct Md5Stream {
    id: u64,
    tx: mpsc::Sender<Cmd>,
    credits: Arc<Credits>,
    done: bool,
}

impl Md5Stream {
    /// A new stream, or `None` where the CPU has no vector kernel (hash inline then).
    pub fn open() -> Option<Self> {
        let engine = engine()?;
        let tx = engine.tx.clone();
        Some(Self {
            id: engine.next_id(),
            tx,
            credits: Arc::default(),
            done: false,
        })
    }

    /// Queues `data` for hashing, waiting while this stream has too much queued.
    pub fn update(&mut self, data: Bytes) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.credits.take(MAX_QUEUED);
        ALL_QUEUED.take(MAX_QUEUED_ALL);
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
    pub fn finish(mut self) -> io::Result<PendingDigest> {
        self.done = true;
        let (reply, digest) = mpsc::sync_channel(1);
        self.tx
            .send(Cmd::Finish { id: self.id, reply })
            .map_err(|_| stopped())?;
        Ok(PendingDigest(digest))
    }
}

/// A digest the engine is finishing.
pub(crate) struct PendingDigest(mpsc::Receiver<[u8; 16]>);

impl PendingDigest {
    pub fn wait(self) -> io::Result<[u8; 16]> {
        self.0.recv().map_err(|_| stopped())
    }
}

impl Drop for Md5Stream {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.tx.send(Cmd::Abandon { id: self.id });
        }
    }
}

fn stopped() -> io::Error {
    io::Error::other("the MD5 engine thread stopped")
}

/// Buffers queued at the engine, by one stream or by all of them; writers wait at the
/// limit.
#[derive(Default)]
struct Credits {
    queued: Mutex<usize>,
    freed: Condvar,
}

static ALL_QUEUED: Credits = Credits {
    queued: Mutex::new(0),
    freed: Condvar::new(),
};

impl Credits {
    /// Waits for room in the queue. Returns at once if the engine thread is gone (the
    /// following send then fails), so that a writer never waits for nobody.
    fn take(&self, limit: usize) {
        let mut q = self.queued.lock().unwrap_or_else(|p| p.into_inner());
        while *q >= limit && ENGINE_ALIVE.load(Ordering::Acquire) {
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

enum Cmd {
    Data {
        id: u64,
        data: Bytes,
        credits: Arc<Credits>,
    },
    Finish {
        id: u64,
        reply: mpsc::SyncSender<[u8; 16]>,
    },
    Abandon {
        id: u64,
    },
}

struct Engine {
    tx: mpsc::Sender<Cmd>,
    ids: AtomicU64,
}

/// Cleared when the engine thread ends, which only a bug could make it do.
static ENGINE_ALIVE: AtomicBool = AtomicBool::new(true);

/// Clears [`ENGINE_ALIVE`] when the engine thread ends, by return or by panic.
struct AliveGuard;

impl Drop for AliveGuard {
    fn drop(&mut self) {
        ENGINE_ALIVE.store(false, Ordering::Release);
    }
}

impl Engine {
    fn start() -> Option<Self> {
        if std::env::var("FASTGATE_MD5_LANES").is_ok_and(|v| v == "off") {
            return None;
        }
        let kernel = Kernel::detect()?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("fastgate-md5".into())
            .spawn(move || {
                let _alive = AliveGuard;
                Lanes::new(kernel).run(&rx);
            })
            .ok()?;
        tracing::debug!(?kernel, "MD5 engine started");
        Some(Self {
            tx,
            ids: Default::default(),
        })
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }
}

/// One stream's state on the engine thread.
struct Lane {
    state: [u32; 4],
    /// Bytes absorbed so far (into `state` or `tail`).
    len: u64,
    queue: VecDeque<Bytes>,
    /// Position in `queue.front()`.
    offset: usize,
    /// Fewer than 64 bytes that straddle two buffers.
    tail: Vec<u8>,
    credits: Arc<Credits>,
    finish: Option<mpsc::SyncSender<[u8; 16]>>,
    /// Since when this lane's queued data has waited: set when data arrives at an empty
    /// lane and again when a kernel call leaves some of it queued. Restarting the clock
    /// after a call is what lets the other lanes catch up: a call hashes as many blocks
    /// as the shortest lane has, and with the old arrival time the lanes left over
    /// would run again at once, three, then two, then one of them.
    waiting_since: Option<Instant>,
}

impl Lane {
    fn new(credits: Arc<Credits>) -> Self {
        Self {
            state: INIT,
            len: 0,
            queue: VecDeque::new(),
            offset: 0,
            tail: Vec::with_capacity(64),
            credits,
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
                md5::block_api::compress(&mut self.state, &[block]);
                self.len += 64;
                self.tail.clear();
            }
            if self.offset == front.len() {
                self.queue.pop_front();
                self.offset = 0;
                self.credits.give();
                ALL_QUEUED.give();
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

    /// MD5's padding and length over what is left in `tail`.
    fn digest(&self) -> [u8; 16] {
        let total = self.len + self.tail.len() as u64;
        let mut last = [0u8; 128];
        last[..self.tail.len()].copy_from_slice(&self.tail);
        last[self.tail.len()] = 0x80;
        let n = if self.tail.len() < 56 { 64 } else { 128 };
        last[n - 8..n].copy_from_slice(&total.wrapping_mul(8).to_le_bytes());
        let mut state = self.state;
        let (blocks, _) = last[..n].as_chunks::<64>();
        md5::block_api::compress(&mut state, blocks);
        let mut out = [0u8; 16];
        for (o, w) in out.chunks_exact_mut(4).zip(state) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

impl Drop for Lane {
    /// An abandoned stream's buffers go unhashed: their room in the shared queue must
    /// come back, or the other uploads would find less of it each time.
    fn drop(&mut self) {
        for _ in self.queue.drain(..) {
            ALL_QUEUED.give();
        }
    }
}

/// The engine thread: every open stream, hashed side by side.
struct Lanes {
    kernel: Kernel,
    lanes: HashMap<u64, Lane>,
}

impl Lanes {
    fn new(kernel: Kernel) -> Self {
        Self {
            kernel,
            lanes: HashMap::new(),
        }
    }

    fn run(mut self, rx: &mpsc::Receiver<Cmd>) {
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
        let all_full = ALL_QUEUED.queued() >= MAX_QUEUED_ALL;
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
        if ready >= self.lanes.len().min(LANES) {
            return Some(Duration::ZERO);
        }
        Some(MAX_WAIT.saturating_sub(oldest.map_or(Duration::ZERO, |t| t.elapsed())))
    }

    fn apply(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Data { id, data, credits } => {
                let lane = self.lanes.entry(id).or_insert_with(|| Lane::new(credits));
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
                    let _ = reply.send(Lane::new(Arc::default()).digest());
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

    /// Hashes queued data, up to [`LANES`] streams per kernel call, oldest first, for as
    /// long as [`Self::wait_for`] says not to wait: so lanes stay full, and data is left
    /// queued for the next round rather than hashed in a call that is mostly empty.
    fn hash_ready(&mut self) {
        static ZEROS: [u8; MAX_BLOCKS * 64] = [0; MAX_BLOCKS * 64];
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
            ids.truncate(LANES);
            let blocks = ids
                .iter()
                .filter_map(|(_, id)| self.lanes.get(id).map(Lane::ready_blocks))
                .min()
                .unwrap_or(0)
                .min(MAX_BLOCKS);
            if ids.len() == 1 && self.kernel == Kernel::Avx2 {
                // One stream alone: the scalar code is faster than one AVX2 lane.
                let id = ids[0].1;
                if let Some(lane) = self.lanes.get_mut(&id) {
                    if let Some(front) = lane.queue.front() {
                        let (whole, _) = front[lane.offset..lane.offset + blocks * 64].as_chunks::<64>();
                        md5::block_api::compress(&mut lane.state, whole);
                    }
                    lane.advance(blocks);
                }
                self.complete(id);
                continue;
            }
            let mut states = [INIT; LANES];
            let mut inputs: [&[u8]; LANES] = [&ZEROS[..]; LANES];
            for (i, (_, id)) in ids.iter().enumerate() {
                if let Some(lane) = self.lanes.get(id) {
                    states[i] = lane.state;
                    inputs[i] = lane.ready();
                }
            }
            self.kernel.compress(&mut states, inputs, blocks);
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
    use super::*;
    use md5::Digest as _;

    fn random(n: usize) -> Vec<u8> {
        (0..n).map(|_| rand::random::<u8>()).collect()
    }

    #[test]
    fn kernel_matches_md5_in_every_lane() {
        let Some(kernel) = Kernel::detect() else { return };
        for k in [Some(kernel), Some(Kernel::Avx2)].into_iter().flatten() {
            let msgs: Vec<Vec<u8>> = (0..LANES).map(|_| random(64 * 9)).collect();
            let mut states = [INIT; LANES];
            k.compress(&mut states, std::array::from_fn(|l| &msgs[l][..]), 9);
            for (l, m) in msgs.iter().enumerate() {
                let mut lane = Lane::new(Arc::default());
                lane.state = states[l];
                lane.len = m.len() as u64;
                assert_eq!(lane.digest(), <[u8; 16]>::from(md5::Md5::digest(m)), "{k:?} lane {l}");
            }
        }
    }

    #[test]
    fn concurrent_streams_with_odd_buffers_get_their_own_md5() {
        if engine().is_none() {
            return;
        }
        // More streams than lanes; buffers of every size, including empty, 1 byte and
        // not multiples of 64; bodies of 0, 55, 56, 64 and many blocks.
        let sizes = [0usize, 1, 55, 56, 63, 64, 65, 1000, 300_000, 1 << 20, 3 << 20];
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let body = random(sizes[i % sizes.len()] + i);
                std::thread::spawn(move || {
                    let mut s = Md5Stream::open().unwrap();
                    let mut at = 0;
                    let mut step = 1 + i * 7;
                    while at < body.len() {
                        let end = (at + step).min(body.len());
                        s.update(Bytes::copy_from_slice(&body[at..end])).unwrap();
                        s.update(Bytes::new()).unwrap();
                        at = end;
                        step = (step * 3 + 17) % 200_000 + 1;
                    }
                    assert_eq!(
                        s.finish().and_then(PendingDigest::wait).unwrap(),
                        <[u8; 16]>::from(md5::Md5::digest(&body))
                    );
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }

    #[test]
    fn abandoned_streams_leave_the_engine_working_and_give_back_their_room() {
        if engine().is_none() {
            return;
        }
        // More abandoned buffers than the shared queue holds: a leak would hang here.
        for _ in 0..2 * MAX_QUEUED_ALL / MAX_QUEUED {
            let mut gone = Md5Stream::open().unwrap();
            for _ in 0..MAX_QUEUED {
                gone.update(Bytes::from(random(100_000))).unwrap();
            }
            drop(gone);
        }
        let body = random(70_000);
        let mut s = Md5Stream::open().unwrap();
        s.update(Bytes::copy_from_slice(&body)).unwrap();
        assert_eq!(
            s.finish().and_then(PendingDigest::wait).unwrap(),
            <[u8; 16]>::from(md5::Md5::digest(&body))
        );
    }
}
