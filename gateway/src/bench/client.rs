//! A minimal S3 client: SigV4 signing (aws-sigv4) and requests over a pooled hyper 1 HTTP/1.1 client.
//!
//! Why not the AWS SDK: it is heavy, adds its own retries/checksums and would make the client a noticeable
//! CPU consumer on a 2-core box where client and server share the cores. Here every request is signed with
//! the body's precomputed SHA-256 (`x-amz-content-sha256`), which servers with instant upload can use, and
//! bodies are shared [`Bytes`] handles.

use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
    sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

use super::payload::{ChunkBody, Payload};

/// SigV4 region the benchmark signs for.
pub const REGION: &str = "us-east-1";

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

/// Response of a request whose body was drained.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body, when the caller asked to keep it (XML); otherwise empty.
    pub body: Bytes,
    /// Body bytes received.
    pub body_len: u64,
}

/// What to do with a response body.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    /// Keep it in memory (small XML answers).
    Keep,
    /// Count bytes only (object data).
    Count,
    /// Count and SHA-256 it (GET `--verify`).
    Hash,
}

/// Shared S3 client: cheap to clone (the hyper client is an `Arc` inside).
#[derive(Clone)]
pub struct S3Client {
    http: Client<HttpConnector, ChunkBody>,
    /// `host[:port]` as it goes into the Host header and the signature.
    pub authority: String,
    identity: Identity,
}

impl S3Client {
    pub fn new(endpoint: &str, access_key: &str, secret_key: &str, pool: usize) -> Result<Self> {
        let uri: http::Uri = endpoint.parse().with_context(|| format!("bad endpoint {endpoint:?}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(s) => bail!("endpoint scheme {s:?} not supported: the bench client speaks plain http only"),
            None => bail!("endpoint {endpoint:?} needs a scheme, e.g. http://127.0.0.1:9000"),
        }
        let authority = uri.authority().context("endpoint has no host")?.to_string();
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(pool.max(1))
            .build(conn);
        let identity = Credentials::new(access_key, secret_key, None, None, "fastgate-bench").into();
        Ok(Self {
            http,
            authority,
            identity,
        })
    }

    /// Signs a request and returns the headers to send (Host, x-amz-date, x-amz-content-sha256,
    /// Authorization). `path_and_query` must already be percent-encoded. Used by hyper requests and by the
    /// hand-written `Expect: 100-continue` exchange alike.
    pub fn sign_headers(
        &self,
        method: &Method,
        path_and_query: &str,
        extra: &[(&str, &str)],
        payload_sha256: &str,
    ) -> Result<Vec<(String, String)>> {
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single; // S3 wants single encoding
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled; // S3 keys are literal
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(REGION)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .context("building SigV4 parameters")?
            .into();
        let uri = format!("http://{}{}", self.authority, path_and_query);
        let mut headers: Vec<(&str, &str)> = vec![("host", self.authority.as_str())];
        headers.extend_from_slice(extra);
        let signable = SignableRequest::new(
            method.as_str(),
            uri.as_str(),
            headers.into_iter(),
            SignableBody::Precomputed(payload_sha256.to_string()),
        )
        .context("building signable request")?;
        let (instructions, _sig) = sign(signable, &params).context("SigV4 signing")?.into_parts();
        let mut out: Vec<(String, String)> = vec![("host".into(), self.authority.clone())];
        out.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        out.extend(instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())));
        Ok(out)
    }

    /// Sends one signed request and drains the response body per `mode`. Non-2xx is an error carrying the
    /// status and the start of the body (the S3 error XML).
    pub async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        extra: &[(&str, &str)],
        payload: &Payload,
        mode: BodyMode,
    ) -> Result<Reply> {
        let reply = self
            .call_any(method.clone(), path_and_query, extra, payload, mode)
            .await?;
        if !reply.status.is_success() {
            bail!(
                "{} {} -> {}: {}",
                method,
                path_and_query,
                reply.status,
                snippet(&reply.body)
            );
        }
        Ok(reply)
    }

    /// Like [`call`](Self::call) but returns non-2xx replies instead of failing (error bodies are kept).
    pub async fn call_any(
        &self,
        method: Method,
        path_and_query: &str,
        extra: &[(&str, &str)],
        payload: &Payload,
        mode: BodyMode,
    ) -> Result<Reply> {
        let signed = self.sign_headers(&method, path_and_query, extra, &payload.sha256)?;
        let uri = format!("http://{}{}", self.authority, path_and_query);
        let mut builder = Request::builder().method(method.clone()).uri(&uri);
        for (k, v) in &signed {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let req = builder
            .body(payload.body())
            .with_context(|| format!("building request {method} {uri}"))?;
        let resp = self
            .http
            .request(req)
            .await
            .with_context(|| format!("{method} {path_and_query}"))?;
        let (parts, mut body) = resp.into_parts();
        let mode = if parts.status.is_success() {
            mode
        } else {
            BodyMode::Keep
        };
        let mut kept = Vec::new();
        let mut hasher = (mode == BodyMode::Hash).then(Sha256::new);
        let mut body_len = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.with_context(|| format!("reading body of {method} {path_and_query}"))?;
            if let Ok(data) = frame.into_data() {
                body_len += data.len() as u64;
                match mode {
                    BodyMode::Keep => kept.extend_from_slice(&data),
                    BodyMode::Hash => {
                        if let Some(h) = hasher.as_mut() {
                            h.update(&data)
                        }
                    }
                    BodyMode::Count => {}
                }
            }
        }
        let body = match hasher {
            Some(h) => Bytes::from(hex::encode(h.finalize())),
            None => Bytes::from(kept),
        };
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
            body_len,
        })
    }

    /// Creates `bucket` if it does not exist. Returns true when this call created it.
    pub async fn ensure_bucket(&self, bucket: &str) -> Result<bool> {
        let empty = Payload::empty();
        let head = self
            .call_any(Method::HEAD, &format!("/{bucket}"), &[], &empty, BodyMode::Keep)
            .await?;
        if head.status.is_success() {
            return Ok(false);
        }
        let put = self
            .call_any(Method::PUT, &format!("/{bucket}"), &[], &empty, BodyMode::Keep)
            .await?;
        if put.status.is_success() {
            return Ok(true);
        }
        let text = String::from_utf8_lossy(&put.body);
        if text.contains("BucketAlreadyOwnedByYou") {
            return Ok(false);
        }
        bail!(
            "creating bucket {bucket}: HEAD -> {}, PUT -> {}: {}",
            head.status,
            put.status,
            snippet(&put.body)
        )
    }
}

/// First bytes of a (probably XML) body, for error messages.
pub fn snippet(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(300)]);
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_encoding_is_sigv4_canonical() {
        assert_eq!(encode_query("a/b c+d=~_.-"), "a%2Fb%20c%2Bd%3D~_.-");
        assert_eq!(encode_key("p/dir-1/obj 2"), "p/dir-1/obj%202");
    }

    #[test]
    fn signs_with_payload_hash() {
        let c = S3Client::new("http://127.0.0.1:9000", "AK", "SK", 1).unwrap();
        let h = c
            .sign_headers(&Method::PUT, "/b/k", &[], super::super::payload::EMPTY_SHA256)
            .unwrap();
        let get = |n: &str| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("host").as_deref(), Some("127.0.0.1:9000"));
        assert_eq!(
            get("x-amz-content-sha256").as_deref(),
            Some(super::super::payload::EMPTY_SHA256)
        );
        let auth = get("authorization").unwrap();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AK/"), "{auth}");
        assert!(auth.contains("/us-east-1/s3/aws4_request"), "{auth}");
    }
}
