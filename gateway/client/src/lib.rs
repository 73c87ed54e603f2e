//! fastgate's one S3 request client: SigV4 signing (aws-sigv4) of raw HTTP requests, sent
//! over a pooled hyper-util HTTP/1.1 client. The admin CLI, `fastgate bench` and the
//! gateway's tests all sign with it, so a change to how fastgate signs is made once.
//!
//! Why not the AWS SDK: it is heavy, adds its own retries and checksums, and would make the
//! bench client a noticeable CPU consumer on a box where client and server share the cores;
//! the tests need requests the SDK cannot express (a wrong payload hash, headers of their
//! choosing). Here the caller gives the payload's SHA-256 (or `UNSIGNED-PAYLOAD`, or a
//! `STREAMING-*` value) and it is signed as `x-amz-content-sha256`, which servers with
//! instant upload can use.
//!
//! Signing follows S3's rules rather than the other AWS services': the path is
//! percent-encoded once and never normalized, because object keys are literal
//! (`a//b` and `a/./b` are keys of their own).
//!
//! `https://` endpoints go over rustls (ring provider), HTTP/1.1, trusting the system's
//! root certificates plus an optional CA bundle (PEM): the one given to
//! [`Client::with_ca_bundle`], else the file `AWS_CA_BUNDLE` names, as the AWS CLI and
//! SDKs read it, so that a server with a private or self-signed certificate works the
//! same for every client on the machine.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
    sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest as _, Sha256};

/// The region requests are signed for unless [`Signer::with_region`] says otherwise
/// (fastgate's default region).
pub const DEFAULT_REGION: &str = "us-east-1";

