//! `get`: prepare `--objects` objects (untimed), then GET them round-robin.
//! With `--verify` each body is hashed and compared with what was uploaded.

use std::sync::Arc;

use anyhow::{Result, bail};
use http::Method;

use super::Ctx;
use crate::bench::client::BodyMode;
use crate::bench::driver::{Done, Kind, drive};
use crate::bench::payload::Payload;
use crate::bench::stats::{OpStats, Summary};

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
                get_one(&ctx, &keys[j], &hashes[j]).await.kind(0)
            }
        },
    )
    .await;
    let summary = stats[0].summary(elapsed);
    ctx.cleanup(keys.to_vec()).await;
    Ok(vec![summary])
}

/// GETs one object and checks its length (and hash with `--verify`).
pub async fn get_one(ctx: &Ctx, key: &str, sha256: &str) -> Result<Done> {
    let mode = if ctx.args.verify {
        BodyMode::Hash
    } else {
        BodyMode::Count
    };
    let r = ctx
        .client
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
