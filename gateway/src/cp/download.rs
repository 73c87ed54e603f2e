//! Downloads: into `LOCAL.fastgate-part` beside the destination, resumed with a Range
//! request while the object's ETag is the one the partial file was fetched under,
//! verified against the object's checksum (its full or composite SHA-256, else an MD5
//! ETag), then renamed into place.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::StatusCode;
use http_body_util::BodyExt as _;
use md5::Md5;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::Ctx;
use super::output::{FileProgress, FileReport};
use super::s3::ObjectInfo;

/// What a download is checked against: the object's full SHA-256 when it has one; its
/// composite SHA-256 when the server also lists its part sizes (multipart objects
/// uploaded with SHA-256 part checksums); else its ETag when that is an MD5 (single-part
/// objects); else only its size (a multipart object without checksums).
enum Verifier {
    Sha256(Sha256, String),
    Composite(CompositeSha256),
    Md5(Md5, String),
    SizeOnly,
}

impl Verifier {
    /// `part_sizes`: the object's part sizes in order, when the server listed them.
    fn for_object(info: &ObjectInfo, part_sizes: Option<&[u64]>) -> Self {
        if let Some(sha) = info.full_object_sha256() {
            Verifier::Sha256(Sha256::new(), sha.to_owned())
        } else if let (Some(sha), Some(sizes)) = (info.composite_sha256(), part_sizes) {
            Verifier::Composite(CompositeSha256::new(sizes.to_vec(), sha.to_owned()))
        } else if let Some(md5) = info.md5_hex() {
            Verifier::Md5(Md5::new(), md5)
        } else {
            Verifier::SizeOnly
        }
    }

    fn update(&mut self, b: &[u8]) {
        match self {
            Verifier::Sha256(h, _) => h.update(b),
            Verifier::Composite(c) => c.update(b),
            Verifier::Md5(h, _) => h.update(b),
            Verifier::SizeOnly => {}
        }
    }

    fn check(self) -> anyhow::Result<()> {
        match self {
            Verifier::Sha256(h, want) => {
                let got = B64.encode(h.finalize());
                if got != want {
                    bail!("SHA-256 mismatch: the object's is {want}, the bytes received hash to {got}");
                }
            }
            Verifier::Composite(c) => c.check()?,
            Verifier::Md5(h, want) => {
                let got = hex::encode(h.finalize());
                if got != want {
                    bail!("MD5 mismatch: the object's ETag is {want}, the bytes received hash to {got}");
                }
            }
            Verifier::SizeOnly => {}
        }
        Ok(())
    }
}

/// S3's COMPOSITE SHA-256 of a multipart object, `<base64>-N`: the SHA-256 of the
/// concatenated SHA-256 digests of its N parts, computed over the bytes as they stream
/// in, cut at the part sizes.
struct CompositeSha256 {
    sizes: Vec<u64>,
    want: String,
    /// The part being hashed, and how many of its bytes are still to come.
    part: usize,
    left: u64,
    hasher: Sha256,
    digests: Vec<u8>,
    /// More bytes came than the parts add up to.
    overrun: bool,
}

impl CompositeSha256 {
    fn new(sizes: Vec<u64>, want: String) -> Self {
        let left = sizes.first().copied().unwrap_or(0);
        Self {
            sizes,
            want,
            part: 0,
            left,
            hasher: Sha256::new(),
            digests: Vec::new(),
            overrun: false,
        }
    }

    /// Closes every part whose bytes are all in (an empty part at once).
    fn close_finished_parts(&mut self) {
        while self.part < self.sizes.len() && self.left == 0 {
            self.digests.extend_from_slice(&self.hasher.finalize_reset());
            self.part += 1;
            self.left = self.sizes.get(self.part).copied().unwrap_or(0);
        }
    }

    fn update(&mut self, mut b: &[u8]) {
        while !b.is_empty() {
            self.close_finished_parts();
            if self.part >= self.sizes.len() {
                self.overrun = true;
                return;
            }
            let n = usize::try_from(self.left).unwrap_or(usize::MAX).min(b.len());
            self.hasher.update(&b[..n]);
            self.left -= n as u64;
            b = &b[n..];
        }
    }

    fn check(mut self) -> anyhow::Result<()> {
        self.close_finished_parts();
        if self.overrun || self.part != self.sizes.len() {
            bail!(
                "size mismatch: the bytes received are not the object's {} parts",
                self.sizes.len()
            );
        }
        let got = format!("{}-{}", B64.encode(Sha256::digest(&self.digests)), self.sizes.len());
        if got != self.want {
            bail!(
                "SHA-256 mismatch: the object's composite checksum is {}, the bytes received give {got}",
                self.want
            );
        }
        Ok(())
    }
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The partial file of a download to `local`, and the file beside it naming the ETag the
/// partial bytes belong to.
pub fn partial_paths(local: &Path) -> (PathBuf, PathBuf) {
    (
        with_suffix(local, ".fastgate-part"),
        with_suffix(local, ".fastgate-part.etag"),
    )
}

/// Downloads `bucket`/`key` to `local`, `what` naming the transfer in the output.
pub async fn download(ctx: &Ctx, bucket: &str, key: &str, local: &Path, what: &str) -> anyhow::Result<()> {
    let info = ctx.s3.head(bucket, key).await?;
    let part_sizes = match info.composite_sha256() {
        Some(_) => ctx.s3.part_sizes(bucket, key, &info.etag).await?,
        None => None,
    };
    let progress = ctx.out.start(what, info.size);
    let report = fetch(ctx, bucket, key, local, &info, part_sizes.as_deref(), &progress)
        .await
        .with_context(|| format!("downloading s3://{bucket}/{key} to {}", local.display()))?;
    ctx.out.finish(what, &progress, report);
    Ok(())
}

/// Hashes the first `len` bytes of the partial file, on a blocking thread.
async fn hash_prefix(tmp: PathBuf, len: u64, mut v: Verifier) -> anyhow::Result<Verifier> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let f = std::fs::File::open(&tmp).with_context(|| format!("opening {}", tmp.display()))?;
        let mut r = f.take(len);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(v);
            }
            v.update(&buf[..n]);
        }
    })
    .await
    .context("the hashing task failed")?
}

