//! `reupload`: upload one content once (plain PUT), then PUT the same bytes under new keys with
//! `Expect: 100-continue` and the SHA-256 in `x-amz-content-sha256`.
//!
//! A server with instant upload (fastgate) can answer 200 right after the head, without receiving the body
//! (`x-fastgate-dedup: hit`); any other server answers `100 Continue` and receives the body. The latency of
//! the re-uploads therefore shows what instant upload saves. MiB/s here is *logical* (object bytes stored,
//! whether or not they crossed the wire); `bodies_sent` says how often they did.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::Result;

use super::Ctx;
use crate::client::snippet;
use crate::driver::{Done, Kind, drive};
use crate::expect_continue::put_expect_continue;
use crate::stats::{OpStats, Summary};

pub async fn run(ctx: Arc<Ctx>) -> Result<Vec<Summary>> {
    let payload = Arc::new(ctx.pool(ctx.size).payload(0));
    let first_key = format!("{}/reupload/original", ctx.prefix);
    let first = OpStats::new("first-upload");
    let t0 = Instant::now();
    if let Err(e) = ctx.put(0, &first_key, &payload).await {
        ctx.cleanup(vec![first_key]).await;
        return Err(e);
    }
    first.ok(t0.elapsed(), payload.len);
    let first_summary = first.summary(t0.elapsed());

    let stats = Arc::new(vec![OpStats::new("reupload")]);
    let counters = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]); // hits, sent, continues
    let (c, p, n) = (ctx.clone(), payload.clone(), counters.clone());
    let (elapsed, issued) = drive(
        ctx.args.concurrency,
        ctx.limit,
        stats.clone(),
        ctx.args.quiet,
        "reupload",
        move |i| {
            let (ctx, payload, counters) = (c.clone(), p.clone(), n.clone());
            async move {
                let path = ctx.path(&key(&ctx, i));
                let o = put_expect_continue(ctx.client(i), &path, &payload).await.kind(0)?;
                if !(200..300).contains(&o.status) {
                    let e: Result<Done> = Err(anyhow::anyhow!(
                        "PUT {path} (Expect: 100-continue) -> {}: {}",
                        o.status,
                        snippet(&o.body)
                    ));
                    return e.kind(0);
                }
                let hit = o.dedup.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("hit"));
                for (flag, counter) in [hit, o.body_sent, o.got_continue].into_iter().zip(counters.iter()) {
                    if flag {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(Done {
                    kind: 0,
                    bytes: payload.len,
                })
            }
        },
    )
    .await;
    let [hits, sent, continues] = [0, 1, 2].map(|i| counters[i].load(Ordering::Relaxed));
    let summary = stats[0]
        .summary(elapsed)
        .with("dedup_hits", hits)
        .with("bodies_sent", sent)
        .with("continue_received", continues);
    let mut keys: Vec<String> = (0..issued).map(|i| key(&ctx, i)).collect();
    keys.push(first_key);
    ctx.cleanup(keys).await;
    Ok(vec![first_summary, summary])
}

fn key(ctx: &Ctx, i: u64) -> String {
    format!("{}/reupload/copy-{i}", ctx.prefix)
}
