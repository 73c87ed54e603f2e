//! `get`: prepare `--objects` objects (untimed), read each once (untimed, unless `--cold`), then GET
//! them round-robin.
//! With `--verify` each body is hashed and compared with what was uploaded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Result, bail};
use http::Method;

use super::Ctx;
use crate::client::BodyMode;
use crate::driver::{Done, Kind, drive};
use crate::payload::Payload;
use crate::stats::{OpStats, Summary};

pub async fn run(ctx: Arc<Ctx>) -> Result<Vec<Summary>> {
    let n = object_count(&ctx);
    let keys: Arc<Vec<String>> = Arc::new((0..n).map(|i| format!("{}/get/obj-{i}", ctx.prefix)).collect());
    eprintln!("preparing {n} objects...");
    let prepared = ctx.prepare(keys.clone(), Arc::new(ctx.pool(ctx.size))).await;
    let hashes = match prepared {
        Ok(h) => Arc::new(h),
        Err(e) => {
            ctx.cleanup(keys.to_vec()).await;
            return Err(e);
        }
    };
    if !ctx.args.cold
        && let Err(e) = warm(&ctx, &keys, &hashes).await
    {
        ctx.cleanup(keys.to_vec()).await;
        return Err(e);
    }
    let stats = Arc::new(vec![OpStats::new("get")]);
    let (c, k) = (ctx.clone(), keys.clone());
    let (elapsed, _) = drive(
        ctx.args.concurrency,
        ctx.limit,
        stats.clone(),
        ctx.args.quiet,
        "get",
        move |i| {
            let (ctx, keys, hashes) = (c.clone(), k.clone(), hashes.clone());
            async move {
                let j = (i % keys.len() as u64) as usize;
                get_one(&ctx, i, &keys[j], &hashes[j]).await.kind(0)
            }
        },
    )
    .await;
    let summary = stats[0].summary(elapsed);
    ctx.cleanup(keys.to_vec()).await;
    Ok(vec![summary])
}

/// Reads every object once, `--concurrency` at a time, without timing it.
pub async fn warm(ctx: &Arc<Ctx>, keys: &Arc<Vec<String>>, hashes: &Arc<Vec<String>>) -> Result<()> {
    eprintln!("reading {} objects once...", keys.len());
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..ctx.args.concurrency.max(1) {
        let (ctx, keys, hashes, next) = (ctx.clone(), keys.clone(), hashes.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(key) = keys.get(i) else { break };
                get_one(&ctx, i as u64, key, &hashes[i]).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// GETs one object (op number `i`) and checks its length (and hash with `--verify`).
pub async fn get_one(ctx: &Ctx, i: u64, key: &str, sha256: &str) -> Result<Done> {
    let mode = if ctx.args.verify {
        BodyMode::Hash
    } else {
        BodyMode::Count
    };
    let r = ctx
        .client(i)
        .call(Method::GET, &ctx.path(key), &[], &Payload::empty(), mode)
        .await?;
    if r.body_len != ctx.size {
        bail!("GET {key}: got {} bytes, expected {}", r.body_len, ctx.size);
    }
    if ctx.args.verify && r.body != sha256.as_bytes() {
        bail!(
            "GET {key}: body SHA-256 {} differs from uploaded {sha256}",
            String::from_utf8_lossy(&r.body)
        );
    }
    Ok(Done {
        kind: 0,
        bytes: r.body_len,
    })
}

/// `--objects`, else `--count`, else 100; implicit values are capped at 2GiB of prepared data.
pub fn object_count(ctx: &Ctx) -> u64 {
    if let Some(n) = ctx.args.objects {
        return n.max(1);
    }
    let want = ctx.args.count.unwrap_or(100);
    let cap = ((2u64 << 30) / ctx.size.max(1)).max(1);
    want.min(cap).max(1)
}
