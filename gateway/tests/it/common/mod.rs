//! Test harness: starts the real `fastgate` binary on a free port over a temporary data
//! directory, and offers an aws-sdk-s3 client plus small raw-HTTP helpers (SigV4 signed
//! and sent by fastgate-client, the admin CLI's and the bench's client) for what the SDK
//! cannot express.
//!
//! Every test module uses it, and not every module uses every helper.
#![allow(dead_code)]

pub mod pg;

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use bytes::Bytes;
use http_body_util::Full;
use md5::Digest as _;

pub const ACCESS_KEY: &str = "FGTESTROOTACCESSKEY1";
pub const SECRET_KEY: &str = "fastgate-test-root-secret-key-0123456789";
/// A second user, present when a test asks for it with [`Server::with_second_user`] or
/// by listing it in its own config.
pub const USER2_ACCESS_KEY: &str = "FGTESTUSER2ACCESSKEY";
pub const USER2_SECRET_KEY: &str = "fastgate-test-user2-secret-key-012345678";
pub const REGION: &str = "us-east-1";

/// The `[[users]]` stanza for the second user.
pub fn user2_toml() -> String {
    format!("[[users]]\naccess_key = \"{USER2_ACCESS_KEY}\"\nsecret_key = \"{USER2_SECRET_KEY}\"\n")
}

/// A running `fastgate serve` child process. Killed (SIGKILL) on drop.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// Holds `data/` (FASTGATE_DATA_DIR), `fastgate.toml` and `server.log`.
    pub root: tempfile::TempDir,
    config: Option<PathBuf>,
    /// The metadata engine, when the test picks it (else FASTGATE_META_ENGINE from the
    /// environment applies, or the default).
    meta_engine: Option<String>,
    /// The postgres engine's database, made for this server when it first starts on
    /// postgres, or given by the test (gateways sharing one database).
    meta_url: Option<String>,
    /// `http`, or `https` for a server configured with `[tls]`, as it announced itself.
    pub scheme: String,
}

/// What the server prints once it listens, before `http://ADDR` or `https://ADDR`.
const LISTENING: &str = "fastgate listening on ";
/// What it prints next: where its metrics are.
const METRICS: &str = "  metrics:    http://";

impl Server {
    /// A server with only the root user and the default configuration.
    pub fn start() -> Self {
        Self::start_with_config(None)
    }

    /// A server with the given TOML configuration file contents.
    pub fn with_config(toml: &str) -> Self {
        Self::start_with_config(Some(toml))
    }

    /// A server with the root user and [`USER2_ACCESS_KEY`], plus `extra` TOML.
    pub fn with_second_user(extra: &str) -> Self {
        Self::with_config(&format!("{extra}\n{}", user2_toml()))
    }

    /// A server on the given metadata engine, whatever FASTGATE_META_ENGINE says.
    pub fn with_meta_engine(engine: &str) -> Self {
        Self::start_with(None, Some(engine))
    }

    /// A gateway on the postgres engine over the database at `url`, which other
    /// gateways may share, with `toml` as its configuration.
    pub fn on_database(toml: &str, url: &str) -> Self {
        let root = tempfile::Builder::new()
            .prefix("fastgate-test-")
            .tempdir()
            .expect("tempdir");
        let p = root.path().join("fastgate.toml");
        std::fs::write(&p, toml).expect("write config");
        let mut s = Self {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            root,
            config: Some(p),
            meta_engine: Some("postgres".to_owned()),
            meta_url: Some(url.to_owned()),
            scheme: "http".to_owned(),
        };
        s.spawn();
        s
    }

    /// The metadata engine this server starts on.
    pub fn meta_engine(&self) -> String {
        self.meta_engine
            .clone()
            .or_else(|| std::env::var("FASTGATE_META_ENGINE").ok())
            .unwrap_or_else(|| "sled".to_owned())
    }

    /// The environment that selects this server's metadata (engine, and database on
    /// postgres), for a test that starts `fastgate` over its data by hand.
    pub fn meta_env(&self) -> Vec<(String, String)> {
        let mut env = vec![("FASTGATE_META_ENGINE".to_owned(), self.meta_engine())];
        if let Some(url) = &self.meta_url {
            env.push(("FASTGATE_META_URL".to_owned(), url.clone()));
        }
        env
    }

