//! `fastgate cp`: copies files to and from any S3 server, as a resumable multipart
//! client. Uploads below the part size are one PutObject; larger ones are multipart
//! uploads whose state (upload id, part hashes) is kept in a local file, so a re-run
//! after a kill sends only the parts the server lacks (`ListParts`). Downloads go to a
//! partial file resumed with `Range`, verified, then renamed into place. Before each
//! body goes out, [`probe::Probe`] asks the server whether it already has it (issue 18's
//! instant-upload probe; servers without it are no longer asked after their first refusal).

mod aws_config;
mod download;
mod output;
mod probe;
mod s3;
mod state;
mod upload;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use fastgate_client::{Client, Signer};

use output::Output;

/// S3's smallest part but the last.
const MIN_PART_SIZE: u64 = 5 << 20;

#[derive(clap::Args, Debug)]
pub struct CpArgs {
    /// What to copy: a local path or s3://BUCKET/KEY.
    pub source: String,
    /// Where to: s3://BUCKET/KEY (or s3://BUCKET/PREFIX/) or a local path.
    pub dest: String,
    /// Copy a directory tree to a prefix, or every object under a prefix to a directory.
    #[arg(long, short = 'r')]
    pub recursive: bool,
    /// The S3 endpoint (http://host:port or https://host:port); else AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or
    /// the profile's endpoint_url.
    #[arg(long)]
    pub endpoint_url: Option<String>,
    /// PEM certificates to trust for an https endpoint besides the system's roots (a
    /// private CA, a self-signed certificate), as the aws cli's `--ca-bundle`.
    #[arg(long, env = "AWS_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
    /// The profile of ~/.aws/credentials and ~/.aws/config (default: AWS_PROFILE, else
    /// "default"). Given, it wins over AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
    #[arg(long)]
    pub profile: Option<String>,
    /// The region to sign for; else AWS_REGION, AWS_DEFAULT_REGION, the profile's region,
    /// us-east-1.
    #[arg(long)]
    pub region: Option<String>,
    /// Files at least this large are sent as multipart uploads of parts this size
    /// (at least 5MiB; suffixes K, M, G, KiB, MiB, GiB).
    #[arg(long, default_value = "8MiB", value_parser = parse_size)]
    pub part_size: u64,
    /// Parts in flight at once (memory: about part size times this).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Where the resume state of multipart uploads is kept (default:
    /// ~/.cache/fastgate/cp).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print one JSON summary on stdout: files, bytes_sent, bytes_skipped,
    /// parts_resumed, seconds.
    #[arg(long)]
    pub json: bool,
}

/// `8MiB`, `5M`, `1048576`: sizes in binary units, as the aws cli reads them.
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{s:?}: not a size"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("{other:?}: unknown unit (K, M, G, KiB, MiB, GiB)")),
    };
    let size = n.checked_mul(mult).ok_or_else(|| format!("{s:?}: too large"))?;
    if size < MIN_PART_SIZE {
        return Err(format!("{s:?}: S3 parts are at least 5MiB"));
    }
    Ok(size)
}

/// A side of the copy.
#[derive(Debug, PartialEq, Eq)]
enum Location {
    Local(PathBuf),
    S3 { bucket: String, key: String },
}

impl Location {
    fn parse(s: &str) -> anyhow::Result<Self> {
        let Some(rest) = s.strip_prefix("s3://") else {
            return Ok(Location::Local(PathBuf::from(s)));
        };
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            bail!("{s:?}: no bucket (s3://BUCKET/KEY)");
        }
        Ok(Location::S3 {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }
}

/// Everything a transfer needs.
pub struct Ctx {
    s3: s3::S3,
    probe: probe::Probe,
    endpoint: String,
    part_size: u64,
    concurrency: usize,
    state_dir: PathBuf,
    out: Output,
    /// Test hook (`FASTGATE_CP_STOP_AFTER_PARTS`): fail after sending this many parts,
    /// leaving the upload incomplete, as a killed `cp` would.
    stop_after_parts: Option<u64>,
}

pub async fn run(a: CpArgs) -> anyhow::Result<()> {
    let src = Location::parse(&a.source)?;
    let dst = Location::parse(&a.dest)?;
    let flags = aws_config::Flags {
        endpoint_url: a.endpoint_url.as_deref(),
        profile: a.profile.as_deref(),
        region: a.region.as_deref(),
    };
    let r = aws_config::resolve(&flags, &|k| std::env::var(k).ok())?;
    let signer = match &r.session_token {
        Some(t) => Signer::with_session_token(&r.access_key, &r.secret_key, t),
        None => Signer::new(&r.access_key, &r.secret_key),
    }
    .with_region(&r.region);
    let concurrency = a.concurrency.max(1);
    let client = Client::with_ca_bundle(&r.endpoint, Some(signer), concurrency, a.ca_bundle.as_deref())?;
    let s3 = s3::S3::new(client, &r.endpoint);
    let ctx = Ctx {
        probe: probe::Probe::new(s3.clone()),
        s3,
        endpoint: r.endpoint.clone(),
        part_size: a.part_size,
        concurrency,
        state_dir: a.state_dir.clone().unwrap_or_else(state::default_dir),
        out: Output::new(a.quiet, a.json),
        stop_after_parts: std::env::var("FASTGATE_CP_STOP_AFTER_PARTS")
            .ok()
            .and_then(|v| v.parse().ok()),
    };
    match (src, dst) {
        (Location::Local(p), Location::S3 { bucket, key }) if a.recursive => {
            upload_tree(&ctx, &p, &bucket, &key).await?
        }
        (Location::Local(p), Location::S3 { bucket, mut key }) => {
            if key.is_empty() || key.ends_with('/') {
                let name = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .with_context(|| format!("{}: no UTF-8 file name to use as the key", p.display()))?;
                key.push_str(name);
            }
            let what = format!("upload: {} -> s3://{bucket}/{key}", p.display());
            upload::upload(&ctx, &p, &bucket, &key, &what).await?;
        }
        (Location::S3 { bucket, key }, Location::Local(p)) if a.recursive => {
            download_tree(&ctx, &bucket, &key, &p).await?
        }
        (Location::S3 { bucket, key }, Location::Local(mut p)) => {
            let name = key.rsplit('/').next().unwrap_or_default();
            if name.is_empty() {
                bail!("s3://{bucket}/{key}: no object named (use --recursive for a prefix)");
            }
            let is_dir = tokio::fs::metadata(&p).await.is_ok_and(|m| m.is_dir());
            if a.dest.ends_with('/') || is_dir {
                p.push(name);
            }
            let what = format!("download: s3://{bucket}/{key} -> {}", p.display());
            download::download(&ctx, &bucket, &key, &p, &what).await?;
        }
        _ => bail!("one of SOURCE and DEST must be s3://BUCKET/KEY and the other a local path"),
    }
    ctx.out.done()
}

/// `prefix` as a directory: empty, or ending in `/`.
fn as_dir_prefix(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    }
}