async fn fetch(
    ctx: &Ctx,
    bucket: &str,
    key: &str,
    local: &Path,
    info: &ObjectInfo,
    part_sizes: Option<&[u64]>,
    progress: &FileProgress,
) -> anyhow::Result<FileReport> {
    if let Some(dir) = local.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let (tmp, etag_file) = partial_paths(local);
    let kept_etag = tokio::fs::read_to_string(&etag_file).await.ok();
    let mut offset = match tokio::fs::metadata(&tmp).await {
        Ok(m) if kept_etag.as_deref() == Some(info.etag.as_str()) && m.len() <= info.size => m.len(),
        _ => 0,
    };
    let mut restarted = false;
    loop {
        if offset == 0 {
            tokio::fs::write(&etag_file, &info.etag)
                .await
                .with_context(|| format!("writing {}", etag_file.display()))?;
            tokio::fs::write(&tmp, b"")
                .await
                .with_context(|| format!("creating {}", tmp.display()))?;
        }
        let mut verifier = Verifier::for_object(info, part_sizes);
        if offset > 0 {
            verifier = hash_prefix(tmp.clone(), offset, verifier).await?;
        }
        let mut received = 0u64;
        if offset < info.size || info.size == 0 {
            let resp = ctx.s3.get_from(bucket, key, offset, &info.etag).await?;
            let resp = ctx.s3.get_ok(bucket, key, resp).await?;
            // 412: the object changed since the HEAD (or since the partial file); a 200 to a
            // Range request: the server ignored the range. Either way, start from zero once.
            let ignored_range = offset > 0 && resp.status() != StatusCode::PARTIAL_CONTENT;
            if resp.status() == StatusCode::PRECONDITION_FAILED || ignored_range {
                if restarted {
                    bail!("the object changed during the download ({})", resp.status());
                }
                restarted = true;
                offset = 0;
                continue;
            }
            progress.inc(offset);
            let mut out = tokio::fs::OpenOptions::new()
                .append(true)
                .open(&tmp)
                .await
                .with_context(|| format!("opening {}", tmp.display()))?;
            let mut body = resp.into_body();
            while let Some(frame) = body.frame().await {
                let frame = frame.context("receiving the object")?;
                if let Ok(data) = frame.into_data() {
                    verifier.update(&data);
                    out.write_all(&data)
                        .await
                        .with_context(|| format!("writing {}", tmp.display()))?;
                    received += data.len() as u64;
                    progress.inc(data.len() as u64);
                }
            }
            out.flush().await?;
            out.sync_all().await?;
        } else {
            progress.inc(offset);
        }
        let total = offset + received;
        if total != info.size {
            // Kept: the next run resumes from here.
            bail!("received {total} of {} bytes; run again to resume", info.size);
        }
        if let Err(e) = verifier.check() {
            let _ = tokio::fs::remove_file(&tmp).await;
            let _ = tokio::fs::remove_file(&etag_file).await;
            return Err(e);
        }
        tokio::fs::rename(&tmp, local)
            .await
            .with_context(|| format!("renaming {} to {}", tmp.display(), local.display()))?;
        let _ = tokio::fs::remove_file(&etag_file).await;
        return Ok(FileReport {
            bytes_sent: received,
            bytes_skipped: offset,
            parts_resumed: 0,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn composite_of(parts: &[&[u8]]) -> String {
        let digests: Vec<u8> = parts.iter().flat_map(|p| Sha256::digest(p).to_vec()).collect();
        format!("{}-{}", B64.encode(Sha256::digest(&digests)), parts.len())
    }

    #[test]
    fn a_composite_checksum_is_checked_whatever_the_cuts_of_the_stream() {
        let (a, b, c) = (vec![1u8; 700], vec![2u8; 700], vec![3u8; 123]);
        let want = composite_of(&[&a, &b, &c]);
        let all = [a.as_slice(), &b, &c].concat();
        for cut in [1, 7, 700, 701, 5000] {
            let mut v = CompositeSha256::new(vec![700, 700, 123], want.clone());
            for chunk in all.chunks(cut) {
                v.update(chunk);
            }
            v.check().unwrap_or_else(|e| panic!("cut {cut}: {e}"));
        }
    }

    #[test]
    fn a_composite_checksum_refuses_changed_short_or_long_bytes() {
        let (a, b) = (vec![1u8; 10], vec![2u8; 5]);
        let want = composite_of(&[&a, &b]);
        let mut changed = [a.as_slice(), &b].concat();
        changed[12] ^= 1;
        let full = [a.as_slice(), &b].concat();
        let long = [full.as_slice(), b"x"].concat();
        for bytes in [changed.as_slice(), &full[..14], &long] {
            let mut v = CompositeSha256::new(vec![10, 5], want.clone());
            v.update(bytes);
            assert!(v.check().is_err(), "{} bytes accepted", bytes.len());
        }
        // The same bytes cut into other parts are another object.
        let mut v = CompositeSha256::new(vec![5, 10], want);
        v.update(&full);
        assert!(v.check().is_err());
    }
}
