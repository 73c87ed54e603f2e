//! Command-line surface of `fastgate bench` and the pure parsers behind it (sizes, durations, mixed ratios).
//!
//! Parsers live here, next to the flags, so they can be unit-tested without a server.

use std::time::Duration;

use anyhow::{Context, Result, bail};

/// Which load to generate. Each one is a module under `workload/`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// PUT objects of `--size` (unique content per object unless `--same-content`).
    Put,
    /// Prepare `--objects` objects (untimed), then GET them.
    Get,
    /// Prepare objects, then a get/put/delete/stat mix chosen by `--ratio`.
    Mixed,
    /// Create `--keys` keys as `prefix/dir-i/obj-j`, then time ListObjectsV2 walks (flat and with delimiter `/`).
    List,
    /// Multipart uploads of `--size` objects in parts of `--part-size`, parts uploaded in parallel.
    Multipart,
    /// Upload one content, then the same content under new keys with `Expect: 100-continue` (instant upload).
    Reupload,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Put => "put",
            Workload::Get => "get",
            Workload::Mixed => "mixed",
            Workload::List => "list",
            Workload::Multipart => "multipart",
            Workload::Reupload => "reupload",
        }
    }
}

/// Load-generate against any S3 endpoint (warp-like). Works with any SigV4 S3 server over plain HTTP,
/// path-style addressing, region us-east-1.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Workload to run.
    #[arg(value_enum)]
    pub workload: Workload,

    /// S3 endpoint (http:// only; the client has no TLS on purpose, to stay lean), or several separated by
    /// commas (gateways over one database, nodes of one cluster): ops, preloads included, spread over them
    /// round-robin.
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    pub endpoint: String,

    /// Access key (falls back to AWS_ACCESS_KEY_ID).
    #[arg(long, env = "FASTGATE_ACCESS_KEY")]
    pub access_key: Option<String>,

    /// Secret key (falls back to AWS_SECRET_ACCESS_KEY).
    #[arg(long, env = "FASTGATE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Bucket to use; created when missing (and then deleted again unless `--keep`).
    #[arg(long, default_value = "fastgate-bench")]
    pub bucket: String,

    /// Object size, e.g. 4KiB, 64MiB, 1GiB (KiB/MiB/GiB and K/M/G are binary, KB/MB/GB decimal).
    /// Default: 1MiB (put/get/mixed/reupload), 0 (list), 128MiB (multipart).
    #[arg(long, value_parser = parse_size)]
    pub size: Option<u64>,

    /// Parallel requests in flight (for multipart: parallel parts of one object).
    #[arg(long, short = 'c', default_value_t = 8)]
    pub concurrency: usize,

    /// Run for this long (e.g. 10s, 500ms, 2m). Default 10s unless `--count` is given.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Run exactly this many operations (list: full walks per mode; multipart: objects) instead of `--duration`.
    #[arg(long)]
    pub count: Option<u64>,

    /// Objects to prepare for get/mixed (default: `--count`, else 100, capped at 2GiB of data).
    #[arg(long)]
    pub objects: Option<u64>,

    /// get, mixed: time first reads. By default every prepared object is read once, untimed, before
    /// the timed operations, so that they measure serving cached objects on every server alike (fastgate writes
    /// uploads around the page cache; garage and s3s-fs have theirs cached by the write).
    #[arg(long)]
    pub cold: bool,

    /// Random (incompressible) content. This is the default; the flag exists for explicitness.
    #[arg(long, conflicts_with = "fixed")]
    pub random: bool,

    /// Fixed byte pattern instead of random bytes (compressible).
    #[arg(long)]
    pub fixed: bool,

    /// Give every object identical bytes (exercises server-side dedup; default is unique content per object).
    #[arg(long)]
    pub same_content: bool,

    /// Seed for the content generator and op choice (default: random, printed).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Multipart part size (min 5MiB for all parts but the last, per S3).
    #[arg(long, value_parser = parse_size, default_value = "16MiB")]
    pub part_size: u64,

    /// Number of keys the `list` workload creates.
    #[arg(long, default_value_t = 2000)]
    pub keys: u64,

    /// Keys per `dir-i/` directory for `list`.
    #[arg(long, default_value_t = 100)]
    pub keys_per_dir: u64,

    /// Mixed ratio, as `get=45,put=15,delete=10,stat=30` or `45:15:10:30` (get:put:delete:stat).
    #[arg(long, default_value = "get=45,put=15,delete=10,stat=30", value_parser = parse_ratio)]
    pub ratio: Ratio,

    /// Key prefix (default: `bench-<random>`), so concurrent runs do not collide.
    #[arg(long)]
    pub prefix: Option<String>,

    /// GET: hash each received body and compare with the uploaded SHA-256 (costs client CPU).
    #[arg(long)]
    pub verify: bool,

    /// Write results (numbers + parameters) as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,

    /// Do not delete what the benchmark wrote.
    #[arg(long)]
    pub keep: bool,

    /// No once-a-second progress line on stderr.
    #[arg(long)]
    pub quiet: bool,

    /// PUT with `x-amz-server-side-encryption: AES256` (SSE-S3): objects encrypted at rest,
    /// and GETs of them decrypted (the server needs a master key).
    #[arg(long)]
    pub sse: bool,
}