/// Every regular file under `root` with its path relative to it, `/`-separated, sorted.
fn walk(root: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            let meta = std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
            if meta.is_dir() {
                dirs.push(path);
            } else if meta.is_file() {
                let rel = path.strip_prefix(root).context("walking the tree")?;
                let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
                let parts = parts.with_context(|| format!("{}: not a UTF-8 name", path.display()))?;
                out.push((path.clone(), parts.join("/")));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

async fn upload_tree(ctx: &Ctx, root: &Path, bucket: &str, prefix: &str) -> anyhow::Result<()> {
    let owned = root.to_owned();
    let files = tokio::task::spawn_blocking(move || walk(&owned))
        .await
        .context("the directory walk failed")??;
    let prefix = as_dir_prefix(prefix);
    for (path, rel) in files {
        let key = format!("{prefix}{rel}");
        let what = format!("upload: {} -> s3://{bucket}/{key}", path.display());
        upload::upload(ctx, &path, bucket, &key, &what).await?;
    }
    Ok(())
}

/// The local path of a key below a prefix, or `None` for a key that is no file name
/// (a directory marker) or would leave the destination directory (`..`, empty segments).
fn local_path_of(root: &Path, rel: &str) -> Option<PathBuf> {
    let mut p = root.to_owned();
    for seg in rel.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." || seg.contains('\\') {
            return None;
        }
        p.push(seg);
    }
    Some(p)
}

async fn download_tree(ctx: &Ctx, bucket: &str, prefix: &str, root: &Path) -> anyhow::Result<()> {
    let prefix = as_dir_prefix(prefix);
    for obj in ctx.s3.list_objects(bucket, &prefix).await? {
        let rel = obj.key.strip_prefix(&prefix).unwrap_or(&obj.key);
        let Some(local) = local_path_of(root, rel) else {
            if !rel.ends_with('/') {
                eprintln!("skipped s3://{bucket}/{}: its key is no safe local path", obj.key);
            }
            continue;
        };
        let what = format!("download: s3://{bucket}/{} -> {}", obj.key, local.display());
        download::download(ctx, bucket, &obj.key, &local, &what).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_binary_units_and_refuse_parts_below_5mib() {
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert_eq!(parse_size("5M"), Ok(5 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("1MiB").is_err());
        assert!(parse_size("8 parsecs").is_err());
    }

    #[test]
    fn locations_are_s3_urls_or_local_paths() {
        assert_eq!(
            Location::parse("s3://b/a/k").unwrap(),
            Location::S3 {
                bucket: "b".into(),
                key: "a/k".into()
            }
        );
        assert_eq!(
            Location::parse("s3://b").unwrap(),
            Location::S3 {
                bucket: "b".into(),
                key: String::new()
            }
        );
        assert_eq!(Location::parse("./x").unwrap(), Location::Local("./x".into()));
        assert!(Location::parse("s3:///k").is_err());
    }

    #[test]
    fn keys_that_would_leave_the_destination_directory_are_not_local_paths() {
        let root = Path::new("/d");
        assert_eq!(local_path_of(root, "a/b"), Some(PathBuf::from("/d/a/b")));
        for bad in ["../x", "a/../../x", "a//b", "a/", "", "./a"] {
            assert_eq!(local_path_of(root, bad), None, "{bad}");
        }
    }
}
