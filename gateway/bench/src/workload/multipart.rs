//! `multipart`: objects of `--size` uploaded as CreateMultipartUpload + UploadPart x N + Complete, one object
//! after the other, with up to `--concurrency` parts of the object in flight.
//!
//! Reported twice: per object (create .. complete, the number a user waits for; MiB/s is the headline) and
//! per part. Each part has unique content (payload index = object * parts + part).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::Method;

use super::Ctx;
use crate::client::{BodyMode, encode_query, snippet};
use crate::driver::{Done, Kind, Limit, drive};
use crate::payload::{ContentPool, Payload};
use crate::stats::{OpStats, Summary};
use crate::xml::{CompleteMultipartUpload, CompletedPart, error_code, parse_upload_id};

/// S3's minimum size for every part but the last.
const MIN_PART: u64 = 5 << 20;

pub async fn run(ctx: Arc<Ctx>) -> Result<Vec<Summary>> {
    let part_size = ctx.args.part_size;
    if part_size < MIN_PART && part_size < ctx.size {
        bail!("--part-size must be at least 5MiB (S3 minimum for all parts but the last)");
    }
    let part_size = part_size.max(1);
    let parts = ctx.size.div_ceil(part_size).max(1);
    let last_len = ctx.size - (parts - 1) * part_size;
    let full = Arc::new(ctx.pool(part_size.min(ctx.size)));
    let last = Arc::new(ctx.pool(last_len));
    let objects = OpStats::new("multipart-object");
    let part_stats = Arc::new(vec![OpStats::new("multipart-part")]);
    let mut written = Vec::new();
    let start = Instant::now();
    for o in 0u64.. {
        let done = match ctx.limit {
            Limit::Count(n) => o >= n,
            Limit::Duration(d) => start.elapsed() >= d,
        };
        if done {
            break;
        }
        let key = format!("{}/multipart/obj-{o}", ctx.prefix);
        let t0 = Instant::now();
        let r = upload(&ctx, &key, o, parts, (full.clone(), last.clone()), part_stats.clone()).await;
        match r {
            Ok(()) => objects.ok(t0.elapsed(), ctx.size),
            Err(e) => objects.err(&e),
        }
        written.push(key);
    }
    let elapsed = start.elapsed();
    let out = vec![
        objects
            .summary(elapsed)
            .with("parts_per_object", parts)
            .with("part_size", part_size),
        part_stats[0].summary(elapsed),
    ];
    ctx.cleanup(written).await;
    Ok(out)
}

/// Uploads one object; aborts the upload when anything fails.
async fn upload(
    ctx: &Arc<Ctx>,
    key: &str,
    o: u64,
    parts: u64,
    pools: (Arc<ContentPool>, Arc<ContentPool>),
    stats: Arc<Vec<OpStats>>,
) -> Result<()> {
    let path = ctx.path(key);
    let r = ctx
        .client(o)
        .call(
            Method::POST,
            &format!("{path}?uploads"),
            &[],
            &Payload::empty(),
            BodyMode::Keep,
        )
        .await?;
    let upload_id = parse_upload_id(&String::from_utf8_lossy(&r.body))
        .with_context(|| format!("CreateMultipartUpload answer without an UploadId: {}", snippet(&r.body)))?;
    let id_q = encode_query(&upload_id);
    let etags: Arc<Mutex<Vec<Option<String>>>> = Arc::new(Mutex::new(vec![None; parts as usize]));
    let (c, p, e, id) = (ctx.clone(), path.clone(), etags.clone(), id_q.clone());
    let label = format!("part of {key}");
    let (_, _) = drive(
        ctx.args.concurrency,
        Limit::Count(parts),
        stats.clone(),
        ctx.args.quiet,
        &label,
        move |i| {
            let (ctx, path, etags, id, pools) = (c.clone(), p.clone(), e.clone(), id.clone(), pools.clone());
            async move {
                let pool = if i + 1 == parts { &pools.1 } else { &pools.0 };
                let payload = pool.payload(o * parts + i);
                let q = format!("{path}?partNumber={}&uploadId={id}", i + 1);
                // The parts of one upload spread over the endpoints too (gateways share its state).
                let r = ctx
                    .client(o * parts + i)
                    .call(Method::PUT, &q, &[], &payload, BodyMode::Keep)
                    .await
                    .kind(0)?;
                let etag = r.headers.get("etag").and_then(|v| v.to_str().ok()).map(str::to_string);
                let etag = etag
                    .with_context(|| format!("UploadPart {} answer has no ETag", i + 1))
                    .kind(0)?;
                if let Some(slot) = etags.lock().unwrap_or_else(|p| p.into_inner()).get_mut(i as usize) {
                    *slot = Some(etag);
                }
                Ok(Done {
                    kind: 0,
                    bytes: payload.len,
                })
            }
        },
    )
    .await;
    let etags = std::mem::take(&mut *etags.lock().unwrap_or_else(|p| p.into_inner()));
    let result = complete(ctx, o, &path, &id_q, &etags).await;
    if result.is_err() {
        let (q, empty) = (format!("{path}?uploadId={id_q}"), Payload::empty());
        let abort = ctx.client(o).call_any(Method::DELETE, &q, &[], &empty, BodyMode::Keep);
        let _ = tokio::time::timeout(Duration::from_secs(30), abort).await;
    }
    result
}

async fn complete(ctx: &Ctx, o: u64, path: &str, id_q: &str, etags: &[Option<String>]) -> Result<()> {
    let parts = etags
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let etag = e.clone().with_context(|| format!("part {} failed", i + 1))?;
            Ok(CompletedPart {
                part_number: i as u64 + 1,
                etag,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let xml = CompleteMultipartUpload { parts }
        .to_xml()
        .context("writing CompleteMultipartUpload")?;
    let body = Payload::from_bytes(Bytes::from(xml));
    let r = ctx
        .client(o)
        .call(
            Method::POST,
            &format!("{path}?uploadId={id_q}"),
            &[],
            &body,
            BodyMode::Keep,
        )
        .await?;
    // S3 may answer 200 and still report an error in the body.
    if let Some(code) = error_code(&r.body) {
        bail!("CompleteMultipartUpload failed with {code}: {}", snippet(&r.body));
    }
    Ok(())
}
