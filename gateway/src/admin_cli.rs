//! `fastgate admin`: talks to a running server's `/_fastgate/` endpoints.

use anyhow::{Context as _, bail};
use bytes::Bytes;
use fastgate_client::{Client, EMPTY_SHA256, Signer};
use http_body_util::Full;

#[derive(clap::Args, Debug)]
pub struct AdminArgs {
    /// The server's endpoint.
    #[arg(
        long,
        env = "FASTGATE_ENDPOINT",
        default_value = "http://127.0.0.1:9000",
        global = true
    )]
    pub endpoint: String,
    /// Root access key (for commands that change things).
    #[arg(long, env = "FASTGATE_ACCESS_KEY", global = true)]
    pub access_key: Option<String>,
    /// Root secret key.
    #[arg(long, env = "FASTGATE_SECRET_KEY", global = true, hide_env_values = true)]
    pub secret_key: Option<String>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum AdminCommand {
    /// Print the server's counters: requests, body bytes, instant-upload hits and bytes
    /// saved, garbage collection, stored chunks.
    Stats,
    /// Run one garbage collection pass now (root credentials).
    Gc,
    /// Abort incomplete multipart uploads that are due now (root credentials).
    ExpireUploads,
    /// Rewrap the data key of every chunk sealed under key FROM under key TO (root
    /// credentials). Both keys must be in the server's key file; no chunk is rewritten.
    /// Afterwards FROM may leave the key file (make TO the `master_key` first if FROM
    /// was the master key).
    RotateKey {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
    },
    /// Show each storage group and node of a gateway's `[cluster]`: state, free space,
    /// chunks, chunks it lacks by its last repair and copies recorded as owed to it
    /// (its under-replicated chunks), last contact (root credentials).
    Cluster,
}

async fn request(args: &AdminArgs, method: http::Method, path: &str, signed: bool) -> anyhow::Result<String> {
    let signer = if signed {
        let (Some(ak), Some(sk)) = (&args.access_key, &args.secret_key) else {
            bail!("this command needs --access-key and --secret-key (or FASTGATE_ACCESS_KEY / FASTGATE_SECRET_KEY)");
        };
        Some(Signer::new(ak, sk))
    } else {
        None
    };
    let client = Client::<Full<Bytes>>::new(&args.endpoint, signer)?;
    let url = format!("{}{path}", args.endpoint.trim_end_matches('/'));
    let resp = client
        .call(method, path, &[], EMPTY_SHA256, Full::default())
        .await
        .with_context(|| format!("requesting {url}"))?;
    let status = resp.status();
    let body = fastgate_client::read_body(resp.into_body()).await?;
    let text = String::from_utf8_lossy(&body).into_owned();
    if !status.is_success() {
        bail!("{url}: {status}: {text}");
    }
    Ok(text)
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let out = match args.command {
        AdminCommand::Stats => {
            let text = request(&args, http::Method::GET, "/_fastgate/metrics", true).await?;
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| format!("{l}\n"))
                .collect()
        }
        AdminCommand::Gc => request(&args, http::Method::POST, "/_fastgate/gc", true).await?,
        AdminCommand::ExpireUploads => request(&args, http::Method::POST, "/_fastgate/expire-uploads", true).await?,
        AdminCommand::RotateKey { ref from, ref to } => {
            let path = format!("/_fastgate/rotate-key?from={from}&to={to}");
            request(&args, http::Method::POST, &path, true).await?
        }
        AdminCommand::Cluster => cluster_table(&request(&args, http::Method::GET, "/_fastgate/cluster", true).await?)?,
    };
    print!("{out}");
    Ok(())
}

/// `admin cluster`'s table, from the gateway's JSON report.
fn cluster_table(json: &str) -> anyhow::Result<String> {
    let groups: Vec<serde_json::Value> = serde_json::from_str(json).context("the cluster report")?;
    if groups.is_empty() {
        return Ok("this gateway has no [cluster]: its chunks are on its own store paths\n".into());
    }
    let mib = |v: &serde_json::Value| v.as_u64().map_or_else(|| "-".to_owned(), |b| format!("{}", b >> 20));
    let num = |v: &serde_json::Value| v.as_u64().map_or_else(|| "-".to_owned(), |n| n.to_string());
    let mut out = format!(
        "{:<12} {:<28} {:<10} {:>12} {:>12} {:>10} {:>10} {:>10} {:>13}\n",
        "GROUP", "NODE", "STATE", "FREE_MIB", "TOTAL_MIB", "CHUNKS", "LACKING", "OWED", "LAST_CONTACT"
    );
    for g in &groups {
        let name = g["name"].as_str().unwrap_or("?");
        let writable = if g["writable"].as_bool().unwrap_or(false) {
            ""
        } else {
            " (takes no writes)"
        };
        for n in g["nodes"].as_array().into_iter().flatten() {
            let contact = n["last_contact_secs"]
                .as_u64()
                .map_or_else(|| "never".to_owned(), |s| format!("{s}s ago"));
            out.push_str(&format!(
                "{:<12} {:<28} {:<10} {:>12} {:>12} {:>10} {:>10} {:>10} {:>13}\n",
                name,
                n["url"].as_str().unwrap_or("?"),
                n["state"].as_str().unwrap_or("?"),
                mib(&n["free_bytes"]),
                mib(&n["total_bytes"]),
                num(&n["chunks"]),
                num(&n["lacking_chunks"]),
                num(&n["owed_chunks"]),
                contact
            ));
        }
        out.push_str(&format!("{name}: min_copies {}{writable}\n", num(&g["min_copies"])));
    }
    Ok(out)
}