/// SHA-256 of the empty payload, in hex: the signed payload hash of a bodiless request.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Errors of building, signing and sending a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad endpoint {endpoint:?}: {reason}")]
    Endpoint { endpoint: String, reason: String },
    #[error("SigV4 signing: {0}")]
    Signing(String),
    #[error("building the request: {0}")]
    Request(#[from] http::Error),
    #[error("{method} {target}")]
    Send {
        method: Method,
        target: String,
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    #[error("reading the response body")]
    Body(#[from] hyper::Error),
    #[error("CA bundle {path}: {reason}")]
    CaBundle { path: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// The error type request bodies may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Credentials and region: signs requests for S3.
#[derive(Clone)]
pub struct Signer {
    identity: Identity,
    region: String,
}

impl Signer {
    pub fn new(access_key: &str, secret_key: &str) -> Self {
        Self {
            identity: Credentials::new(access_key, secret_key, None, None, "fastgate-client").into(),
            region: DEFAULT_REGION.to_owned(),
        }
    }

    /// Temporary credentials (STS, SSO): the session token is signed and sent as
    /// `x-amz-security-token`, which aws-sigv4 adds when the identity carries one.
    pub fn with_session_token(access_key: &str, secret_key: &str, session_token: &str) -> Self {
        Self {
            identity: Credentials::new(
                access_key,
                secret_key,
                Some(session_token.to_owned()),
                None,
                "fastgate-client",
            )
            .into(),
            region: DEFAULT_REGION.to_owned(),
        }
    }

    pub fn with_region(mut self, region: &str) -> Self {
        region.clone_into(&mut self.region);
        self
    }

    /// The SigV4 headers (`authorization`, `x-amz-date`, `x-amz-content-sha256`) for a
    /// request to `url` with `headers`, which must include `host` and are all signed.
    /// `url`'s path and query must already be percent-encoded (see [`encode_key`],
    /// [`encode_query`]); `time` is the signing time (tests sign in the past on purpose).
    pub fn sign<'a>(
        &self,
        method: &'a str,
        url: &'a str,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
        payload_sha256: &str,
        time: SystemTime,
    ) -> Result<Vec<(String, String)>, Error> {
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single; // S3 wants single encoding
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled; // S3 keys are literal
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name("s3")
            .time(time)
            .settings(settings)
            .build()
            .map_err(|e| Error::Signing(e.to_string()))?
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            headers.into_iter(),
            SignableBody::Precomputed(payload_sha256.to_owned()),
        )
        .map_err(|e| Error::Signing(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| Error::Signing(e.to_string()))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }
}

/// A client for one endpoint; requests are signed when it has a [`Signer`]. Cheap to
/// clone (the connection pool is shared). `B` is the request body type.
pub struct Client<B = Full<Bytes>> {
    http: hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, B>,
    /// `http` or `https`.
    scheme: &'static str,
    /// `host[:port]` as it goes into the Host header and the signature.
    authority: String,
    signer: Option<Signer>,
}

// By hand: a derive would ask for `B: Clone`, which a body type need not be.
impl<B> Clone for Client<B> {
    fn clone(&self) -> Self {
        Self {
            http: self.http.clone(),
            scheme: self.scheme,
            authority: self.authority.clone(),
            signer: self.signer.clone(),
        }
    }
}

impl<B> Client<B>
where
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    /// A client for `endpoint` (`http://host[:port]` or `https://host[:port]`), keeping any
    /// number of idle connections.
    pub fn new(endpoint: &str, signer: Option<Signer>) -> Result<Self, Error> {
        Self::with_idle_connections(endpoint, signer, usize::MAX)
    }

    /// Like [`Client::new`], keeping at most `idle` idle connections (a load generator
    /// sizes it to its concurrency). An `https://` endpoint trusts the system's roots and
    /// the CA bundle `AWS_CA_BUNDLE` names, if any.
    pub fn with_idle_connections(endpoint: &str, signer: Option<Signer>, idle: usize) -> Result<Self, Error> {
        let from_env = std::env::var_os("AWS_CA_BUNDLE").filter(|v| !v.is_empty());
        Self::with_ca_bundle(endpoint, signer, idle, from_env.as_deref().map(Path::new))
    }

    /// Like [`Client::with_idle_connections`], trusting the certificates in `ca_bundle`
    /// (PEM) besides the system's roots instead of `AWS_CA_BUNDLE`'s. Reads the file (and
    /// the system's store) once, here, for `https://` endpoints only.
    pub fn with_ca_bundle(
        endpoint: &str,
        signer: Option<Signer>,
        idle: usize,
        ca_bundle: Option<&Path>,
    ) -> Result<Self, Error> {
        let bad = |reason: &str| Error::Endpoint {
            endpoint: endpoint.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: http::Uri = endpoint.parse().map_err(|_| bad("not a URL"))?;
        let scheme = match uri.scheme_str() {
            Some("http") => "http",
            Some("https") => "https",
            Some(_) => return Err(bad("only http:// and https:// are supported")),
            None => return Err(bad("needs a scheme, e.g. http://127.0.0.1:9000")),
        };
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad("requests go to the endpoint's root: leave out any path"));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?.to_string();
        // A plain endpoint never opens TLS: no need to read any certificate for it.
        let roots = if scheme == "https" {
            trusted_roots(ca_bundle)?
        } else {
            rustls::RootCertStore::empty()
        };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.enforce_http(false);
        let conn = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(conn);
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(idle.max(1))
            .build(conn);
        Ok(Self {
            http,
            scheme,
            authority,
            signer,
        })
    }

    /// `host[:port]` of the endpoint.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The headers to send for a request (Host, `extra`, and when the client signs,
    /// `x-amz-date`, `x-amz-content-sha256` and Authorization), all of them signed.
    /// `path_and_query` must already be percent-encoded. Used for hyper requests and for
    /// requests a caller writes by hand (an `Expect: 100-continue` exchange) alike.
    pub fn sign_headers(
        &self,
        method: &Method,
        path_and_query: &str,
        extra: &[(&str, &str)],
        payload_sha256: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        let mut headers: Vec<(&str, &str)> = vec![("host", self.authority.as_str())];
        headers.extend_from_slice(extra);
        let signature = match &self.signer {
            Some(s) => {
                let url = format!("{}://{}{}", self.scheme, self.authority, path_and_query);
                s.sign(
                    method.as_str(),
                    &url,
                    headers.iter().copied(),
                    payload_sha256,
                    SystemTime::now(),
                )?
            }
            None => Vec::new(),
        };
        Ok(headers
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .chain(signature)
            .collect())
    }

    /// A request to the endpoint carrying the headers of [`Client::sign_headers`].
    pub fn request(
        &self,
        method: Method,
        path_and_query: &str,
        extra: &[(&str, &str)],
        payload_sha256: &str,
        body: B,
    ) -> Result<Request<B>, Error> {
        let headers = self.sign_headers(&method, path_and_query, extra, payload_sha256)?;
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}://{}{}", self.scheme, self.authority, path_and_query));
        for (k, v) in &headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        Ok(builder.body(body)?)
    }

    /// Sends any request (its URI absolute) over the pool.
    pub async fn send(&self, req: Request<B>) -> Result<Response<Incoming>, Error> {
        let (method, target) = (req.method().clone(), req.uri().to_string());
        self.http
            .request(req)
            .await
            .map_err(|source| Error::Send { method, target, source })
    }

    /// [`Client::request`] and [`Client::send`]: the response, whatever its status.
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        extra: &[(&str, &str)],
        payload_sha256: &str,
        body: B,
    ) -> Result<Response<Incoming>, Error> {
        let req = self.request(method, path_and_query, extra, payload_sha256, body)?;
        self.send(req).await
    }
}

/// The system's root certificates plus those of `ca_bundle`. A system store that cannot
/// be read (a container without one) is no error as long as a bundle is given; a bundle
/// that cannot be read or holds no certificate is.
fn trusted_roots(ca_bundle: Option<&Path>) -> Result<rustls::RootCertStore, Error> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    // Certificates the system store holds that rustls cannot parse are skipped, as
    // browsers do: one odd root must not make every https endpoint unreachable.
    let native = rustls_native_certs::load_native_certs();
    let _ = roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_bundle {
        let bad = |reason: String| Error::CaBundle {
            path: path.to_owned(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(e.to_string()))?;
        if certs.is_empty() {
            return Err(bad("no PEM certificate in it".into()));
        }
        for c in certs {
            roots.add(c).map_err(|e| bad(e.to_string()))?;
        }
    }
    Ok(roots)
}

