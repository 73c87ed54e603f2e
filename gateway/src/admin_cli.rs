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
    /// Forget a storage node that joined at run time (`fastgate storage --join`) and was
    /// taken out of service; gateways drop it at their next start (root credentials).
    ForgetNode {
        /// Its group.
        group: String,
        /// Its URL, as it registered.
        url: String,
    },
    /// Users kept in the metadata, shared by every gateway over it (root credentials).
    #[command(subcommand)]
    User(UserCommand),
    /// Access keys of those users (root credentials).
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(clap::Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user with a first access key; prints the key and its secret, which is
    /// shown this once.
    Add {
        /// The user's name: its id as owner and in policies (`arn:aws:iam::...:user/NAME`).
        name: String,
        /// The address ACL grants by email resolve to this user by.
        #[arg(long)]
        email: Option<String>,
    },
    /// List the users and their access keys (never the secrets).
    List,
    /// Remove a user and every access key it has; what it owns stays.
    Remove { name: String },
}

#[derive(clap::Subcommand, Debug)]
pub enum KeyCommand {
    /// Give a user another access key (to replace one without downtime); prints it and
    /// its secret, shown this once.
    Add { user: String },
    /// Remove an access key: requests signed with it are refused from then on, on
    /// every gateway. (Not named `access_key`: clap would take it for the global
    /// `--access-key` that signs the request.)
    Remove { key: String },
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
        AdminCommand::ForgetNode { ref group, ref url } => {
            let path = format!("/_fastgate/cluster/nodes?{}", fastgate_cluster::join::query(group, url));
            request(&args, http::Method::DELETE, &path, true).await?
        }
        AdminCommand::User(UserCommand::Add { ref name, ref email }) => {
            let mut path = format!("/_fastgate/users?name={}", urlencoding::encode(name));
            if let Some(e) = email {
                path.push_str(&format!("&email={}", urlencoding::encode(e)));
            }
            new_key_text(&request(&args, http::Method::POST, &path, true).await?)?
        }
        AdminCommand::User(UserCommand::List) => {
            users_table(&request(&args, http::Method::GET, "/_fastgate/users", true).await?)?
        }
        AdminCommand::User(UserCommand::Remove { ref name }) => {
            let path = format!("/_fastgate/users?name={}", urlencoding::encode(name));
            let v: serde_json::Value = serde_json::from_str(&request(&args, http::Method::DELETE, &path, true).await?)?;
            let keys = v["access_keys_removed"].as_array().map_or(0, Vec::len);
            format!("removed user {name} and its {keys} access key(s)\n")
        }
        AdminCommand::Key(KeyCommand::Add { ref user }) => {
            let path = format!("/_fastgate/keys?user={}", urlencoding::encode(user));
            new_key_text(&request(&args, http::Method::POST, &path, true).await?)?
        }
        AdminCommand::Key(KeyCommand::Remove { ref key }) => {
            let path = format!("/_fastgate/keys?access_key={}", urlencoding::encode(key));
            request(&args, http::Method::DELETE, &path, true).await?;
            format!("removed access key {key}\n")
        }
    };
    print!("{out}");
    Ok(())
}

/// A new key as `admin user add` and `admin key add` print it.
fn new_key_text(json: &str) -> anyhow::Result<String> {
    let v: serde_json::Value = serde_json::from_str(json).context("the answer")?;
    Ok(format!(
        "user        {}\naccess key  {}\nsecret key  {}\n(the secret key is not shown again)\n",
        v["name"].as_str().unwrap_or("?"),
        v["access_key"].as_str().unwrap_or("?"),
        v["secret_key"].as_str().unwrap_or("?"),
    ))
}

/// `admin user list`'s table.
fn users_table(json: &str) -> anyhow::Result<String> {
    let users: Vec<serde_json::Value> = serde_json::from_str(json).context("the user list")?;
    let mut out = format!("{:<24} {:<32} ACCESS KEYS\n", "USER", "EMAIL");
    for u in &users {
        let keys: Vec<&str> = u["access_keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str())
            .collect();
        out.push_str(&format!(
            "{:<24} {:<32} {}\n",
            u["name"].as_str().unwrap_or("?"),
            u["email"].as_str().unwrap_or("-"),
            keys.join(" ")
        ));
    }
    Ok(out)
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
        "{:<12} {:<28} {:<10} {:>12} {:>12} {:>10} {:>10} {:>10} {:>13} {:>9}\n",
        "GROUP", "NODE", "STATE", "FREE_MIB", "TOTAL_MIB", "CHUNKS", "LACKING", "OWED", "LAST_CONTACT", "LEASE"
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
            // A node of the config has no lease; one that joined shows what is left of it.
            let lease = match n["lease_secs_left"].as_u64() {
                None => "config".to_owned(),
                Some(0) => "expired".to_owned(),
                Some(s) => format!("{s}s"),
            };
            out.push_str(&format!(
                "{:<12} {:<28} {:<10} {:>12} {:>12} {:>10} {:>10} {:>10} {:>13} {:>9}\n",
                name,
                n["url"].as_str().unwrap_or("?"),
                n["state"].as_str().unwrap_or("?"),
                mib(&n["free_bytes"]),
                mib(&n["total_bytes"]),
                num(&n["chunks"]),
                num(&n["lacking_chunks"]),
                num(&n["owed_chunks"]),
                contact,
                lease
            ));
        }
        out.push_str(&format!("{name}: min_copies {}{writable}\n", num(&g["min_copies"])));
    }
    Ok(out)
}
