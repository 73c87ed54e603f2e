//! Runs an operation from `concurrency` workers until a count or a deadline, and prints progress.
//!
//! Workers pull op numbers from one atomic counter, so `--count N` means exactly N attempts in total and
//! each number is handed out once (workloads use it to name keys).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::stats::OpStats;

/// When a phase stops.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    Count(u64),
    Duration(Duration),
}

/// Outcome of one op: which stats it belongs to (index into the phase's list) and bytes moved.
pub struct Done {
    pub kind: usize,
    pub bytes: u64,
}

/// Runs `op(i)` for i = 0, 1, 2... on `concurrency` tasks, recording each outcome in `stats[kind]` (the op
/// names its kind in both [`Done`] and [`OpError`]). Returns the wall time and the number of op numbers
/// handed out (= attempts, so the caller knows which keys may exist).
pub async fn drive<F, Fut>(
    concurrency: usize,
    limit: Limit,
    stats: Arc<Vec<OpStats>>,
    quiet: bool,
    label: &str,
    op: F,
) -> (Duration, u64)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<Done, OpError>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = match limit {
        Limit::Duration(d) => Some(start + d),
        Limit::Count(_) => None,
    };
    let max = match limit {
        Limit::Count(n) => n,
        Limit::Duration(_) => u64::MAX,
    };
    let ticker = (!quiet).then(|| tokio::spawn(progress(label.to_string(), stats.clone(), start)));
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        let (op, next, stats) = (op.clone(), next.clone(), stats.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= max {
                    break;
                }
                let t0 = Instant::now();
                match op(i).await {
                    Ok(done) => stats[done.kind].ok(t0.elapsed(), done.bytes),
                    Err(e) => stats[e.kind].err(&e.error),
                }
            }
        }));
    }
    for t in tasks {
        // A panicking worker is a bug in the benchmark; its ops are simply missing from the counts.
        if let Err(e) = t.await {
            eprintln!("bench worker failed: {e}");
        }
    }
    let elapsed = start.elapsed();
    if let Some(t) = ticker {
        t.abort();
    }
    (elapsed, next.load(Ordering::Relaxed).min(max))
}

/// A failed op and the stats slot it counts against.
pub struct OpError {
    pub kind: usize,
    pub error: anyhow::Error,
}

/// Tags errors of a plain `Result` with the op kind.
pub trait Kind<T> {
    fn kind(self, kind: usize) -> std::result::Result<T, OpError>;
}

impl<T> Kind<T> for Result<T> {
    fn kind(self, kind: usize) -> std::result::Result<T, OpError> {
        self.map_err(|error| OpError { kind, error })
    }
}

/// Prints one line a second to stderr: totals over all op kinds of the phase.
async fn progress(label: String, stats: Arc<Vec<OpStats>>, start: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await; // the first tick fires immediately
    let totals = |s: &[OpStats]| -> (u64, u64) {
        (
            s.iter().map(|s| s.ops.load(Ordering::Relaxed)).sum(),
            s.iter().map(|s| s.bytes.load(Ordering::Relaxed)).sum(),
        )
    };
    // Stats may be shared by several phases (multipart parts): start from what is already there.
    let (mut last_ops, mut last_bytes) = totals(&stats);
    loop {
        tick.tick().await;
        let (ops, bytes) = totals(&stats);
        let errors: u64 = stats.iter().map(|s| s.errors.load(Ordering::Relaxed)).sum();
        eprintln!(
            "[{label}] {:>6.1}s  ops {ops:>8}  {:>9.1} ops/s  {:>9.1} MiB/s  errors {errors}",
            start.elapsed().as_secs_f64(),
            (ops - last_ops) as f64,
            (bytes - last_bytes) as f64 / (1024.0 * 1024.0),
        );
        (last_ops, last_bytes) = (ops, bytes);
    }
}
