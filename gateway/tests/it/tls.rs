//! Native TLS: fastgate serving HTTPS itself (`--tls-cert`, `--tls-key`, `[tls]`),
//! HTTP/1.1 and HTTP/2 by ALPN, instant upload over it, and the certificate replaced on
//! SIGHUP without dropping connections.
//!
//! Each test makes its own CA and server certificates with rcgen; clients trust that CA
//! only.

use crate::common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use http::Method;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A test CA and the files of server certificates it signs.
struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Issuer<'static, rcgen::KeyPair>,
    ca_pem: String,
}

impl Pki {
    fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fastgate test CA");
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let key = rcgen::KeyPair::generate().expect("CA key");
        let ca_pem = params.self_signed(&key).expect("CA certificate").pem();
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            ca: rcgen::Issuer::new(params, key),
            ca_pem,
        }
    }

    fn ca_path(&self) -> PathBuf {
        let p = self.dir.path().join("ca.pem");
        std::fs::write(&p, &self.ca_pem).expect("write CA");
        p
    }

    fn cert_path(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    fn key_path(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    /// Writes a new server certificate for 127.0.0.1 and localhost (with a key of its
    /// own) over the server's files and returns its DER.
    fn issue(&self) -> Vec<u8> {
        let params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("params");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.ca).expect("sign");
        std::fs::write(self.cert_path(), cert.pem()).expect("write cert");
        std::fs::write(self.key_path(), key.serialize_pem()).expect("write key");
        cert.der().to_vec()
    }

    fn config(&self) -> String {
        format!(
            "[tls]\ncert = {:?}\nkey = {:?}\n",
            self.cert_path().display().to_string(),
            self.key_path().display().to_string()
        )
    }

    /// A rustls client configuration trusting this CA only, offering `alpn`.
    fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        let ca = CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).expect("CA PEM");
        roots.add(ca).expect("add CA");
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(cfg)
    }

    /// A TLS connection to `srv` offering `alpn`.
    async fn connect(&self, srv: &Server, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect(srv.addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let name = ServerName::try_from("127.0.0.1").expect("server name");
        tokio_rustls::TlsConnector::from(self.client_config(alpn))
            .connect(name, tcp)
            .await
            .expect("TLS handshake")
    }

    /// fastgate-client for `srv` (HTTP/1.1 over TLS), signing as the root user.
    fn client(&self, srv: &Server) -> fastgate_client::Client {
        let signer = fastgate_client::Signer::new(ACCESS_KEY, SECRET_KEY).with_region(REGION);
        fastgate_client::Client::with_ca_bundle(&srv.endpoint(), Some(signer), 4, Some(&self.ca_path()))
            .expect("https client")
    }

    /// aws-sdk-s3 over HTTPS (its hyper client with rustls and ring) trusting this CA.
    fn sdk(&self, srv: &Server) -> aws_sdk_s3::Client {
        use aws_smithy_http_client::tls;
        let trust = tls::TrustStore::empty().with_pem_certificate(self.ca_pem.as_bytes());
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .tls_context(
                tls::TlsContext::builder()
                    .with_trust_store(trust)
                    .build()
                    .expect("TLS context"),
            )
            .build_https();
        let conf = srv
            .sdk_config(ACCESS_KEY, SECRET_KEY)
            .to_builder()
            .http_client(http)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}

fn start(pki: &Pki) -> Server {
    pki.issue();
    let srv = Server::with_config(&pki.config());
    assert_eq!(srv.scheme, "https", "log:\n{}", srv.log());
    srv
}

/// The leaf certificate a new connection is served.
async fn served_cert(pki: &Pki, srv: &Server) -> Vec<u8> {
    let s = pki.connect(srv, &[b"http/1.1"]).await;
    s.get_ref().1.peer_certificates().expect("peer certificates")[0].to_vec()
}

async fn send(c: &fastgate_client::Client, method: Method, path: &str, body: &[u8]) -> (u16, Bytes) {
    let resp = c
        .call(
            method,
            path,
            &[],
            &sha256_hex(body),
            Full::new(Bytes::copy_from_slice(body)),
        )
        .await
        .expect("send");
    let status = resp.status().as_u16();
    (
        status,
        fastgate_client::read_body(resp.into_body()).await.expect("body"),
    )
}

#[tokio::test]
async fn https_serves_the_aws_sdk_and_http1() {
    let pki = Pki::new();
    let srv = start(&pki);
    let sdk = pki.sdk(&srv);
    create_bucket(&sdk, "tls").await;
    let body = random_data(300_000);
    put(&sdk, "tls", "sdk", &body).await;
    assert_eq!(get(&sdk, "tls", "sdk").await, body);

    let c = pki.client(&srv);
    let (status, _) = send(&c, Method::PUT, "/tls/h1", &body).await;
    assert_eq!(status, 200);
    let (status, got) = send(&c, Method::GET, "/tls/h1", b"").await;
    assert_eq!((status, got.len()), (200, body.len()));
    assert_eq!(&got[..], &body[..]);

    // A client that does not trust the CA fails the handshake.
    let untrusting = fastgate_client::Client::<Full<Bytes>>::with_ca_bundle(&srv.endpoint(), None, 1, None).unwrap();
    let res = untrusting
        .call(
            Method::GET,
            "/tls/h1",
            &[],
            fastgate_client::EMPTY_SHA256,
            Full::new(Bytes::new()),
        )
        .await;
    assert!(res.is_err(), "a certificate from an unknown CA was accepted");
}

#[tokio::test]
async fn http2_is_negotiated_by_alpn() {
    let pki = Pki::new();
    let srv = start(&pki);
    create_bucket(&pki.sdk(&srv), "http2").await;

    let tls = pki.connect(&srv, &[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut h2, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
        .await
        .expect("h2 handshake");
    tokio::spawn(conn);
    // Requests signed by fastgate-client, sent over the HTTP/2 connection.
    let signing = pki.client(&srv);
    let body = random_data(200_000);
    let put = signing
        .request(
            Method::PUT,
            "/http2/obj",
            &[],
            &sha256_hex(&body),
            Full::new(Bytes::from(body.clone())),
        )
        .unwrap();
    let resp = h2.send_request(without_host(put)).await.expect("h2 PUT");
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let get = signing
        .request(
            Method::GET,
            "/http2/obj",
            &[],
            fastgate_client::EMPTY_SHA256,
            Full::new(Bytes::new()),
        )
        .unwrap();
    let resp = h2.send_request(without_host(get)).await.expect("h2 GET");
    assert_eq!(resp.status(), 200);
    let got = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&got[..], &body[..]);

    // A client offering only HTTP/1.1 gets it.
    let tls = pki.connect(&srv, &[b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
}

/// HTTP/2 carries the authority in `:authority`; a Host header next to it is refused by
/// some servers, so it goes (its value is the same and still signed).
fn without_host<B>(mut req: http::Request<B>) -> http::Request<B> {
    req.headers_mut().remove(http::header::HOST);
    *req.version_mut() = http::Version::HTTP_2;
    req
}

/// Reads one HTTP/1.1 response head from a TLS stream: status and headers.
async fn read_head(s: &mut TlsStream<TcpStream>, buf: &mut Vec<u8>) -> (u16, Vec<(String, String)>) {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let mut lines = head.split("\r\n");
            let status = lines
                .next()
                .and_then(|l| l.split(' ').nth(1))
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad response head {head:?}"));
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            return (status, headers);
        }
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(IO_TIMEOUT, s.read(&mut chunk))
            .await
            .expect("timed out waiting for a response head")
            .expect("read response head");
        assert!(n > 0, "connection closed before a response head");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A signed PUT head for `body`, with `Expect: 100-continue` if asked.
fn put_head(pki: &Pki, srv: &Server, path: &str, body: &[u8], expect: bool) -> Vec<u8> {
    let mut extra = vec![("content-length", body.len().to_string())];
    if expect {
        extra.push(("expect", "100-continue".to_owned()));
    }
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let headers = pki
        .client(srv)
        .sign_headers(&Method::PUT, path, &extra, &sha256_hex(body))
        .expect("sign");
    let mut head = format!("PUT {path} HTTP/1.1\r\n");
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

#[tokio::test]
async fn instant_upload_works_over_https_with_expect_100_continue() {
    let pki = Pki::new();
    let srv = start(&pki);
    let sdk = pki.sdk(&srv);
    create_bucket(&sdk, "instant").await;
    let body = random_data(1 << 20);
    put(&sdk, "instant", "first", &body).await;

    let mut s = pki.connect(&srv, &[b"http/1.1"]).await;
    s.write_all(&put_head(&pki, &srv, "/instant/again", &body, true))
        .await
        .unwrap();
    let mut buf = Vec::new();
    let (status, headers) = read_head(&mut s, &mut buf).await;
    // Answered before the body was asked for (no 100 Continue), from the store.
    assert_eq!(status, 200, "{headers:?}");
    let dedup = headers
        .iter()
        .find(|(k, _)| k == "x-fastgate-dedup")
        .map(|(_, v)| v.as_str());
    assert_eq!(dedup, Some("hit"), "{headers:?}");
    assert_eq!(get(&sdk, "instant", "again").await, body);
}

/// Sends SIGHUP and waits until the server logged `marker` one more time than before.
async fn hup_and_wait_for(srv: &Server, marker: &str) {
    let before = srv.log().matches(marker).count();
    let pid = srv.pid().expect("server running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    let deadline = Instant::now() + IO_TIMEOUT;
    while srv.log().matches(marker).count() == before {
        assert!(Instant::now() < deadline, "no {marker:?} in the log:\n{}", srv.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sighup_reloads_the_certificate_without_dropping_an_upload_in_flight() {
    let pki = Pki::new();
    let first = pki.issue();
    let srv = Server::with_config(&pki.config());
    create_bucket(&pki.sdk(&srv), "reload").await;
    assert_eq!(served_cert(&pki, &srv).await, first);

    // An upload that has sent its head and half its body on the first certificate.
    let body = random_data(4 << 20);
    let mut upload = pki.connect(&srv, &[b"http/1.1"]).await;
    upload
        .write_all(&put_head(&pki, &srv, "/reload/long", &body, false))
        .await
        .unwrap();
    let half = body.len() / 2;
    upload.write_all(&body[..half]).await.unwrap();
    upload.flush().await.unwrap();

    let second = pki.issue();
    assert_ne!(first, second);
    hup_and_wait_for(&srv, "TLS certificate reloaded").await;
    assert_eq!(
        served_cert(&pki, &srv).await,
        second,
        "new connections get the new certificate"
    );

    // A broken file (a renewal caught half-written) keeps the certificate in use.
    std::fs::write(pki.cert_path(), "-----BEGIN CERTIFICATE-----\ntruncated").unwrap();
    hup_and_wait_for(&srv, "TLS certificate not reloaded").await;
    assert_eq!(served_cert(&pki, &srv).await, second);

    // The upload started before both reloads completes on its connection.
    upload.write_all(&body[half..]).await.unwrap();
    let mut buf = Vec::new();
    let (status, headers) = read_head(&mut upload, &mut buf).await;
    assert_eq!(status, 200, "{headers:?}");
    assert_eq!(get(&pki.sdk(&srv), "reload", "long").await, body);
}

#[tokio::test]
async fn a_server_whose_key_does_not_match_its_certificate_does_not_start() {
    let pki = Pki::new();
    pki.issue();
    let other = Pki::new();
    other.issue();
    let cfg = format!(
        "[tls]\ncert = {:?}\nkey = {:?}\n",
        pki.cert_path().display().to_string(),
        other.key_path().display().to_string()
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fastgate.toml");
    std::fs::write(&file, cfg).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fastgate"))
        .arg("serve")
        .env("FASTGATE_LISTEN", "127.0.0.1:0")
        .env("FASTGATE_METRICS_LISTEN", "off")
        .env("FASTGATE_CONSOLE_LISTEN", "off")
        .env("FASTGATE_DATA_DIR", dir.path().join("data"))
        .env("FASTGATE_CONFIG", &file)
        .env("FASTGATE_ACCESS_KEY", ACCESS_KEY)
        .env("FASTGATE_SECRET_KEY", SECRET_KEY)
        // Refused for its key whatever the engine (postgres would want a database).
        .env_remove("FASTGATE_META_ENGINE")
        .output()
        .expect("run fastgate");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not belong to the certificate"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
}

#[tokio::test]
async fn sighup_does_not_stop_a_plain_http_server() {
    let srv = Server::start();
    hup_and_wait_for(&srv, "no TLS certificate to reload").await;
    create_bucket(&srv.client(), "still-up").await;
}

#[tokio::test]
async fn the_console_is_served_over_https_with_the_servers_certificate() {
    let pki = Pki::new();
    let srv = start(&pki);
    let console = srv.console_addr();
    assert!(
        srv.log().contains(&format!("console:    https://{console}/")),
        "{}",
        srv.log()
    );
    let signer = fastgate_client::Signer::new(ACCESS_KEY, SECRET_KEY).with_region(REGION);
    let c =
        fastgate_client::Client::with_ca_bundle(&format!("https://{console}"), Some(signer), 1, Some(&pki.ca_path()))
            .expect("https client");
    let (status, page) = send(&c, Method::GET, "/", b"").await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("app.js"));
    // Plain HTTP to the console's port gets no page.
    let mut plain = TcpStream::connect(console).await.expect("connect");
    plain
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut buf)).await;
    assert!(!buf.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&buf));
}

#[tokio::test]
async fn a_bucket_policy_sees_requests_over_tls_as_secure_transport() {
    let pki = Pki::new();
    let srv = start(&pki);
    let sdk = pki.sdk(&srv);
    create_bucket(&sdk, "tls-only").await;
    put(&sdk, "tls-only", "page", b"over tls").await;
    // Anyone may read, over TLS only (`aws:SecureTransport`; tests/it/access.rs shows the
    // same key false over plain HTTP).
    let policy = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
        "Resource":"arn:aws:s3:::tls-only/*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}"#;
    sdk.put_bucket_policy()
        .bucket("tls-only")
        .policy(policy)
        .send()
        .await
        .expect("put policy");
    let anonymous =
        fastgate_client::Client::<Full<Bytes>>::with_ca_bundle(&srv.endpoint(), None, 1, Some(&pki.ca_path()))
            .expect("https client");
    let (status, body) = send(&anonymous, Method::GET, "/tls-only/page", b"").await;
    assert_eq!((status, &body[..]), (200, &b"over tls"[..]));
}
