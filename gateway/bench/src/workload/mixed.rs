//! `mixed`: prepare objects (and read each once, untimed, unless `--cold`), then a weighted mix of
//! GET / PUT / DELETE / HEAD (`--ratio`).
//!
//! A key is taken out of the shared pool while an op works on it and put back afterwards (DELETE does not
//! put it back, PUT adds a new one). So no GET ever races a DELETE of the same key, and every 404 is a real
//! server error, not a benchmark artifact.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use http::Method;

use super::{Ctx, mix};
use crate::client::BodyMode;
use crate::driver::{Done, Kind, OpError, drive};
use crate::payload::{ContentPool, Payload};
use crate::stats::{OpStats, Summary, summarize};

const GET: usize = 0;
const PUT: usize = 1;
const DELETE: usize = 2;
const STAT: usize = 3;

/// Keys currently present on the server, with the SHA-256 of their content.
type KeyPool = Mutex<Vec<(String, String)>>;

pub async fn run(ctx: Arc<Ctx>) -> Result<Vec<Summary>> {
    let n = super::get::object_count(&ctx);
    let keys: Vec<String> = (0..n).map(|i| key(&ctx, i)).collect();
    let pool = Arc::new(ctx.pool(ctx.size));
    eprintln!("preparing {n} objects...");
    let hashes = match ctx.prepare(Arc::new(keys.clone()), pool.clone()).await {
        Ok(h) => h,
        Err(e) => {
            ctx.cleanup(keys).await;
            return Err(e);
        }
    };
    // As for `get`: the prepared objects are read once first, unless `--cold`.
    if !ctx.args.cold
        && let Err(e) = super::get::warm(&ctx, &Arc::new(keys.clone()), &Arc::new(hashes.clone())).await
    {
        ctx.cleanup(keys).await;
        return Err(e);
    }
    let live: Arc<KeyPool> = Arc::new(Mutex::new(keys.into_iter().zip(hashes).collect()));
    let next_key = Arc::new(AtomicU64::new(n));
    let stats = Arc::new(vec![
        OpStats::new("get"),
        OpStats::new("put"),
        OpStats::new("delete"),
        OpStats::new("stat"),
    ]);
    let (c, l) = (ctx.clone(), live.clone());
    let (elapsed, _) = drive(
        ctx.args.concurrency,
        ctx.limit,
        stats.clone(),
        ctx.args.quiet,
        "mixed",
        move |i| {
            let (ctx, live, pool, next_key) = (c.clone(), l.clone(), pool.clone(), next_key.clone());
            async move { one_op(&ctx, &live, &pool, &next_key, i).await }
        },
    )
    .await;
    let mut out = vec![summarize("mixed", &stats.iter().collect::<Vec<_>>(), elapsed)];
    out.extend(stats.iter().map(|s| s.summary(elapsed)));
    let left: Vec<String> = take_all(&live).into_iter().map(|(k, _)| k).collect();
    ctx.cleanup(left).await;
    Ok(out)
}

async fn one_op(
    ctx: &Ctx,
    live: &KeyPool,
    pool: &ContentPool,
    next_key: &AtomicU64,
    i: u64,
) -> std::result::Result<Done, OpError> {
    let r = ctx.args.ratio;
    let roll = (mix(ctx.seed, i) % r.total() as u64) as u32;
    let kind = if roll < r.get {
        GET
    } else if roll < r.get + r.put {
        PUT
    } else if roll < r.get + r.put + r.delete {
        DELETE
    } else {
        STAT
    };
    let picked = if kind == PUT {
        None
    } else {
        take(live, mix(ctx.seed ^ 1, i))
    };
    // PUT, or the pool is momentarily empty: grow it.
    let Some((k, h)) = picked else {
        let id = next_key.fetch_add(1, Ordering::Relaxed);
        let p = pool.payload(id);
        let k = key(ctx, id);
        ctx.put(i, &k, &p).await.kind(PUT)?;
        lock(live).push((k, p.sha256));
        return Ok(Done {
            kind: PUT,
            bytes: p.len,
        });
    };
    match kind {
        GET => {
            let r = super::get::get_one(ctx, i, &k, &h).await;
            lock(live).push((k, h));
            r.kind(GET)
        }
        DELETE => {
            let r = ctx
                .client(i)
                .call(Method::DELETE, &ctx.path(&k), &[], &Payload::empty(), BodyMode::Keep)
                .await;
            if r.is_err() {
                lock(live).push((k, h)); // still there as far as we know
            }
            r.kind(DELETE)?;
            Ok(Done { kind: DELETE, bytes: 0 })
        }
        _ => {
            let r = ctx
                .client(i)
                .call(Method::HEAD, &ctx.path(&k), &[], &Payload::empty(), BodyMode::Keep)
                .await;
            lock(live).push((k, h));
            r.kind(STAT)?;
            Ok(Done { kind: STAT, bytes: 0 })
        }
    }
}

fn key(ctx: &Ctx, i: u64) -> String {
    format!("{}/mixed/obj-{i}", ctx.prefix)
}

fn lock(m: &KeyPool) -> std::sync::MutexGuard<'_, Vec<(String, String)>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn take(m: &KeyPool, r: u64) -> Option<(String, String)> {
    let mut v = lock(m);
    if v.is_empty() {
        return None;
    }
    let i = (r % v.len() as u64) as usize;
    Some(v.swap_remove(i))
}

fn take_all(m: &KeyPool) -> Vec<(String, String)> {
    std::mem::take(&mut *lock(m))
}
