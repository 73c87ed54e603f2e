//! The benchmark's S3 client: fastgate-client's SigV4 signing and pooled hyper client, sending shared
//! [`Bytes`] bodies, with the response drained per [`BodyMode`].
//!
//! Every request is signed with the body's precomputed SHA-256 (`x-amz-content-sha256`), which servers
//! with instant upload can use.

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use fastgate_client::{Client, Signer};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use super::payload::{ChunkBody, Payload};

pub use fastgate_client::{encode_key, encode_query};

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
    http: Client<ChunkBody>,
    /// `host[:port]` as it goes into the Host header and the signature.
    pub authority: String,
}

impl S3Client {
    pub fn new(endpoint: &str, access_key: &str, secret_key: &str, pool: usize) -> Result<Self> {
        let signer = Signer::new(access_key, secret_key);
        let http = Client::with_idle_connections(endpoint, Some(signer), pool)?;
        let authority = http.authority().to_owned();
        Ok(Self { http, authority })
    }

    /// Signs a request and returns the headers to send (Host, `extra`, x-amz-date, x-amz-content-sha256,
    /// Authorization). `path_and_query` must already be percent-encoded. Used by hyper requests and by the
    /// hand-written `Expect: 100-continue` exchange alike.
    pub fn sign_headers(
        &self,
        method: &Method,
        path_and_query: &str,
        extra: &[(&str, &str)],
        payload_sha256: &str,
    ) -> Result<Vec<(String, String)>> {
        Ok(self.http.sign_headers(method, path_and_query, extra, payload_sha256)?)
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
        let req = self
            .http
            .request(method.clone(), path_and_query, extra, &payload.sha256, payload.body())
            .with_context(|| format!("building request {method} {path_and_query}"))?;
        let resp = self
            .http
            .send(req)
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
        if crate::xml::error_code(&put.body).as_deref() == Some("BucketAlreadyOwnedByYou") {
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

/// One [`S3Client`] per endpoint of `--endpoint`: op `i` of a workload goes to endpoint `i mod n`, so the
/// load spreads round-robin over several gateways (or several nodes of one cluster) that serve the same
/// buckets. With one endpoint every op takes that one, as before.
#[derive(Clone)]
pub struct Clients(Vec<S3Client>);

impl Clients {
    /// Clients for `endpoints` (at least one), each with its own pool of `pool` idle connections.
    pub fn new(endpoints: &[String], access_key: &str, secret_key: &str, pool: usize) -> Result<Self> {
        if endpoints.is_empty() {
            bail!("no endpoint");
        }
        let clients = endpoints
            .iter()
            .map(|e| S3Client::new(e, access_key, secret_key, pool).with_context(|| format!("endpoint {e}")))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self(clients))
    }

    /// The client of op number `i`.
    pub fn pick(&self, i: u64) -> &S3Client {
        &self.0[spread(i, self.0.len())]
    }
}

/// Which of `n` endpoints op number `i` goes to: round-robin.
fn spread(i: u64, n: usize) -> usize {
    (i % n.max(1) as u64) as usize
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
    fn consecutive_ops_take_the_endpoints_in_turn() {
        let picks: Vec<usize> = (0..7).map(|i| spread(i, 3)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
        assert!((0..100).all(|i| spread(i, 1) == 0));
    }

    #[test]
    fn every_endpoint_gets_a_client_of_its_own() {
        let endpoints = ["http://127.0.0.1:9000".to_owned(), "http://127.0.0.1:9001".to_owned()];
        let c = Clients::new(&endpoints, "ak", "sk", 1).unwrap();
        assert_eq!(c.pick(0).authority, "127.0.0.1:9000");
        assert_eq!(c.pick(1).authority, "127.0.0.1:9001");
        assert_eq!(c.pick(2).authority, "127.0.0.1:9000");
        assert!(Clients::new(&[], "ak", "sk", 1).is_err());
    }
}
