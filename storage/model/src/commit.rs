//! The committer: one thread that makes writes durable in batches.
//!
//! Every write hands its staged chunks and its metadata transaction to this thread and
//! waits for the answer. The thread takes whatever is queued as one batch and, in
//! order: publishes the chunks (small ones appended to a trunk, large ones renamed into
//! place, already-stored ones dropped), fsyncs each touched trunk once, runs each
//! request's transaction over the writes of those before it (a failure stays with its
//! request) and applies all their writes as one atomic batch. A second thread then
//! flushes the metadata and answers everyone, while the first already works on the
//! next batch. One hand-off per request, one data sync and at most one metadata flush
//! per batch: group commit for data and metadata alike, pipelined, which is what makes
//! small durable PUTs cheap.
//!
//! Two guarantees cross the line between the chunk and metadata layers, and this is
//! where they are kept:
//! - *Data is durable before the metadata that points at it.* Large chunks are fsynced
//!   by their writer and their directory after the rename ([`ChunkStore::publish`]);
//!   small ones by [`ChunkStore::sync`], which this thread calls and waits for before it
//!   applies the batch. A sync failure fails every request of the batch, so no record
//!   is applied over bytes that may not be on disk.
//! - *A chunk cannot be collected between "its record exists" and "its file is
//!   linked".* The chunk layer never deletes on its own: garbage collection is the
//!   model's, and it deletes chunk files and trunks only while holding the store's
//!   [`WriteGate`], which this thread holds from the first publish of a batch to its
//!   apply. So GC sees either neither the file nor the record, or both. A trunk slot
//!   appended here is further guarded (until its request is answered) by the staged
//!   chunk's slot guard, which GC's [`ChunkStore::idle_trunks`] respects.
//!
//! Whether a content is already stored (dedup at rest) is the metadata's knowledge:
//! this thread looks it up and tells the chunk layer, which then drops the new copy.

use std::any::Any;
use std::sync::{Arc, Mutex, MutexGuard, mpsc};

use tokio::sync::oneshot;

use fastgate_chunk::{ChunkStore, PublishBatch, StagedChunk};

use crate::error::{Result, StorageError};
use crate::gauges::Gauges;
use crate::ids::ChunkHash;
use crate::keys;
use crate::meta::{self, MetaError, MetaStore, TxError, Txn, WriteBatch};

/// The right to write metadata and to link or unlink chunk files. The committer holds
/// it for each batch and garbage collection for each of its steps, so that the store
/// has one writer at a time: transactions need no engine support (see
/// [`crate::meta::MetaStore`]), and a chunk cannot be collected between "its record
/// exists" and "its file is linked" (see `commit` for how the two layers keep this).
#[derive(Default)]
pub(crate) struct WriteGate(Mutex<()>);

impl WriteGate {
    pub fn lock(&self) -> MutexGuard<'_, ()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) type Output = Box<dyn Any + Send>;
pub(crate) type Body = Box<dyn Fn(&dyn Txn, &[StagedChunk]) -> Result<Output, TxError<StorageError>> + Send>;

pub(crate) struct Job {
    pub staged: Vec<StagedChunk>,
    pub body: Body,
    pub reply: oneshot::Sender<Result<Output>>,
}

/// Jobs taken in one batch at most.
const BATCH_MAX: usize = 256;

pub(crate) struct Committer {
    jobs: Mutex<mpsc::Sender<Job>>,
}

/// What the committer thread works with.
pub(crate) struct Shared {
    pub meta: Arc<dyn MetaStore>,
    pub chunks: Arc<dyn ChunkStore>,
    pub gate: Arc<WriteGate>,
    pub gauges: Arc<Gauges>,
}

impl Committer {
    pub fn start(shared: Shared) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Job>();
        let (flush_tx, flush_rx) = mpsc::channel::<Applied>();
        let (meta, gauges) = (shared.meta.clone(), shared.gauges.clone());
        std::thread::Builder::new()
            .name("fastgate-flush".into())
            .spawn(move || flush_loop(&*meta, &gauges, &flush_rx))?;
        std::thread::Builder::new()
            .name("fastgate-commit".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < BATCH_MAX {
                        match rx.try_recv() {
                            Ok(j) => batch.push(j),
                            Err(_) => break,
                        }
                    }
                    if flush_tx.send(run_batch(&shared, batch)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self { jobs: Mutex::new(tx) })
    }

