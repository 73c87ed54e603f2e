//! `fastgate admin`: talks to a running server's `/_fastgate/` endpoints.

use std::time::SystemTime;

use anyhow::{Context as _, bail};
use aws_sigv4::http_request::{PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

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
    let url = format!("{}{path}", args.endpoint.trim_end_matches('/'));
    let mut req = http::Request::builder()
        .method(method.clone())
        .uri(&url)
        .body(Empty::<bytes::Bytes>::new())?;
    if signed {
        let (Some(ak), Some(sk)) = (&args.access_key, &args.secret_key) else {
            bail!("this command needs --access-key and --secret-key (or FASTGATE_ACCESS_KEY / FASTGATE_SECRET_KEY)");
        };
        let identity = aws_credential_types::Credentials::new(ak, sk, None, None, "fastgate-admin").into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()?
            .into();
        let host = req
            .uri()
            .authority()
            .map(|a| a.to_string())
            .context("endpoint has no host")?;
        req.headers_mut().insert(http::header::HOST, host.parse()?);
        let headers: Vec<(&str, &str)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
            .collect();
        let signable = SignableRequest::new(method.as_str(), &url, headers.into_iter(), SignableBody::Bytes(b""))?;
        let (instructions, _) = sign(signable, &params)?.into_parts();
        instructions.apply_to_request_http1x(&mut req);
    }
    let client = Client::builder(TokioExecutor::new()).build_http();
    let resp = client.request(req).await.with_context(|| format!("requesting {url}"))?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
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
