//! The workloads, one file each, and the context they share (client, names, content, limits).

pub mod get;
pub mod list;
pub mod mixed;
pub mod multipart;
pub mod put;
pub mod reupload;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use bytes::Bytes;
use http::Method;

use super::args::BenchArgs;
use super::client::{BodyMode, Clients, Reply, S3Client};
use super::driver::Limit;
use super::payload::{ContentPool, Payload};

/// Everything a workload needs; shared read-only by all workers.
pub struct Ctx {
    pub args: BenchArgs,
    /// One client per endpoint; reach them through [`Ctx::client`].
    pub clients: Clients,
    pub bucket: String,
    /// Key prefix of this run (no trailing slash).
    pub prefix: String,
    pub size: u64,
    pub seed: u64,
    /// Random per run: makes object content unique across runs too (see `payload`).
    pub nonce: u64,
    pub base: Bytes,
    pub limit: Limit,
}

impl Ctx {
    /// The client of op number `i` (round-robin over the endpoints).
    pub fn client(&self, i: u64) -> &S3Client {
        self.clients.pick(i)
    }

    /// A content pool for objects of `len` bytes over the shared base.
    pub fn pool(&self, len: u64) -> ContentPool {
        ContentPool::new(&self.base, len, self.nonce, self.args.same_content)
    }

    /// Request path for `key` (path-style).
    pub fn path(&self, key: &str) -> String {
        format!("/{}/{}", self.bucket, super::client::encode_key(key))
    }

    /// PUTs `payload` as `key` through the client of op number `i`.
    pub async fn put(&self, i: u64, key: &str, payload: &Payload) -> Result<Reply> {
        let sse: &[(&str, &str)] = if self.args.sse {
            &[("x-amz-server-side-encryption", "AES256")]
        } else {
            &[]
        };
        self.client(i)
            .call(Method::PUT, &self.path(key), sse, payload, BodyMode::Count)
            .await
    }

    /// An untimed setup PUT: a peer that sheds load for a moment (garage under 100,000
    /// quick PUTs does) should not abort the whole run, so it is tried up to 4 times.
    async fn put_retrying(&self, i: u64, key: &str, payload: &Payload) -> Result<Reply> {
        let mut delay = std::time::Duration::from_millis(100);
        let mut attempt = 1;
        loop {
            match self.put(i, key, payload).await {
                Ok(r) => return Ok(r),
                Err(e) if attempt < 4 => {
                    eprintln!("retrying setup PUT {key} after: {e:#}");
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// PUTs all `keys` (payload `i` for key `i`, through the client of op `i`) before a timed phase; fails on
    /// the first error. Untimed, so it runs at least 64 PUTs at a time even when the timed phase is measured at
    /// a lower concurrency: the list workload's 100,000 keys take minutes on a server that fsyncs each PUT
    /// (garage-2 does about 125 a second at 32 at a time), and more in flight is what shortens that.
    pub async fn prepare(self: &Arc<Self>, keys: Arc<Vec<String>>, pool: Arc<ContentPool>) -> Result<Vec<String>> {
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..self.args.concurrency.max(64).min(keys.len().max(1)) {
            let (ctx, keys, pool, next) = (self.clone(), keys.clone(), pool.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut hashes = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(key) = keys.get(i) else { break };
                    let p = pool.payload(i as u64);
                    ctx.put_retrying(i as u64, key, &p)
                        .await
                        .with_context(|| format!("preparing {key}"))?;
                    hashes.push((i, p.sha256));
                }
                anyhow::Ok(hashes)
            }));
        }
        let mut all = vec![String::new(); keys.len()];
        for t in tasks {
            for (i, h) in t.await.context("prepare task")?? {
                all[i] = h;
            }
        }
        Ok(all)
    }

    /// Deletes `keys` unless `--keep`; problems are reported, not fatal (the numbers are already in).
    /// Untimed, and as many at a time as [`Ctx::prepare`] (the list workload's 100,000 keys again).
    pub async fn cleanup(self: &Arc<Self>, keys: Vec<String>) {
        if self.args.keep || keys.is_empty() {
            return;
        }
        let n = keys.len();
        let keys = Arc::new(keys);
        let next = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..self.args.concurrency.max(64).min(n) {
            let (ctx, keys, next, errors) = (self.clone(), keys.clone(), next.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                let empty = Payload::empty();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(key) = keys.get(i) else { break };
                    let r = ctx
                        .client(i as u64)
                        .call_any(Method::DELETE, &ctx.path(key), &[], &empty, BodyMode::Keep)
                        .await;
                    if !matches!(r, Ok(ref r) if r.status.is_success() || r.status == 404) {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        let e = errors.load(Ordering::Relaxed);
        if e > 0 {
            eprintln!("cleanup: {e} of {n} deletes failed");
        }
    }
}

/// Cheap deterministic mixing of (seed, i) for op choice and key picks (splitmix64).
pub fn mix(seed: u64, i: u64) -> u64 {
    let mut z = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