    fn start_with_config(toml: Option<&str>) -> Self {
        Self::start_with(toml, None)
    }

    fn start_with(toml: Option<&str>, meta_engine: Option<&str>) -> Self {
        let root = tempfile::Builder::new()
            .prefix("fastgate-test-")
            .tempdir()
            .expect("tempdir");
        let config = toml.map(|t| {
            let p = root.path().join("fastgate.toml");
            std::fs::write(&p, t).expect("write config");
            p
        });
        let mut s = Self {
            child: None,
            // The server binds port 0 and says which port it got: probing for a free
            // port first races with the other tests' servers doing the same.
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            root,
            config,
            meta_engine: meta_engine.map(str::to_owned),
            meta_url: None,
            scheme: "http".to_owned(),
        };
        s.spawn();
        s
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.root.path().join("server.log")
    }

    /// Everything the server printed so far (stdout and stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn endpoint(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The server process's id (while it runs), to send it signals.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open server log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fastgate"));
        cmd.arg("serve")
            .env("FASTGATE_LISTEN", self.addr.to_string())
            // A port of its own for every server: tests run side by side.
            .env("FASTGATE_METRICS_LISTEN", "127.0.0.1:0")
            // Likewise for the console (its default port would be shared).
            .env("FASTGATE_CONSOLE_LISTEN", "127.0.0.1:0")
            .env("FASTGATE_DATA_DIR", self.data_dir())
            .env("FASTGATE_ACCESS_KEY", ACCESS_KEY)
            .env("FASTGATE_SECRET_KEY", SECRET_KEY)
            .env_remove("FASTGATE_CONFIG")
            .env_remove("FASTGATE_DOMAIN")
            .env_remove("FASTGATE_REGION")
            .env_remove("FASTGATE_TLS_CERT")
            .env_remove("FASTGATE_TLS_KEY")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info,s3s=warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log);
        if let Some(c) = &self.config {
            cmd.env("FASTGATE_CONFIG", c);
        }
        if let Some(e) = &self.meta_engine {
            cmd.env("FASTGATE_META_ENGINE", e);
        }
        cmd.env_remove("FASTGATE_META_URL");
        if self.meta_engine() == "postgres" {
            let url = self
                .meta_url
                .get_or_insert_with(|| pg::Postgres::get().new_database())
                .clone();
            cmd.env("FASTGATE_META_URL", url);
        }
        let announced = self.log().matches(LISTENING).count();
        let mut child = cmd.spawn().expect("spawn fastgate");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                panic!("fastgate exited early with {status}; log:\n{}", self.log());
            }
            let log = self.log();
            // The metrics line (an address, or "off") follows the listening line.
            let started = log.rsplit(LISTENING).next().unwrap_or_default();
            if log.matches(LISTENING).count() > announced && started.contains("  metrics:") {
                let url = started.lines().next().unwrap_or_default();
                let (scheme, addr) = url
                    .split_once("://")
                    .unwrap_or_else(|| panic!("listen line without a URL: {url:?}"));
                self.scheme = scheme.to_owned();
                self.addr = addr.parse().unwrap_or_else(|e| panic!("listen address {addr:?}: {e}"));
                break;
            }
            assert!(
                Instant::now() < deadline,
                "fastgate did not start listening on {}; log:\n{}",
                self.addr,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        self.child = Some(child);
    }

    /// SIGKILL the server (no graceful shutdown) and wait for it to die.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGKILL, then start again on the same data dir, config and address.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Starts again (after [`Server::kill9`]) on the postgres engine over the database
    /// at `url`, keeping its data dir (its chunks).
    pub fn start_again_on_database(&mut self, url: &str) {
        self.kill9();
        self.meta_engine = Some("postgres".to_owned());
        self.meta_url = Some(url.to_owned());
        self.spawn();
    }

    /// Starts again (after [`Server::kill9`]) on another metadata engine.
    pub fn start_again_on(&mut self, engine: &str) {
        self.kill9();
        self.meta_engine = Some(engine.to_owned());
        self.spawn();
    }

    pub fn client(&self) -> aws_sdk_s3::Client {
        self.client_as(ACCESS_KEY, SECRET_KEY)
    }

    pub fn client_as(&self, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(self.sdk_config(access_key, secret_key))
    }

    pub fn sdk_config(&self, access_key: &str, secret_key: &str) -> aws_sdk_s3::Config {
        sdk_config_for(&self.endpoint(), access_key, secret_key)
    }

    /// A raw request signed as the root user.
    pub async fn signed(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawResponse {
        self.signed_as(ACCESS_KEY, SECRET_KEY, method, path_and_query, headers, body)
            .await
    }

    pub async fn signed_as(
        &self,
        access_key: &str,
        secret_key: &str,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawResponse {
        let hash = sha256_hex(body);
        self.signed_with_hash(access_key, secret_key, method, path_and_query, headers, &hash, body)
            .await
    }

    /// Like [`Self::signed_as`], with `payload_hash` as the signed `x-amz-content-sha256`
    /// whatever the body is (a wrong hash, or `STREAMING-...`).
    #[allow(clippy::too_many_arguments)]
    pub async fn signed_with_hash(
        &self,
        access_key: &str,
        secret_key: &str,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        payload_hash: &str,
        body: &[u8],
    ) -> RawResponse {
        let url = format!("{}{path_and_query}", self.endpoint());
        signed_request(access_key, secret_key, method, &url, headers, payload_hash, body).await
    }

    /// A raw request with no authentication at all.
    pub async fn unsigned(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> RawResponse {
        let url = format!("{}{path_and_query}", self.endpoint());
        let all: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        raw_request(method, &url, &all, body.to_vec()).await
    }

    /// The web console's address, as the server announced it (the harness gives it a
    /// free port).
    pub fn console_addr(&self) -> SocketAddr {
        let log = self.log();
        let line = log
            .rsplit(LISTENING)
            .next()
            .and_then(|started| started.lines().find(|l| l.starts_with("  console:")))
            .unwrap_or_else(|| panic!("no console line in the log:\n{log}"));
        let url = line
            .split("://")
            .nth(1)
            .unwrap_or_else(|| panic!("the console is off: {line}"));
        url.trim_end_matches('/')
            .parse()
            .unwrap_or_else(|e| panic!("console address in {line:?}: {e}"))
    }

    /// The address of the metrics listener, as the server printed it at its last start.
    pub fn metrics_addr(&self) -> SocketAddr {
        let log = self.log();
        let line = log.rsplit(METRICS).next().unwrap_or_default();
        let addr = line.split('/').next().unwrap_or_default();
        addr.parse()
            .unwrap_or_else(|e| panic!("metrics address {addr:?}: {e}; log:\n{log}"))
    }

    /// The Prometheus text of the metrics listener.
    pub async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.metrics_addr());
        let r = raw_request("GET", &url, &[], Vec::new()).await;
        assert_eq!(r.status, 200, "metrics: {}", r.text());
        r.text()
    }

    /// One metric's value (0 when absent).
    pub async fn metric(&self, name: &str) -> u64 {
        metric_value(&self.metrics().await, name)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("---- fastgate log tail ({}) ----", self.addr);
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

pub fn metric_value(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == name).then(|| v.trim().parse::<f64>().ok())?
        })
        .map_or(0, |v| v as u64)
}

