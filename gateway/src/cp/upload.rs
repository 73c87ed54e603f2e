//! Uploads: one PutObject below the part size, else a multipart upload whose parts are
//! read, hashed, probed and sent with bounded concurrency, its progress kept in a state
//! file so that a re-run sends only what the server lacks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use sha2::{Digest as _, Sha256};

use super::Ctx;
use super::output::{FileProgress, FileReport};
use super::probe::Answer;
use super::s3::ListedPart;
use super::state::{self, PartState, UploadState};

/// S3's limit on the parts of one upload.
const MAX_PARTS: u64 = 10_000;

/// Uploads `file` to `bucket`/`key`, `what` naming the transfer in the output.
pub async fn upload(ctx: &Ctx, file: &Path, bucket: &str, key: &str, what: &str) -> anyhow::Result<()> {
    let meta = tokio::fs::metadata(file)
        .await
        .with_context(|| format!("reading {}", file.display()))?;
    let size = meta.len();
    let progress = ctx.out.start(what, size);
    let report = if size < ctx.part_size {
        single(ctx, file, bucket, key, size, &progress).await?
    } else {
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128);
        multipart(ctx, file, bucket, key, size, mtime_ns, &progress).await?
    };
    ctx.out.finish(what, &progress, report);
    Ok(())
}

/// Reads `len` bytes at `offset` and hashes them, on a blocking thread: one part's bytes
/// are held in memory (at most `--part-size` times `--concurrency` in all), because its
/// SHA-256 must be known before its request is signed, and holding it spares a second
/// read of the file.
async fn read_part(file: PathBuf, offset: u64, len: u64) -> anyhow::Result<(Bytes, [u8; 32])> {
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::FileExt as _;
        let f = std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
        let len = usize::try_from(len).context("part larger than memory")?;
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, offset)
            .with_context(|| format!("reading {} at {offset} (did it shrink?)", file.display()))?;
        let sha: [u8; 32] = Sha256::digest(&buf).into();
        Ok((Bytes::from(buf), sha))
    })
    .await
    .context("the reading task failed")?
}

async fn single(
    ctx: &Ctx,
    file: &Path,
    bucket: &str,
    key: &str,
    size: u64,
    progress: &FileProgress,
) -> anyhow::Result<FileReport> {
    let (body, sha) = read_part(file.to_owned(), 0, size).await?;
    let sha_b64 = B64.encode(sha);
    let report = match ctx.probe.object(bucket, key, &sha_b64, size).await {
        Answer::Stored { .. } => FileReport {
            bytes_skipped: size,
            ..FileReport::default()
        },
        Answer::Send => {
            ctx.s3
                .put_object(bucket, key, body, &hex::encode(sha), &sha_b64)
                .await?;
            FileReport {
                bytes_sent: size,
                ..FileReport::default()
            }
        }
    };
    progress.inc(size);
    Ok(report)
}

/// The upload to continue (its state and the parts the server has), or a new one.
async fn resume_or_create(
    ctx: &Ctx,
    state_path: &Path,
    bucket: &str,
    key: &str,
    size: u64,
    mtime_ns: i128,
) -> anyhow::Result<(UploadState, BTreeMap<u32, ListedPart>)> {
    if let Some(old) = state::load(state_path).await {
        if old.file_size == size && old.file_mtime_ns == mtime_ns && old.part_size == ctx.part_size {
            // `None`: the upload is gone (aborted, expired): start anew. So too when it
            // lists no part: nothing would be saved, and some servers (s3s-fs) list an
            // aborted upload as empty rather than answer NoSuchUpload, then refuse its parts.
            match ctx.s3.list_parts(bucket, key, &old.upload_id).await? {
                Some(parts) if !parts.is_empty() => {
                    let listed = parts.into_iter().map(|p| (p.part_number, p)).collect();
                    return Ok((old, listed));
                }
                Some(_) => {
                    let _ = ctx.s3.abort(bucket, key, &old.upload_id).await;
                }
                None => {}
            }
        } else {
            // The file changed since: its parts are of no use, release them. Failing to
            // is harmless (the server expires incomplete uploads).
            let _ = ctx.s3.abort(bucket, key, &old.upload_id).await;
        }
    }
    let upload_id = ctx.s3.create_multipart(bucket, key).await?;
    let st = UploadState {
        upload_id,
        part_size: ctx.part_size,
        file_size: size,
        file_mtime_ns: mtime_ns,
        parts: BTreeMap::new(),
    };
    state::save(state_path, &st).await?;
    Ok((st, BTreeMap::new()))
}

