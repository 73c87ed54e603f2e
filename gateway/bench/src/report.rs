//! What the user sees: the hashing reference line, the per-phase result lines and the JSON file.

use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use md5::Md5;
use sha2::{Digest, Sha256};

use super::args::{BenchArgs, fmt_size};
use super::stats::Summary;

/// Bytes hashed for the reference measurement (enough for a stable number, ~0.1-0.3 s).
const REFERENCE_BYTES: u64 = 128 << 20;

/// MiB/s at which one core computes MD5 *and* SHA-256 over objects of `size` bytes (cut from `base`).
/// This is roughly the per-byte work an S3 server with ETag + content hashing must do, so it is a ceiling
/// to compare single-stream PUT throughput with.
pub fn hash_reference(base: &Bytes, size: u64) -> f64 {
    let obj = base.slice(..(size.min(base.len() as u64)) as usize);
    if obj.is_empty() {
        return 0.0;
    }
    let rounds = (REFERENCE_BYTES / obj.len() as u64).max(1);
    let start = Instant::now();
    let mut sink = 0u8;
    for _ in 0..rounds {
        sink ^= Md5::digest(&obj)[0];
        sink ^= Sha256::digest(&obj)[0];
    }
    std::hint::black_box(sink);
    (rounds * obj.len() as u64) as f64 / start.elapsed().as_secs_f64().max(1e-9) / (1024.0 * 1024.0)
}

/// One human line per phase.
pub fn print_summary(s: &Summary) {
    println!(
        "{:<16} {:>8} ops  {:>10.1} ops/s  {:>9.1} MiB/s  lat p50 {:>8.2} ms  p90 {:>8.2}  p99 {:>8.2}  max {:>8.2}  errors {}",
        s.name, s.ops, s.ops_per_s, s.mib_per_s, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms, s.errors
    );
    if !s.extra.is_empty() {
        let extra: Vec<String> = s
            .extra
            .iter()
            .map(|(k, v)| match v.as_f64() {
                Some(f) if !v.is_u64() && !v.is_i64() => format!("{k}={f:.1}"),
                _ => format!("{k}={v}"),
            })
            .collect();
        println!("{:<16} {}", "", extra.join("  "));
    }
    for e in &s.error_samples {
        println!("{:<16} error: {e}", "");
    }
}

/// Writes parameters + results to `--json`.
pub fn write_json(args: &BenchArgs, size: u64, seed: u64, hash_ref: f64, phases: &[Summary]) -> Result<()> {
    let Some(path) = &args.json else { return Ok(()) };
    let doc = serde_json::json!({
        "tool": "fastgate-bench",
        "workload": args.workload.name(),
        "params": {
            "endpoint": args.endpoint,
            "bucket": args.bucket,
            "size": size,
            "size_human": fmt_size(size),
            "concurrency": args.concurrency,
            "duration_s": args.duration.map(|d| d.as_secs_f64()),
            "count": args.count,
            "objects": args.objects,
            "content": if args.fixed { "fixed" } else { "random" },
            "same_content": args.same_content,
            "seed": seed,
            "part_size": args.part_size,
            "keys": args.keys,
            "keys_per_dir": args.keys_per_dir,
            "ratio": args.ratio.to_string(),
            "verify": args.verify,
            "sse": args.sse,
        },
        "hash_reference_mib_s": hash_ref,
        "phases": phases,
    });
    let text = serde_json::to_string_pretty(&doc).context("encoding JSON results")?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