/// An aws-sdk-s3 configuration for `endpoint` (path style, no retries).
pub fn sdk_config_for(endpoint: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::Config {
    let http = aws_smithy_http_client::Builder::new().build_http();
    aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "fastgate-tests"))
        .force_path_style(true)
        .http_client(http)
        // Errors must surface as they are, quickly.
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build()
}

/// A raw request to an absolute plain-HTTP `url`, SigV4-signed with `payload_hash` as
/// the signed `x-amz-content-sha256` whatever the body is.
pub async fn signed_request(
    access_key: &str,
    secret_key: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    payload_hash: &str,
    body: &[u8],
) -> RawResponse {
    let uri: http::Uri = url.parse().expect("request URL");
    let host = uri.authority().expect("URL with a host").to_string();
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    all.push(("host".into(), host));
    let signed = sign_headers(
        access_key,
        secret_key,
        method,
        url,
        &all,
        payload_hash,
        SystemTime::now(),
    );
    all.extend(signed);
    raw_request(method, url, &all, body.to_vec()).await
}

/// s3s-fs, the reference backend of s3s (the S3 layer fastgate stands on), serving a
/// temporary directory from this test process with the root user's keys: an S3 server
/// that knows none of fastgate's extensions, to show how their clients fare elsewhere.
/// It runs on a thread and runtime of its own, so that a test may block on a child
/// process (`fastgate cp`) while it serves.
pub struct S3sFs {
    addr: SocketAddr,
    root: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl S3sFs {
    pub fn start() -> Self {
        let root = tempfile::Builder::new()
            .prefix("fastgate-s3s-fs-")
            .tempdir()
            .expect("tempdir");
        let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs over the temp dir");
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let http = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                loop {
                    let socket = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok((socket, _)) => socket,
                            Err(_) => continue,
                        },
                        _ = &mut stopped => return,
                    };
                    let conn = http
                        .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                        .into_owned();
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                }
            });
        });
        Self {
            addr,
            root,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn client(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(sdk_config_for(&self.endpoint(), ACCESS_KEY, SECRET_KEY))
    }

    /// The directory it serves: a bucket is a directory, an object a file.
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A complete response of a raw request.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl RawResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The `<Code>` of an S3 XML error body.
    pub fn error_code(&self) -> Option<String> {
        xml_tag(&self.text(), "Code")
    }
}

