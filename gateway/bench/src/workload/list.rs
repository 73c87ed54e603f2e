//! `list`: create `--keys` keys laid out as `prefix/dir-i/obj-j` (`--keys-per-dir` per dir), then time
//! complete ListObjectsV2 walks over them, first flat (no delimiter), then hierarchical (delimiter `/`:
//! list the dirs, then each dir), the way a file browser or `aws s3 ls --recursive` would.
//!
//! One op = one full walk; every page is also recorded on its own (`*-page`). Each walk checks that it saw
//! exactly the keys (and dirs) that were created, so a listing bug shows up as errors, not as speed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use http::Method;

use super::Ctx;
use crate::client::{BodyMode, S3Client, encode_query, snippet};
use crate::driver::{Done, Kind, drive};
use crate::payload::Payload;
use crate::stats::{OpStats, Summary};
use crate::xml::{ListPage, parse_list_page};

/// Page size asked for (the S3 maximum).
const MAX_KEYS: u32 = 1000;

pub async fn run(ctx: Arc<Ctx>) -> Result<Vec<Summary>> {
    let n = ctx.args.keys;
    let per_dir = ctx.args.keys_per_dir.max(1);
    let root = format!("{}/list/", ctx.prefix);
    let keys: Vec<String> = (0..n)
        .map(|i| format!("{root}dir-{:05}/obj-{:05}", i / per_dir, i % per_dir))
        .collect();
    eprintln!("creating {n} keys...");
    let t0 = Instant::now();
    if let Err(e) = ctx.prepare(Arc::new(keys.clone()), Arc::new(ctx.pool(ctx.size))).await {
        ctx.cleanup(keys).await;
        return Err(e);
    }
    let create = t0.elapsed();
    eprintln!(
        "created {n} keys in {:.1}s ({:.0} PUT/s)",
        create.as_secs_f64(),
        n as f64 / create.as_secs_f64()
    );

    let mut out = Vec::new();
    for delimited in [false, true] {
        let name = if delimited { "list-delim" } else { "list-flat" };
        let stats = Arc::new(vec![OpStats::new(name), OpStats::new(format!("{name}-page"))]);
        let keys_seen = Arc::new(AtomicU64::new(0));
        let (c, st, seen, root) = (ctx.clone(), stats.clone(), keys_seen.clone(), root.clone());
        let (elapsed, _) = drive(
            ctx.args.concurrency,
            ctx.limit,
            stats.clone(),
            ctx.args.quiet,
            name,
            move |i| {
                let (ctx, stats, seen, root) = (c.clone(), st.clone(), seen.clone(), root.clone());
                async move {
                    let got = walk(&ctx, ctx.client(i), &root, delimited, &stats[1]).await.kind(0)?;
                    seen.fetch_add(got, Ordering::Relaxed);
                    Ok(Done { kind: 0, bytes: 0 })
                }
            },
        )
        .await;
        let seen = keys_seen.load(Ordering::Relaxed);
        let secs = elapsed.as_secs_f64().max(1e-9);
        out.push(
            stats[0]
                .summary(elapsed)
                .with("keys", n)
                .with("keys_per_s", seen as f64 / secs),
        );
        out.push(stats[1].summary(elapsed));
    }
    ctx.cleanup(keys).await;
    Ok(out)
}

/// One complete walk through `client`; returns the keys seen. Errors when the count differs from what was created.
async fn walk(ctx: &Ctx, client: &S3Client, root: &str, delimited: bool, pages: &OpStats) -> Result<u64> {
    let n = ctx.args.keys;
    if !delimited {
        let (keys, _) = list_all(ctx, client, root, false, pages).await?;
        if keys != n {
            bail!("flat walk saw {keys} keys, expected {n}");
        }
        return Ok(keys);
    }
    let (top_keys, dirs) = list_all(ctx, client, root, true, pages).await?;
    let want_dirs = n.div_ceil(ctx.args.keys_per_dir.max(1));
    if top_keys != 0 || dirs.len() as u64 != want_dirs {
        bail!(
            "delimited walk of {root}: {top_keys} keys and {} dirs, expected 0 and {want_dirs}",
            dirs.len()
        );
    }
    let mut keys = 0;
    for d in &dirs {
        let (k, sub) = list_all(ctx, client, d, true, pages).await?;
        if !sub.is_empty() {
            bail!("{d} has {} unexpected sub-prefixes", sub.len());
        }
        keys += k;
    }
    if keys != n {
        bail!("delimited walk saw {keys} keys, expected {n}");
    }
    Ok(keys)
}

/// Lists every page under `prefix`; returns (keys, common prefixes). Each page is timed into `pages`.
async fn list_all(
    ctx: &Ctx,
    client: &S3Client,
    prefix: &str,
    delimited: bool,
    pages: &OpStats,
) -> Result<(u64, Vec<String>)> {
    let mut token: Option<String> = None;
    let (mut keys, mut dirs) = (0u64, Vec::new());
    loop {
        let mut q = format!(
            "/{}?list-type=2&max-keys={MAX_KEYS}&prefix={}",
            ctx.bucket,
            encode_query(prefix)
        );
        if delimited {
            q.push_str("&delimiter=%2F");
        }
        if let Some(t) = &token {
            q.push_str("&continuation-token=");
            q.push_str(&encode_query(t));
        }
        let t0 = Instant::now();
        let r = client
            .call(Method::GET, &q, &[], &Payload::empty(), BodyMode::Keep)
            .await;
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                pages.err(&e);
                return Err(e);
            }
        };
        pages.ok(t0.elapsed(), r.body_len);
        let page: ListPage = parse_list_page(&String::from_utf8_lossy(&r.body))
            .with_context(|| format!("ListObjectsV2 answer for {prefix}: {}", snippet(&r.body)))?;
        keys += page.keys;
        dirs.extend(page.common_prefixes);
        match (page.is_truncated, page.next_token) {
            (true, Some(t)) => token = Some(t),
            (true, None) => bail!("truncated page without NextContinuationToken for {prefix}"),
            (false, _) => return Ok((keys, dirs)),
        }
    }
}