/// Reads a whole response body (small answers: XML, metrics).
pub async fn read_body(body: Incoming) -> Result<Bytes, Error> {
    Ok(body.collect().await?.to_bytes())
}

/// SHA-256 of `payload` in hex, as `x-amz-content-sha256` carries it.
pub fn sha256_hex(payload: &[u8]) -> String {
    hex::encode(Sha256::digest(payload))
}

/// Characters left unescaped in query values: RFC 3986 unreserved, as SigV4 requires.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encodes a query value the way SigV4 canonicalizes it (so the signature matches).
pub fn encode_query(v: &str) -> String {
    utf8_percent_encode(v, QUERY_VALUE).to_string()
}

/// Characters left unescaped in object keys in the path: unreserved plus `/` (S3 keeps slashes literal).
const KEY_PATH: &AsciiSet = &QUERY_VALUE.remove(b'/');

/// Percent-encodes an object key for a path-style URL.
pub fn encode_key(k: &str) -> String {
    utf8_percent_encode(k, KEY_PATH).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encoding_is_sigv4_canonical() {
        assert_eq!(encode_query("a/b c+d=~_.-"), "a%2Fb%20c%2Bd%3D~_.-");
        assert_eq!(encode_key("p/dir-1/obj 2"), "p/dir-1/obj%202");
    }

    fn header(h: &[(String, String)], name: &str) -> Option<String> {
        h.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    #[tokio::test]
    async fn a_signing_client_signs_host_extra_headers_and_the_payload_hash() {
        let c = Client::<Full<Bytes>>::new("http://127.0.0.1:9000", Some(Signer::new("AK", "SK"))).unwrap();
        let h = c
            .sign_headers(&Method::PUT, "/b/k", &[("content-md5", "x")], EMPTY_SHA256)
            .unwrap();
        assert_eq!(header(&h, "host").as_deref(), Some("127.0.0.1:9000"));
        assert_eq!(header(&h, "content-md5").as_deref(), Some("x"));
        assert_eq!(header(&h, "x-amz-content-sha256").as_deref(), Some(EMPTY_SHA256));
        let auth = header(&h, "authorization").unwrap();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AK/"), "{auth}");
        assert!(auth.contains("/us-east-1/s3/aws4_request"), "{auth}");
        assert!(
            auth.contains("SignedHeaders=content-md5;host;x-amz-content-sha256;x-amz-date"),
            "{auth}"
        );
    }

    #[tokio::test]
    async fn temporary_credentials_sign_and_send_the_session_token() {
        let c = Client::<Full<Bytes>>::new(
            "http://127.0.0.1:9000",
            Some(Signer::with_session_token("AK", "SK", "TOKEN")),
        )
        .unwrap();
        let h = c.sign_headers(&Method::GET, "/b/k", &[], EMPTY_SHA256).unwrap();
        assert_eq!(header(&h, "x-amz-security-token").as_deref(), Some("TOKEN"));
        let auth = header(&h, "authorization").unwrap();
        assert!(auth.contains("x-amz-security-token"), "{auth}");
    }

    #[tokio::test]
    async fn a_client_without_a_signer_sends_only_host_and_extra_headers() {
        let c = Client::<Full<Bytes>>::new("http://127.0.0.1:9000/", None).unwrap();
        let h = c.sign_headers(&Method::GET, "/", &[], EMPTY_SHA256).unwrap();
        assert_eq!(h, [("host".to_owned(), "127.0.0.1:9000".to_owned())]);
    }

    #[tokio::test]
    async fn endpoints_other_than_http_or_https_roots_are_refused() {
        for bad in [
            "ftp://s3.example",
            "https://s3.example/prefix",
            "127.0.0.1:9000",
            "http://h:9000/prefix",
            "not a url",
        ] {
            assert!(
                matches!(Client::<Full<Bytes>>::new(bad, None), Err(Error::Endpoint { .. })),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn a_ca_bundle_without_certificates_is_refused_for_https_only() {
        let dir = std::env::temp_dir().join(format!("fastgate-client-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let https = Client::<Full<Bytes>>::with_ca_bundle("https://127.0.0.1:9000", None, 1, Some(&empty));
        assert!(matches!(https, Err(Error::CaBundle { .. })));
        let http = Client::<Full<Bytes>>::with_ca_bundle("http://127.0.0.1:9000", None, 1, Some(&empty));
        assert!(http.is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn signing_is_deterministic_for_a_given_time() {
        let s = Signer::new("AK", "SK");
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let sign = || {
            s.sign("GET", "http://h:1/b/a%20key", [("host", "h:1")], EMPTY_SHA256, t)
                .unwrap()
        };
        assert_eq!(sign(), sign());
        assert_eq!(header(&sign(), "x-amz-date").as_deref(), Some("20231114T221320Z"));
    }
}