pub fn xml_tag(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(xml[start..end].to_owned())
}

/// Sends one request to an absolute `url` (plain HTTP), exactly with `headers` (hyper
/// sets Host from the URL).
pub async fn raw_request(method: &str, url: &str, headers: &[(String, String)], body: Vec<u8>) -> RawResponse {
    let uri: http::Uri = url.parse().expect("request URL");
    let endpoint = format!("http://{}", uri.authority().expect("URL with a host"));
    let client = fastgate_client::Client::<Full<Bytes>>::new(&endpoint, None).expect("client");
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        // hyper sets Host from the URI; a duplicate would break nothing but is untidy.
        if !k.eq_ignore_ascii_case("host") {
            b = b.header(k.as_str(), v.as_str());
        }
    }
    let req = b.body(Full::new(Bytes::from(body))).expect("build request");
    let resp = client.send(req).await.expect("send request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = fastgate_client::read_body(resp.into_body()).await.expect("read body");
    RawResponse { status, headers, body }
}

/// SigV4 headers (`authorization`, `x-amz-date`, `x-amz-content-sha256`) for a request
/// with the given headers (which must include `host`) and payload hash.
pub fn sign_headers(
    access_key: &str,
    secret_key: &str,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    payload_sha256_hex: &str,
    time: SystemTime,
) -> Vec<(String, String)> {
    fastgate_client::Signer::new(access_key, secret_key)
        .with_region(REGION)
        .sign(
            method,
            url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            payload_sha256_hex,
            time,
        )
        .expect("sign")
}

pub fn sha256_hex(b: &[u8]) -> String {
    fastgate_client::sha256_hex(b)
}

pub fn md5_hex(b: &[u8]) -> String {
    hex::encode(md5::Md5::digest(b))
}

pub fn md5_b64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(b))
}

/// Deterministic pseudo-random bytes (xorshift), different for each seed.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Fresh random bytes (content no other test or run has stored).
pub fn random_data(len: usize) -> Vec<u8> {
    data(len, rand::random::<u64>())
}

/// Creates a bucket with the SDK, panicking on failure.
pub async fn create_bucket(c: &aws_sdk_s3::Client, name: &str) {
    c.create_bucket()
        .bucket(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {name}: {e:?}"));
}

/// Puts an object with the SDK, panicking on failure; returns the ETag.
pub async fn put(c: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) -> String {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.to_vec().into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {bucket}/{key}: {e:?}"))
        .e_tag
        .unwrap_or_default()
}

/// Gets an object's bytes with the SDK, panicking on failure.
pub async fn get(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    c.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {bucket}/{key}: {e:?}"))
        .body
        .collect()
        .await
        .expect("read body")
        .into_bytes()
        .to_vec()
}

/// The S3 error code of a failed SDK call (e.g. "NoSuchKey"), and its HTTP status.
pub fn sdk_error<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> (Option<String>, Option<u16>)
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    (
        aws_sdk_s3::error::ProvideErrorMetadata::code(e).map(str::to_owned),
        status,
    )
}