/// A part the server already has from an earlier run: same number, same size, and the
/// checksum or ETag this run's state recorded for it.
fn already_there(listed: Option<&ListedPart>, known: Option<&PartState>, len: u64) -> bool {
    let (Some(l), Some(k)) = (listed, known) else {
        return false;
    };
    let unquote = |s: &str| s.trim_matches('"').to_owned();
    l.size == len
        && (l.checksum_sha256.as_deref() == Some(k.sha256.as_str())
            || k.etag.as_deref().map(unquote) == Some(unquote(&l.etag)))
}

#[allow(clippy::too_many_arguments)] // one file's identity and where it goes
async fn multipart(
    ctx: &Ctx,
    file: &Path,
    bucket: &str,
    key: &str,
    size: u64,
    mtime_ns: i128,
    progress: &FileProgress,
) -> anyhow::Result<FileReport> {
    let ps = ctx.part_size;
    let count = size.div_ceil(ps);
    if count > MAX_PARTS {
        bail!(
            "{} is {size} bytes: {count} parts of --part-size {ps}, more than S3's {MAX_PARTS}; give a larger --part-size",
            file.display()
        );
    }
    let abs = std::path::absolute(file).with_context(|| format!("resolving {}", file.display()))?;
    let state_path = state::path_for(&ctx.state_dir, &ctx.endpoint, bucket, key, &abs);
    let (st, listed) = resume_or_create(ctx, &state_path, bucket, key, size, mtime_ns).await?;
    let upload_id = st.upload_id.clone();

    let mut report = FileReport::default();
    // Part number -> (ETag, SHA-256 base64), for the completion.
    let mut done: BTreeMap<u32, (String, String)> = BTreeMap::new();
    let mut todo = Vec::new();
    for n in 1..=count as u32 {
        let offset = u64::from(n - 1) * ps;
        let len = ps.min(size - offset);
        let (l, k) = (listed.get(&n), st.parts.get(&n));
        if let (true, Some(l), Some(k)) = (already_there(l, k, len), l, k) {
            done.insert(n, (l.etag.clone(), k.sha256.clone()));
            report.bytes_skipped += len;
            report.parts_resumed += 1;
            progress.inc(len);
        } else {
            todo.push((n, offset, len));
        }
    }

    let state = Arc::new(tokio::sync::Mutex::new(st));
    let sent_parts = AtomicU64::new(0);
    let sent: Vec<(u32, String, String, u64, bool)> = futures::stream::iter(todo)
        .map(|(n, offset, len)| {
            let (state, state_path, upload_id, sent_parts) = (&state, &state_path, &upload_id, &sent_parts);
            let file = abs.clone();
            async move {
                let (body, sha) = read_part(file, offset, len).await?;
                let sha_b64 = B64.encode(sha);
                {
                    let mut s = state.lock().await;
                    s.parts.insert(
                        n,
                        PartState {
                            sha256: sha_b64.clone(),
                            etag: None,
                        },
                    );
                    state::save(state_path, &s).await?;
                }
                let (etag, transferred) = match ctx.probe.part(bucket, key, upload_id, n, &sha_b64, len).await {
                    Answer::Stored { etag } => (etag, false),
                    Answer::Send => {
                        let etag = ctx
                            .s3
                            .upload_part(bucket, key, upload_id, n, body, &hex::encode(sha), &sha_b64)
                            .await?;
                        (etag, true)
                    }
                };
                {
                    let mut s = state.lock().await;
                    if let Some(p) = s.parts.get_mut(&n) {
                        p.etag = Some(etag.clone());
                    }
                    state::save(state_path, &s).await?;
                }
                progress.inc(len);
                // Test hook: stop as a killed `cp` would, the upload left incomplete.
                let so_far = sent_parts.fetch_add(1, Ordering::SeqCst) + 1;
                if ctx.stop_after_parts.is_some_and(|stop| so_far >= stop) {
                    bail!("stopped after {so_far} parts (FASTGATE_CP_STOP_AFTER_PARTS)");
                }
                anyhow::Ok((n, etag, sha_b64, len, transferred))
            }
        })
        .buffer_unordered(ctx.concurrency.max(1))
        .try_collect()
        .await?;
    for (n, etag, sha, len, transferred) in sent {
        if transferred {
            report.bytes_sent += len;
        } else {
            report.bytes_skipped += len;
        }
        done.insert(n, (etag, sha));
    }
    let parts: Vec<(u32, String, String)> = done.into_iter().map(|(n, (e, s))| (n, e, s)).collect();
    ctx.s3.complete(bucket, key, &upload_id, &parts).await?;
    state::remove(&state_path).await;
    Ok(report)
}