    /// Queues a job; the answer arrives on its `reply`.
    pub fn submit(&self, job: Job) -> Result<()> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| StorageError::Meta(MetaError("the committer has stopped".into())))
    }
}

/// A batch whose writes are applied but not yet durable, on its way to the flusher.
struct Applied {
    jobs: Vec<Job>,
    results: Vec<Result<Output>>,
    wrote: bool,
    /// What the batch added to chunks' counts through writers' deltas, for the gauges.
    counted: Vec<(ChunkHash, i64)>,
}

/// The second half of a group commit, on its own thread so that the next batch's
/// chunks are published and synced while this one's metadata is flushed. Batches that
/// queue up meanwhile share one flush. The gauges' share of writers' deltas (reads of
/// the database, there only) is counted before the answers, so that a client that
/// reads the metrics after its write sees it.
fn flush_loop(meta: &dyn MetaStore, gauges: &Gauges, rx: &mpsc::Receiver<Applied>) {
    while let Ok(first) = rx.recv() {
        let mut ready = vec![first];
        ready.extend(rx.try_iter());
        let flushed = if ready.iter().any(|a| a.wrote) {
            meta.flush()
        } else {
            Ok(())
        };
        for a in ready {
            if flushed.is_ok() && !a.counted.is_empty() {
                gauges.count_references(meta, &a.counted);
            }
            for (job, mut r) in a.jobs.into_iter().zip(a.results) {
                if let (Err(e), Ok(_)) = (&flushed, &r) {
                    r = Err(StorageError::Meta(MetaError(e.0.clone())));
                }
                // The job's staged chunks (and their trunk guards) drop only now.
                let _ = job.reply.send(r);
            }
        }
    }
}