/// Asserts a failed SDK call carries the given S3 error code.
#[track_caller]
pub fn assert_code<T: std::fmt::Debug, E>(
    res: Result<T, aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::http::Response>>,
    code: &str,
) -> u16
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
{
    match res {
        Ok(v) => panic!("expected error {code}, got success: {v:?}"),
        Err(e) => {
            let (got, status) = sdk_error(&e);
            assert_eq!(got.as_deref(), Some(code), "unexpected error: {e:?}");
            status.unwrap_or(0)
        }
    }
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Reads a whole file (helper for tests that look at the data dir).
pub fn read_file(p: &Path) -> Vec<u8> {
    let mut v = Vec::new();
    std::fs::File::open(p)
        .and_then(|mut f| f.read_to_end(&mut v))
        .expect("read file");
    v
}

/// The cluster secret of the storage nodes the tests start.
pub const CLUSTER_SECRET: &str = "fastgate-test-cluster-secret-0123456789";

/// What a storage node prints once it listens, before `http://ADDR`.
const STORAGE_LISTENING: &str = "fastgate storage listening on http://";

/// A running `fastgate storage` child process. Killed (SIGKILL) on drop.
pub struct StorageNode {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// Holds `data/` (FASTGATE_DATA_DIR) and `node.log`.
    pub root: tempfile::TempDir,
    /// Environment over the defaults (`FASTGATE_JOIN`, another secret, ...).
    env: Vec<(String, String)>,
}

impl StorageNode {
    /// A node with [`CLUSTER_SECRET`] on a free port of 127.0.0.1.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// A node started with `env` over the defaults.
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let root = tempfile::Builder::new()
            .prefix("fastgate-node-")
            .tempdir()
            .expect("tempdir");
        let mut n = Self {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            root,
            env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        };
        n.spawn();
        n
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("node.log")).unwrap_or_default()
    }

    /// The SHA-256 (hex) of every chunk file the node holds.
    pub fn chunks(&self) -> Vec<String> {
        let mut v: Vec<String> = files_under(&self.data_dir().join("M00").join("data"))
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect();
        v.sort();
        v
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.path().join("node.log"))
            .expect("open node log");
        let announced = self.log().matches(STORAGE_LISTENING).count();
        let mut child = Command::new(env!("CARGO_BIN_EXE_fastgate"))
            .arg("storage")
            .env("FASTGATE_LISTEN", self.addr.to_string())
            .env("FASTGATE_DATA_DIR", self.data_dir())
            .env("FASTGATE_CLUSTER_SECRET", CLUSTER_SECRET)
            .env_remove("FASTGATE_CONFIG")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn fastgate storage");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                panic!("fastgate storage exited early with {status}; log:\n{}", self.log());
            }
            let log = self.log();
            if log.matches(STORAGE_LISTENING).count() > announced {
                let addr = log.rsplit(STORAGE_LISTENING).next().unwrap_or_default();
                let addr = addr.lines().next().unwrap_or_default();
                self.addr = addr.parse().unwrap_or_else(|e| panic!("node address {addr:?}: {e}"));
                break;
            }
            assert!(Instant::now() < deadline, "fastgate storage did not start; log:\n{log}");
            std::thread::sleep(Duration::from_millis(25));
        }
        self.child = Some(child);
    }

    /// SIGKILL the node and wait for it to die.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP the node: it keeps its connections but answers nothing (a slow node).
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT a node [`StorageNode::pause`] stopped.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("the node runs").id().to_string();
        let status = Command::new("kill").args([sig, &pid]).status().expect("run kill");
        assert!(status.success(), "kill {sig} {pid}");
    }

    /// Starts again (after [`StorageNode::kill9`]) on the same data dir and address.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }
}

impl Drop for StorageNode {
    fn drop(&mut self) {
        self.kill9();
        if std::thread::panicking() {
            eprintln!("---- fastgate storage log ({}) ----\n{}", self.addr, self.log());
        }
    }
}

/// A gateway's `[cluster]` section over `groups` (name, node URLs), with short
/// timeouts so that tests of dead nodes stay fast.
pub fn cluster_toml(groups: &[(&str, Vec<String>)], extra: &str) -> String {
    let mut t = format!("[cluster]\nsecret = \"{CLUSTER_SECRET}\"\ntimeout_ms = 2000\nheartbeat_ms = 200\n{extra}\n");
    for (name, nodes) in groups {
        let list: Vec<String> = nodes.iter().map(|n| format!("\"{n}\"")).collect();
        t.push_str(&format!(
            "[[cluster.groups]]\nname = \"{name}\"\nnodes = [{}]\n",
            list.join(", ")
        ));
    }
    t
}
