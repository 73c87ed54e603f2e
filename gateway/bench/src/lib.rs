//! `fastgate bench`: a warp-like load generator for any S3 endpoint.
//!
//! A crate of its own, called by the `fastgate` binary for `fastgate bench`: it is a client of any S3
//! server and reaches fastgate only over HTTP (through fastgate-client), never through the gateway's code.
//!
//! Layout (one job per file): `args` (flags and parsers), `client` (fastgate-client's SigV4 + hyper, bodies
//! drained per mode), `payload` (cheap unique bodies), `expect_continue` (hand-written
//! `Expect: 100-continue` PUT), `xml` (the S3 documents, with quick-xml), `driver` (workers, limits,
//! progress), `stats` (counters, percentiles), `report` (output, JSON) and one file per workload under
//! `workload/`.

mod args;
mod client;
mod driver;
mod expect_continue;
mod payload;
mod report;
mod stats;
mod workload;
mod xml;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

pub use args::BenchArgs;
use args::{Workload, fmt_size, parse_endpoints};
use client::{Clients, S3Client};
use driver::Limit;
use payload::{BASE_MAX, make_base};
use workload::Ctx;

/// Runs one benchmark: reference line, workload phases, result lines, optional JSON, cleanup.
/// Fails (after printing and writing the JSON) when any operation failed, so scripts notice.
pub async fn run(args: BenchArgs) -> Result<()> {
    let access_key = args
        .access_key
        .clone()
        .or_else(|| std::env::var("AWS_ACCESS_KEY_ID").ok())
        .context("no access key: pass --access-key or set FASTGATE_ACCESS_KEY / AWS_ACCESS_KEY_ID")?;
    let secret_key = args
        .secret_key
        .clone()
        .or_else(|| std::env::var("AWS_SECRET_ACCESS_KEY").ok())
        .context("no secret key: pass --secret-key or set FASTGATE_SECRET_KEY / AWS_SECRET_ACCESS_KEY")?;
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let size = args.size.unwrap_or(match args.workload {
        Workload::List => 0,
        Workload::Multipart => 128 << 20,
        _ => 1 << 20,
    });
    let limit = match (args.count, args.duration) {
        (Some(n), _) => Limit::Count(n),
        (None, Some(d)) => Limit::Duration(d),
        (None, None) => match args.workload {
            Workload::List => Limit::Count(3),
            Workload::Multipart => Limit::Count(2),
            Workload::Reupload => Limit::Count(20),
            _ => Limit::Duration(Duration::from_secs(10)),
        },
    };
    let seed = args.seed.unwrap_or_else(rand::random);
    let nonce: u64 = rand::random();
    let largest_body = if args.workload == Workload::Multipart {
        size.min(args.part_size)
    } else {
        size
    };
    // The reference hashes real object-sized buffers; 0-byte objects (list) use 4KiB so the line means something.
    let ref_size = if largest_body == 0 {
        4096
    } else {
        largest_body.min(BASE_MAX)
    };
    let base_len = largest_body.max(ref_size).clamp(1, BASE_MAX);
    let fixed = args.fixed;
    let base = tokio::task::spawn_blocking(move || make_base(base_len, seed, fixed))
        .await
        .context("content generation")?;
    let b = base.clone();
    let hash_ref = tokio::task::spawn_blocking(move || report::hash_reference(&b, ref_size))
        .await
        .context("hash reference")?;
    println!(
        "reference: one core computes MD5+SHA-256 over {} buffers at {hash_ref:.1} MiB/s",
        fmt_size(ref_size)
    );
    println!(
        "{} {} x {} against {} bucket {} (concurrency {}, {}, seed {seed})",
        args.workload.name(),
        match limit {
            Limit::Count(n) => n.to_string(),
            Limit::Duration(d) => format!("{:.1}s", d.as_secs_f64()),
        },
        fmt_size(size),
        args.endpoint,
        args.bucket,
        args.concurrency,
        if fixed { "fixed content" } else { "random content" },
    );

    let endpoints = parse_endpoints(&args.endpoint)?;
    let clients = Clients::new(&endpoints, &access_key, &secret_key, args.concurrency.max(16))?;
    let client = clients.pick(0).clone();
    let created_bucket = client.ensure_bucket(&args.bucket).await?;
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| format!("bench-{:08x}", nonce as u32));
    let ctx = Arc::new(Ctx {
        clients,
        bucket: args.bucket.clone(),
        prefix,
        size,
        seed,
        nonce,
        base,
        limit,
        args: args.clone(),
    });
    let phases = match args.workload {
        Workload::Put => workload::put::run(ctx).await,
        Workload::Get => workload::get::run(ctx).await,
        Workload::Mixed => workload::mixed::run(ctx).await,
        Workload::List => workload::list::run(ctx).await,
        Workload::Multipart => workload::multipart::run(ctx).await,
        Workload::Reupload => workload::reupload::run(ctx).await,
    };
    if created_bucket && !args.keep {
        delete_bucket(&client, &args.bucket).await;
    }
    let phases = phases?;
    for p in &phases {
        report::print_summary(p);
    }
    report::write_json(&args, size, seed, hash_ref, &phases)?;
    // Phases overlap (mixed total vs per-op, objects vs parts), so the largest count is the honest one.
    let errors = phases.iter().map(|p| p.errors).max().unwrap_or(0);
    if errors > 0 {
        bail!("{errors} operations failed (see the error lines above)");
    }
    Ok(())
}

/// Removes the bucket this run created; a failure is only reported.
async fn delete_bucket(client: &S3Client, bucket: &str) {
    let r = client
        .call_any(
            http::Method::DELETE,
            &format!("/{bucket}"),
            &[],
            &payload::Payload::empty(),
            client::BodyMode::Keep,
        )
        .await;
    match r {
        Ok(r) if r.status.is_success() => {}
        Ok(r) => eprintln!(
            "could not delete bucket {bucket}: {} {}",
            r.status,
            client::snippet(&r.body)
        ),
        Err(e) => eprintln!("could not delete bucket {bucket}: {e:#}"),
    }
}