/// Operation mix for the `mixed` workload, in relative weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ratio {
    pub get: u32,
    pub put: u32,
    pub delete: u32,
    pub stat: u32,
}

impl Ratio {
    pub fn total(&self) -> u32 {
        self.get + self.put + self.delete + self.stat
    }
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "get={},put={},delete={},stat={}",
            self.get, self.put, self.delete, self.stat
        )
    }
}

/// Parses `get=45,put=15,delete=10,stat=30` (any subset, missing = 0) or `45:15:10:30`.
pub fn parse_ratio(s: &str) -> Result<Ratio> {
    let mut r = Ratio {
        get: 0,
        put: 0,
        delete: 0,
        stat: 0,
    };
    if s.contains('=') {
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .with_context(|| format!("bad ratio item {part:?}"))?;
            let v: u32 = v.trim().parse().with_context(|| format!("bad ratio weight {v:?}"))?;
            match k.trim().to_ascii_lowercase().as_str() {
                "get" => r.get = v,
                "put" => r.put = v,
                "delete" | "del" => r.delete = v,
                "stat" | "head" => r.stat = v,
                other => bail!("unknown op {other:?} in ratio (get, put, delete, stat)"),
            }
        }
    } else {
        let w: Vec<u32> = s
            .split(':')
            .map(|p| {
                p.trim()
                    .parse::<u32>()
                    .with_context(|| format!("bad ratio weight {p:?}"))
            })
            .collect::<Result<_>>()?;
        let [get, put, delete, stat] = w[..] else {
            bail!("ratio needs 4 weights get:put:delete:stat, got {s:?}")
        };
        r = Ratio { get, put, delete, stat };
    }
    if r.total() == 0 {
        bail!("ratio weights sum to 0");
    }
    Ok(r)
}

/// Parses sizes such as `4KiB`, `64MiB`, `1GiB`, `1.5GiB`, `4k`, `10MB`, `123`.
/// Binary for `KiB/MiB/GiB/TiB` and for the bare letters `K/M/G/T` (the dd/curl habit), decimal for `KB/MB/GB/TB`.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        bail!("size {s:?} has no number");
    }
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => bail!("unknown size unit {other:?} in {s:?}"),
    };
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult).with_context(|| format!("size {s:?} overflows"));
    }
    let f: f64 = num.parse().with_context(|| format!("bad number in size {s:?}"))?;
    let v = f * mult as f64;
    if !v.is_finite() || v < 0.0 || v > u64::MAX as f64 {
        bail!("size {s:?} out of range");
    }
    Ok(v.round() as u64)
}

/// Parses durations such as `10s`, `500ms`, `2m`, `1h`, `1.5s`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().with_context(|| format!("bad number in duration {s:?}"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        other => bail!("unknown duration unit {other:?} in {s:?} (ms, s, m, h)"),
    };
    Duration::try_from_secs_f64(secs).with_context(|| format!("duration {s:?} out of range"))
}

/// Splits `--endpoint` at its commas; fails when it names none or has an empty item.
pub fn parse_endpoints(s: &str) -> Result<Vec<String>> {
    let endpoints: Vec<String> = s.split(',').map(|e| e.trim().to_owned()).collect();
    if endpoints.iter().any(String::is_empty) {
        bail!("empty endpoint in {s:?}");
    }
    Ok(endpoints)
}

/// Human-readable size for report lines (binary units).
pub fn fmt_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if v.fract() == 0.0 {
        format!("{v}{}", UNITS[i])
    } else {
        format!("{v:.2}{}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        assert_eq!(parse_size("123").unwrap(), 123);
        assert_eq!(parse_size("0").unwrap(), 0);
        assert_eq!(parse_size(" 2 MiB ").unwrap(), 2 << 20);
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("99999999999TiB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("3d").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn ratios() {
        let r = parse_ratio("get=45,put=15,delete=10,stat=30").unwrap();
        assert_eq!(
            r,
            Ratio {
                get: 45,
                put: 15,
                delete: 10,
                stat: 30
            }
        );
        assert_eq!(
            parse_ratio("1:2:3:4").unwrap(),
            Ratio {
                get: 1,
                put: 2,
                delete: 3,
                stat: 4
            }
        );
        assert_eq!(
            parse_ratio("put=1").unwrap(),
            Ratio {
                get: 0,
                put: 1,
                delete: 0,
                stat: 0
            }
        );
        assert!(parse_ratio("1:2:3").is_err());
        assert!(parse_ratio("get=0").is_err());
        assert!(parse_ratio("copy=1").is_err());
        assert_eq!(parse_ratio(&r.to_string()).unwrap(), r);
    }

    #[test]
    fn endpoints_are_comma_separated() {
        assert_eq!(parse_endpoints("http://a:1").unwrap(), ["http://a:1"]);
        assert_eq!(
            parse_endpoints("http://a:1, http://b:2").unwrap(),
            ["http://a:1", "http://b:2"]
        );
        assert!(parse_endpoints("").is_err());
        assert!(parse_endpoints("http://a:1,").is_err());
    }

    #[test]
    fn size_format() {
        assert_eq!(fmt_size(4096), "4KiB");
        assert_eq!(fmt_size(64 << 20), "64MiB");
        assert_eq!(fmt_size(1536), "1.50KiB");
    }
}
