//! `fastgate`: an S3-compatible object gateway over a FastDFS-like storage layer.
//!
//! The command line only: `serve` and `convert-meta` dispatch into the `fastgate` library,
//! `bench` into the `fastgate-bench` crate; `admin` (`admin_cli.rs`) is a client of a
//! running server's HTTP endpoints, through fastgate-client; `cp` (`cp/`) copies files
//! to and from any S3 server, resumably.

#![forbid(unsafe_code)]

mod admin_cli;
mod cp;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use fastgate::{config, server};

/// mimalloc instead of the system allocator: requests allocate many small short-lived
/// buffers across threads, where glibc's malloc showed up as ~10% of a small-PUT
/// profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(
    name = "fastgate",
    version,
    about = "An S3-compatible object gateway with instant and resumable upload"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the S3 server.
    Serve(ServeArgs),
    /// Run a storage node: this machine's store paths, serving a cluster's gateways
    /// (`[cluster]` in their config) over an internal API.
    Storage(StorageArgs),
    /// Inspect or maintain a running server.
    Admin(admin_cli::AdminArgs),
    /// Load-generate against any S3 endpoint (warp-like): put, get, mixed, list, multipart, reupload.
    Bench(fastgate_bench::BenchArgs),
    /// Copy files to or from any S3 server (resumable multipart uploads, resumed downloads):
    /// `fastgate cp LOCAL s3://BUCKET/KEY`, `fastgate cp s3://BUCKET/KEY LOCAL`.
    Cp(cp::CpArgs),
    /// Convert a stopped server's metadata to another engine (the old one is kept as a backup).
    ConvertMeta(ConvertMetaArgs),
}

#[derive(clap::Args, Debug)]
struct ConvertMetaArgs {
    /// The server's data dir (default: the config file's `data_dir`, else ./fastgate-data).
    #[arg(long, env = "FASTGATE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The server's TOML configuration file, to find its data dir.
    #[arg(long, env = "FASTGATE_CONFIG")]
    config: Option<PathBuf>,
    /// The engine to convert to: sled, fjall or postgres (then with --meta-url).
    #[arg(long)]
    to: fastgate_model::MetaEngine,
    /// The empty PostgreSQL database to move the metadata into, for `--to postgres`.
    #[arg(long, env = "FASTGATE_META_URL")]
    meta_url: Option<String>,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "FASTGATE_LISTEN")]
    listen: Option<String>,
    /// Address and port of the Prometheus metrics listener (GET /metrics, no
    /// authentication; default 127.0.0.1:9464), or "off".
    #[arg(long, env = "FASTGATE_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// Address and port of the web console (default 127.0.0.1:9001; HTTPS when TLS is
    /// configured), or "off".
    #[arg(long, env = "FASTGATE_CONSOLE_LISTEN")]
    console_listen: Option<String>,
    /// Where data and metadata live (the default single store path is `<dir>/M00`).
    #[arg(long, env = "FASTGATE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Access key of the root user (generated and printed when unset).
    #[arg(long, env = "FASTGATE_ACCESS_KEY")]
    access_key: Option<String>,
    /// Secret key of the root user.
    #[arg(long, env = "FASTGATE_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// TOML configuration file: groups, store paths, placement, users, instant upload, GC
    /// (see deploy/fastgate.toml).
    #[arg(long, env = "FASTGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Domain for virtual-hosted-style requests (`bucket.DOMAIN`); may repeat.
    #[arg(long = "domain", env = "FASTGATE_DOMAIN", value_delimiter = ',')]
    domains: Vec<String>,
    /// Region reported to clients.
    #[arg(long, env = "FASTGATE_REGION")]
    region: Option<String>,
    /// Metadata engine for a new data directory: sled (default) or fjall. An existing
    /// directory must be opened with the engine that created it.
    #[arg(long, env = "FASTGATE_META_ENGINE")]
    meta_engine: Option<fastgate_model::MetaEngine>,
    /// The database of the postgres engine, e.g.
    /// `postgres://fastgate:secret@db:5432/fastgate` (also `[metadata] url`).
    #[arg(long, env = "FASTGATE_META_URL")]
    meta_url: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (leaf first; also `[tls] cert`).
    /// SIGHUP reloads it and its key without dropping connections.
    #[arg(long, env = "FASTGATE_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of `--tls-cert` (also `[tls] key`).
    #[arg(long, env = "FASTGATE_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// The secret shared with the storage nodes (over `[cluster] secret`).
    #[arg(long, env = "FASTGATE_CLUSTER_SECRET", hide_env_values = true)]
    cluster_secret: Option<String>,
}

#[derive(clap::Args, Debug)]
struct StorageArgs {
    /// Address and port of the internal API (default 127.0.0.1:9100).
    #[arg(long, env = "FASTGATE_LISTEN")]
    listen: Option<String>,
    /// Where chunks live (the default single store path is `<dir>/M00`).
    #[arg(long, env = "FASTGATE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file: store paths, placement among them, reserved space,
    /// write buffers (the keys of `serve`'s file; see deploy/fastgate.toml).
    #[arg(long, env = "FASTGATE_CONFIG")]
    config: Option<PathBuf>,
    /// The secret the cluster's gateways sign every request with (at least 16 characters).
    #[arg(long, env = "FASTGATE_CLUSTER_SECRET", hide_env_values = true)]
    cluster_secret: Option<String>,
    /// Join the cluster at run time through these gateways (`http://HOST:PORT`, comma
    /// separated; the first that answers takes the registration, which every gateway over
    /// the same metadata then sees), instead of being listed in their `[cluster]` config.
    /// Needs `--group`.
    #[arg(long, env = "FASTGATE_JOIN", value_delimiter = ',')]
    join: Vec<String>,
    /// The group to join (one of the gateways' `[[cluster.groups]]`).
    #[arg(long, env = "FASTGATE_GROUP")]
    group: Option<String>,
    /// The URL gateways reach this node at (default: `http://` and the listen address,
    /// which must then not be a wildcard address).
    #[arg(long, env = "FASTGATE_ADVERTISE")]
    advertise: Option<String>,
}