/// The first half of a group commit: publish, sync data, run the transactions and
/// apply their writes. Durability (the metadata flush) and the answers follow on the
/// flusher thread.
fn run_batch(s: &Shared, mut batch: Vec<Job>) -> Applied {
    // The only writer for the whole batch: garbage collection waits, and the
    // transactions below read the store without engine isolation. On a database that
    // other gateways write to, their garbage collection waits too (the shared gate).
    let gate = s.gate.lock();
    let meta_gate = match s.meta.shared_gate() {
        Ok(g) => g,
        Err(e) => {
            drop(gate);
            let results = batch
                .iter()
                .map(|_| Err(StorageError::Meta(MetaError(e.0.clone()))))
                .collect();
            return Applied {
                jobs: batch,
                results,
                wrote: false,
                counted: Vec::new(),
            };
        }
    };

    // 1. Publish chunks. A chunk published earlier in this batch is reused, not written
    //    twice.
    let mut results: Vec<Option<Result<Output>>> = batch.iter().map(|_| None).collect();
    let mut publishing = PublishBatch::default();
    for (i, job) in batch.iter_mut().enumerate() {
        for c in &mut job.staged {
            if let Err(e) = publish(s, c, &mut publishing) {
                results[i] = Some(Err(e));
                break;
            }
        }
    }
    // 2. One data sync per touched trunk.
    let (sync_error, sync_no_space) = match s.chunks.sync(&publishing) {
        Ok(()) => (None, false),
        Err(e) => (Some(e.to_string()), matches!(e, fastgate_chunk::ChunkError::NoSpace)),
    };
    // 3. Each request's transaction, staged on top of the ones before it; a failure
    //    stays with its request. 4. Their writes applied at once, which must follow the
    //    data sync: once applied, metadata may reach the disk at any moment. On a
    //    database with several writers the two are one transaction of the database,
    //    which it may run again on a conflict: each run starts from the bodies.
    let mut wrote = false;
    let mut applied_counts = Vec::new();
    let mut delta = Vec::new();
    let mut counted = Vec::new();
    let mut outcome: Vec<Option<Result<Output>>> = Vec::new();
    let transacted = s.meta.transact(&mut |base| {
        outcome = results.iter().map(|_| None).collect();
        let mut writes = WriteBatch::default();
        for (i, job) in batch.iter().enumerate() {
            if results[i].is_some() {
                continue;
            }
            if let Some(e) = &sync_error {
                outcome[i] = Some(Err(if sync_no_space {
                    StorageError::NoSpace
                } else {
                    StorageError::Io(std::io::Error::other(e.clone()))
                }));
                continue;
            }
            match meta::stage_over(base, &writes, |tx| {
                // Copies a new chunk lacks are owed to their nodes, in the same transaction
                // as the record that makes the chunk live (a copy of content stored before
                // is left to the orphan sweep: the record points elsewhere).
                let fresh: Vec<bool> = job
                    .staged
                    .iter()
                    .map(|c| Ok(!c.missed.is_empty() && tx.get(&keys::chunk(&c.hash()))?.is_none()))
                    .collect::<Result<_, TxError<StorageError>>>()?;
                let out = (job.body)(tx, &job.staged)?;
                for (c, fresh) in job.staged.iter().zip(fresh) {
                    for node in c.missed.iter().filter(|_| fresh) {
                        tx.put(&keys::owed(c.location.group, *node, &c.hash()), &[])?;
                    }
                }
                Ok(out)
            }) {
                Ok((out, own)) => {
                    writes.append(own);
                    outcome[i] = Some(Ok(out));
                }
                Err(e) => outcome[i] = Some(Err(e.into())),
            }
        }
        wrote = !writes.is_empty();
        delta = Gauges::delta(base, &writes, false);
        counted = counted_references(&writes);
        Ok(writes)
    });
    match transacted {
        Ok(()) => {
            s.gauges.apply(&delta);
            applied_counts = counted;
            // A publish failure keeps its own error (its type says more than a message).
            for (r, o) in results.iter_mut().zip(outcome) {
                if r.is_none() {
                    *r = o;
                }
            }
        }
        Err(e) => {
            wrote = false;
            for r in results.iter_mut().filter(|r| r.is_none()) {
                *r = Some(Err(StorageError::Meta(MetaError(e.0.clone()))));
            }
        }
    }
    drop(meta_gate);
    drop(gate);
    let results = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(StorageError::Meta(MetaError("job was not run".into())))))
        .collect();
    Applied {
        jobs: batch,
        results,
        wrote,
        counted: applied_counts,
    }
}

/// What a batch added to each chunk's count through writers' deltas (see `refs`).
fn counted_references(writes: &WriteBatch) -> Vec<(ChunkHash, i64)> {
    let mut out: Vec<(ChunkHash, i64)> = Vec::new();
    for (k, n) in writes.additions_from(&[keys::REF_DELTA], &[keys::REF_DELTA + 1]) {
        let Some(hash) = keys::hash_of(k) else { continue };
        match out.last_mut() {
            Some((h, sum)) if *h == hash => *sum += n,
            _ => out.push((hash, n)),
        }
    }
    out
}

/// Publishes a staged chunk, telling the chunk layer whether its content is already
/// stored (then the new copy is dropped: dedup at rest).
fn publish(s: &Shared, c: &mut StagedChunk, publishing: &mut PublishBatch) -> Result<()> {
    let stored = s.meta.get(&keys::chunk(&c.hash()))?.is_some();
    Ok(s.chunks.publish(c, stored, publishing)?)
}
