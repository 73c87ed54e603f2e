//! Counters and latency samples for one kind of operation, plus the summary computed from them.
//!
//! Latencies are kept as raw microsecond samples (u32: 4 bytes each, enough for ~71 minutes) and sorted
//! once at the end: exact percentiles, no extra dependency, and cheap enough for millions of ops.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// At most this many error messages are kept to show the user.
const MAX_ERROR_SAMPLES: usize = 5;

/// Live statistics for one operation kind; shared by all workers.
#[derive(Default)]
pub struct OpStats {
    pub name: String,
    pub ops: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
    lat_us: Mutex<Vec<u32>>,
    error_samples: Mutex<Vec<String>>,
}

impl OpStats {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Records a successful op.
    pub fn ok(&self, latency: Duration, bytes: u64) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let us = latency.as_micros().min(u32::MAX as u128) as u32;
        lock(&self.lat_us).push(us);
    }

    /// Records a failed op; errors are not part of the latency distribution.
    pub fn err(&self, e: &anyhow::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut s = lock(&self.error_samples);
        if s.len() < MAX_ERROR_SAMPLES {
            s.push(format!("{e:#}"));
        }
    }

    pub fn error_samples(&self) -> Vec<String> {
        lock(&self.error_samples).clone()
    }

    /// Freezes the numbers over `elapsed` (the phase's wall time).
    pub fn summary(&self, elapsed: Duration) -> Summary {
        summarize(&self.name, &[self], elapsed)
    }
}

/// One summary over several op kinds (e.g. the whole `mixed` phase), merging their samples.
pub fn summarize(name: &str, parts: &[&OpStats], elapsed: Duration) -> Summary {
    let mut lat: Vec<u32> = Vec::new();
    let mut samples = Vec::new();
    let (mut ops, mut bytes, mut errors) = (0, 0, 0);
    for p in parts {
        lat.extend_from_slice(&lock(&p.lat_us));
        samples.extend(p.error_samples());
        ops += p.ops.load(Ordering::Relaxed);
        bytes += p.bytes.load(Ordering::Relaxed);
        errors += p.errors.load(Ordering::Relaxed);
    }
    samples.truncate(MAX_ERROR_SAMPLES);
    lat.sort_unstable();
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mean_us = if lat.is_empty() {
        0.0
    } else {
        lat.iter().map(|&v| v as f64).sum::<f64>() / lat.len() as f64
    };
    Summary {
        name: name.to_string(),
        ops,
        errors,
        bytes,
        elapsed_s: secs,
        ops_per_s: ops as f64 / secs,
        mib_per_s: bytes as f64 / secs / (1024.0 * 1024.0),
        p50_ms: percentile(&lat, 50.0) as f64 / 1000.0,
        p90_ms: percentile(&lat, 90.0) as f64 / 1000.0,
        p99_ms: percentile(&lat, 99.0) as f64 / 1000.0,
        max_ms: lat.last().copied().unwrap_or(0) as f64 / 1000.0,
        mean_ms: mean_us / 1000.0,
        extra: serde_json::Map::new(),
        error_samples: samples,
    }
}

/// A poisoned lock only means another worker panicked; the samples are still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Nearest-rank percentile of an ascending-sorted slice (0 for an empty one).
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Final numbers of one phase, as printed and written to JSON.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    pub name: String,
    pub ops: u64,
    pub errors: u64,
    pub bytes: u64,
    pub elapsed_s: f64,
    pub ops_per_s: f64,
    pub mib_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    /// Workload-specific numbers (keys/s, dedup hits...).
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub error_samples: Vec<String>,
}

impl Summary {
    pub fn with(mut self, key: &str, v: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(key.to_string(), v.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 90.0), 90);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(percentile(&[1, 2, 3], 50.0), 2);
    }

    #[test]
    fn summary_numbers() {
        let s = OpStats::new("t");
        for ms in [4u64, 1, 3, 2] {
            s.ok(Duration::from_millis(ms), 1 << 20);
        }
        s.err(&anyhow::anyhow!("boom"));
        let sum = s.summary(Duration::from_secs(2));
        assert_eq!((sum.ops, sum.errors), (4, 1));
        assert_eq!(sum.mib_per_s, 2.0);
        assert_eq!(sum.ops_per_s, 2.0);
        assert_eq!((sum.p50_ms, sum.max_ms, sum.mean_ms), (2.0, 4.0, 2.5));
        assert_eq!(sum.error_samples, vec!["boom".to_string()]);
    }
}