fn main() -> anyhow::Result<()> {
    // Also where the system hands out huge pages without being asked (THP `always`):
    // see the `no_thp` note on mimalloc in Cargo.toml. Failing (an old kernel) only
    // costs latency.
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let cli = Cli::parse();
    // `cp` speaks to its user through its own output (bar, lines, `--quiet`, `--json`):
    // its log says only what went wrong unless RUST_LOG asks for more.
    let default_filter = match cli.command {
        Command::Cp(_) => "warn",
        _ => "info,s3s=warn,fjall=warn,lsm_tree=warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)))
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve(a) => runtime()?.block_on(serve(a)),
        Command::Storage(a) => runtime()?.block_on(storage(a)),
        Command::Admin(a) => runtime()?.block_on(admin_cli::run(a)),
        Command::Bench(a) => runtime()?.block_on(fastgate_bench::run(a)),
        Command::Cp(a) => runtime()?.block_on(cp::run(a)),
        // Offline and blocking from start to end: no runtime.
        Command::ConvertMeta(a) => convert_meta(a),
    }
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

async fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let settings = config::Settings::resolve(config::Overrides {
        listen: a.listen,
        metrics_listen: a.metrics_listen,
        console_listen: a.console_listen,
        data_dir: a.data_dir,
        access_key: a.access_key,
        secret_key: a.secret_key,
        config: a.config,
        domains: a.domains,
        region: a.region,
        meta_engine: a.meta_engine,
        meta_url: a.meta_url,
        tls_cert: a.tls_cert,
        tls_key: a.tls_key,
        cluster_secret: a.cluster_secret,
    })?;
    server::serve(settings).await
}

async fn storage(a: StorageArgs) -> anyhow::Result<()> {
    let s = config::NodeSettings::resolve(a.listen, a.data_dir, a.config.as_deref(), a.cluster_secret)?;
    std::fs::create_dir_all(&s.data_dir).with_context(|| format!("creating {}", s.data_dir.display()))?;
    // The chunk layer clears its temp files when it opens: only one process may use
    // the store paths.
    let lock = std::fs::File::create(s.data_dir.join("storage.lock"))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .with_context(|| format!("{} is used by another storage node", s.data_dir.display()))?;
    let chunks = fastgate_model::LocalChunks::open(&s.chunks).context("opening the store paths")?;
    let node = fastgate_cluster::node::Node::new(chunks, s.secret.clone()).context("counting the chunks")?;
    let listener = tokio::net::TcpListener::bind(&s.listen)
        .await
        .with_context(|| format!("binding {}", s.listen))?;
    let addr = listener.local_addr()?;
    if !a.join.is_empty() {
        let group = a.group.context("--join needs --group: the group this node joins")?;
        let advertise = match a.advertise {
            Some(url) => url,
            None if addr.ip().is_unspecified() => {
                anyhow::bail!("--join with a wildcard --listen address needs --advertise http://HOST:PORT")
            }
            None => format!("http://{addr}"),
        };
        fastgate_cluster::join::check_url(&advertise).map_err(|e| anyhow::anyhow!("--advertise {e}"))?;
        tokio::spawn(fastgate_cluster::join::keep_joined(
            a.join,
            group,
            advertise,
            s.secret.clone(),
        ));
    }
    // Scripts and the tests read the address from this line.
    println!("fastgate storage listening on http://{addr}");
    println!("  data dir:   {}", s.data_dir.display());
    fastgate_cluster::node::serve(node, listener, server::shutdown_signal()).await;
    drop(lock);
    println!("fastgate storage shutting down");
    Ok(())
}

fn convert_meta(a: ConvertMetaArgs) -> anyhow::Result<()> {
    let from_file = match &a.config {
        Some(p) => config::FileConfig::load(p)?.data_dir,
        None => None,
    };
    let data_dir = a
        .data_dir
        .or(from_file)
        .unwrap_or_else(|| PathBuf::from("fastgate-data"));
    let meta_dir = fastgate_model::StorageConfig::single(&data_dir).meta_dir;
    if a.to == fastgate_model::MetaEngine::Postgres {
        let url = a
            .meta_url
            .filter(|u| !u.is_empty())
            .context("--to postgres needs the database: --meta-url or FASTGATE_META_URL")?;
        let done = fastgate_model::meta::convert_to_database(&meta_dir, &url)?;
        println!(
            "copied {} keys from {} ({}) into the postgres database",
            done.keys,
            meta_dir.display(),
            done.from
        );
        println!(
            "{} is left as it was (delete it once the server runs well)",
            meta_dir.display()
        );
        println!("start the server with --meta-engine postgres --meta-url <the same URL>");
        return Ok(());
    }
    let done = fastgate_model::meta::convert(&meta_dir, a.to)?;
    println!(
        "converted {} keys in {} from {} to {}",
        done.keys,
        meta_dir.display(),
        done.from,
        a.to
    );
    println!(
        "the {} metadata is kept in {} (delete it once the server runs well)",
        done.from,
        done.backup.display()
    );
    println!(
        "start the server with --meta-engine {0} (or FASTGATE_META_ENGINE={0}, or [metadata] engine = \"{0}\")",
        a.to
    );
    Ok(())
}
