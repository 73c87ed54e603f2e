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
    };
    print!("{out}");
    Ok(())
}
