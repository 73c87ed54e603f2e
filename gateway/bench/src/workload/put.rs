//! `put`: PUT objects of `--size`, each with unique content (see `payload` for why that is cheap).

use std::sync::Arc;

use anyhow::Result;

use super::Ctx;
use crate::driver::{Done, Kind, drive};
use crate::stats::{OpStats, Summary};

pub async fn run(ctx: Arc<Ctx>) -> Result<Vec<Summary>> {
    let pool = Arc::new(ctx.pool(ctx.size));
    let stats = Arc::new(vec![OpStats::new("put")]);
    let c = ctx.clone();
    let (elapsed, issued) = drive(
        ctx.args.concurrency,
        ctx.limit,
        stats.clone(),
        ctx.args.quiet,
        "put",
        move |i| {
            let (ctx, pool) = (c.clone(), pool.clone());
            async move {
                let p = pool.payload(i);
                ctx.put(i, &key(&ctx, i), &p).await.kind(0)?;
                Ok(Done { kind: 0, bytes: p.len })
            }
        },
    )
    .await;
    let summary = stats[0].summary(elapsed);
    ctx.cleanup((0..issued).map(|i| key(&ctx, i)).collect()).await;
    Ok(vec![summary])
}

fn key(ctx: &Ctx, i: u64) -> String {
    format!("{}/put/obj-{i}", ctx.prefix)
}
