//! Authentication of internal requests with the cluster secret.
//!
//! Every request carries its time (`x-fastgate-cluster-date`, Unix seconds), a content
//! hash (`x-fastgate-content-sha256`: the SHA-256 of the body, or [`STREAMING_CHUNK`])
//! and an HMAC-SHA256, keyed by the secret, over the method, path, query, time and
//! content hash (`x-fastgate-cluster-auth`). A node accepts a request only with a valid
//! HMAC and a time within [`MAX_SKEW_SECS`] of its own clock. A chunk's body, streamed
//! before its hash is known, ends with its SHA-256 and an HMAC over that hash bound to
//! the request's own HMAC ([`trailer`]): the bytes a node stores are the bytes the
//! gateway sent, or nothing. Requests are not encrypted, and one seen on the wire could
//! be replayed within the skew window: the nodes' network must be private.

use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest as _, Sha256};

/// The request's time, Unix seconds.
pub const DATE: &str = "x-fastgate-cluster-date";
/// The request's HMAC, hex.
pub const AUTH: &str = "x-fastgate-cluster-auth";
/// The SHA-256 of the body (hex), or [`STREAMING_CHUNK`].
pub const CONTENT: &str = "x-fastgate-content-sha256";
/// The content hash of a chunk upload, whose body ends with its own hash and MAC.
pub const STREAMING_CHUNK: &str = "STREAMING-CHUNK";
/// How far a request's time may be from the node's clock, either way.
pub const MAX_SKEW_SECS: u64 = 300;
/// The SHA-256 and the HMAC that end a chunk upload's body.
pub const TRAILER_LEN: usize = 64;

type HmacSha256 = Hmac<Sha256>;

/// The SHA-256 of an empty body, in hex.
pub fn empty_sha256() -> String {
    hex::encode(Sha256::digest(b""))
}

fn mac(secret: &str) -> HmacSha256 {
    // HMAC takes keys of any length: this cannot fail.
    <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!())
}

fn request_mac(secret: &str, method: &str, path: &str, query: &str, date: u64, content: &str) -> HmacSha256 {
    let mut m = mac(secret);
    m.update(format!("FASTGATE-CLUSTER-V1\n{method}\n{path}\n{query}\n{date}\n{content}").as_bytes());
    m
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The three headers that authenticate a request: `(name, value)`.
pub fn sign(secret: &str, method: &str, path: &str, query: &str, content: &str) -> [(&'static str, String); 3] {
    let date = now_secs();
    let tag = request_mac(secret, method, path, query, date, content)
        .finalize()
        .into_bytes();
    [
        (DATE, date.to_string()),
        (CONTENT, content.to_owned()),
        (AUTH, hex::encode(tag)),
    ]
}

/// Whether a request's headers authenticate it; `Err` says why not (for the log only:
/// the caller answers 403 either way).
pub fn verify(
    secret: &str,
    method: &str,
    path: &str,
    query: &str,
    headers: &http::HeaderMap,
) -> Result<(), &'static str> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let date: u64 = get(DATE).and_then(|d| d.parse().ok()).ok_or("no date")?;
    if now_secs().abs_diff(date) > MAX_SKEW_SECS {
        return Err("date too far from the node's clock");
    }
    let content = get(CONTENT).ok_or("no content hash")?;
    let tag = get(AUTH).and_then(|t| hex::decode(t).ok()).ok_or("no signature")?;
    request_mac(secret, method, path, query, date, content)
        .verify_slice(&tag)
        .map_err(|_| "bad signature")
}

/// The end of a chunk upload's body: its SHA-256, then an HMAC over it bound to the
/// request's signature (the `x-fastgate-cluster-auth` value).
pub fn trailer(secret: &str, request_auth: &str, sha256: &[u8; 32]) -> [u8; TRAILER_LEN] {
    let mut m = mac(secret);
    m.update(b"FASTGATE-CHUNK-V1\n");
    m.update(request_auth.as_bytes());
    m.update(sha256);
    let mut out = [0u8; TRAILER_LEN];
    out[..32].copy_from_slice(sha256);
    out[32..].copy_from_slice(&m.finalize().into_bytes());
    out
}

/// The SHA-256 a chunk upload's trailer announces, if its HMAC is valid.
pub fn open_trailer(secret: &str, request_auth: &str, trailer: &[u8]) -> Option<[u8; 32]> {
    if trailer.len() != TRAILER_LEN {
        return None;
    }
    let mut m = mac(secret);
    m.update(b"FASTGATE-CHUNK-V1\n");
    m.update(request_auth.as_bytes());
    m.update(&trailer[..32]);
    m.verify_slice(&trailer[32..]).ok()?;
    trailer[..32].try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, String)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_signed_request_verifies_and_any_change_or_other_secret_does_not() {
        let secret = "a-cluster-secret-of-some-length";
        let h = headers(&sign(secret, "GET", "/v1/chunks/ab", "start=0", &empty_sha256()));
        assert_eq!(verify(secret, "GET", "/v1/chunks/ab", "start=0", &h), Ok(()));
        assert!(verify(secret, "DELETE", "/v1/chunks/ab", "start=0", &h).is_err());
        assert!(verify(secret, "GET", "/v1/chunks/ac", "start=0", &h).is_err());
        assert!(verify(secret, "GET", "/v1/chunks/ab", "start=1", &h).is_err());
        assert!(verify("another-secret-of-some-length", "GET", "/v1/chunks/ab", "start=0", &h).is_err());
        assert!(verify(secret, "GET", "/v1/chunks/ab", "start=0", &http::HeaderMap::new()).is_err());
    }

    #[test]
    fn an_old_request_is_refused() {
        let secret = "a-cluster-secret-of-some-length";
        let date = now_secs() - MAX_SKEW_SECS - 10;
        let content = empty_sha256();
        let tag = request_mac(secret, "GET", "/v1/status", "", date, &content)
            .finalize()
            .into_bytes();
        let h = headers(&[(DATE, date.to_string()), (CONTENT, content), (AUTH, hex::encode(tag))]);
        assert!(verify(secret, "GET", "/v1/status", "", &h).is_err());
    }

    #[test]
    fn a_trailer_opens_only_for_its_request_and_secret() {
        let secret = "a-cluster-secret-of-some-length";
        let sha = [7u8; 32];
        let t = trailer(secret, "sig1", &sha);
        assert_eq!(open_trailer(secret, "sig1", &t), Some(sha));
        assert_eq!(open_trailer(secret, "sig2", &t), None);
        assert_eq!(open_trailer("another-secret-of-some-length", "sig1", &t), None);
        let mut bad = t;
        bad[0] ^= 1;
        assert_eq!(open_trailer(secret, "sig1", &bad), None);
    }
}
