//! Instant upload (秒传): answering a PUT or UploadPart from the store before its body
//! is sent.
//!
//! hyper sends `100 Continue` only when a handler first polls the request body. When a
//! request carries `Expect: 100-continue` and a strong hash of its body, and the store
//! holds that content (and the configured scope lets this requester claim it), the
//! handler records the object without touching the body; the client gets its final
//! answer instead of `100 Continue` and never sends the bytes.
//!
//! The answer says `Connection: close` (RFC 9110 §10.1.1: a server that answers before
//! reading the content says whether it will keep reading). Without it a client may reuse
//! the connection, and its next request would be read as the body that never came.
//! Clients reconnect transparently; on loopback that costs tens of microseconds.
//!
//! # The probe (issue 18)
//!
//! `Expect: 100-continue` works only where the client sends the hash before the body and
//! nothing in between answers `100 Continue` itself (browsers, HTTP/2, many proxies and
//! TLS terminators do). The probe asks the same question explicitly: an ordinary
//! PutObject or UploadPart request with no body, marked `x-fastgate-probe: <size>` (a
//! header) or `?x-fastgate-probe=<size>` (a query parameter, so that a presigned URL
//! can carry it), and carrying the content's SHA-256 as for a real upload. It runs the
//! very handler of that request, every check included (authorization, key, unsupported
//! protections, conditional writes, tagging, checksum declarations), and the same
//! [`probe`] lookup under the same proof-of-possession scope. The answer is the
//! completed write (a hit, as for `Expect`), or [`super::error::not_stored`]: 404
//! `XFastgateNotStored` with `x-fastgate-dedup: miss`, which changes nothing and reads
//! no body.
//!
//! A server that does not know the probe must not store an empty object for it. The
//! client therefore declares the *content's* SHA-256 for the empty body: as the signed
//! `x-amz-content-sha256` (header-signed requests) and as `x-amz-checksum-sha256`. Any
//! SigV4 server verifies the first against the (empty) body and refuses with
//! `XAmzContentSHA256Mismatch`; any checksum-aware server refuses the second with
//! `BadDigest` (a presigned URL signs `UNSIGNED-PAYLOAD`, so there only the checksum
//! guards). fastgate never reads the probe's body, so neither check fires here; the
//! tests send the probe without its marker to show what an unaware server does.

use fastgate_model::{ChunkHash, Content};
use http::HeaderMap;

use super::Gateway;
use super::checksums::Declared;
use super::error::{ApiError, StorageResultExt as _};

fn expects_continue(h: &HeaderMap) -> bool {
    h.get(http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
}

/// The body length the client announced (the decoded length for aws-chunked bodies).
fn announced_length(h: &HeaderMap) -> Option<u64> {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    get("x-amz-decoded-content-length").or_else(|| get("content-length"))
}

/// The marker of a probe request, as a header or a query parameter; its value is the
/// content's size in bytes.
pub const PROBE: &str = "x-fastgate-probe";

/// The content size a probe request announces, or `None` for an ordinary upload. A
/// probe carries no body: one that does is refused rather than half-read.
pub fn probe_size(headers: &HeaderMap, uri: &http::Uri) -> s3s::S3Result<Option<u64>> {
    let from_query = uri.query().and_then(|q| {
        q.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == PROBE).then(|| v.to_owned())
        })
    });
    let from_header = headers.get(PROBE).map(|v| v.to_str().unwrap_or_default().to_owned());
    let Some(value) = from_header.or(from_query) else {
        return Ok(None);
    };
    let size = value
        .trim()
        .parse::<u64>()
        .map_err(|_| ApiError::InvalidArgument("x-fastgate-probe must be the content size in bytes"))?;
    let body = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if body.is_some_and(|l| l > 0) || headers.contains_key(http::header::TRANSFER_ENCODING) {
        return Err(ApiError::InvalidRequest("An x-fastgate-probe request carries no body").into());
    }
    Ok(Some(size))
}

/// Looks for a hit: stored content the request may claim without sending its bytes.
/// `None` means: read the body as usual (or, for a probe of `probe_size` bytes, answer
/// that the content is not stored).
pub async fn probe(
    gw: &Gateway,
    headers: &HeaderMap,
    declared: &Declared,
    owner: &str,
    bucket: &str,
    probe_size: Option<u64>,
    seal: Option<&fastgate_model::seal::SealSpec>,
) -> s3s::S3Result<Option<Content>> {
    let asks = probe_size.is_some() || expects_continue(headers);
    if !gw.instant.enabled || !asks || declared.trailer.is_some() {
        return Ok(None);
    }
    let Some(len) = probe_size.or_else(|| announced_length(headers)) else {
        return Ok(None);
    };
    let from_checksum = declared
        .checksums
        .iter()
        .find(|(a, _)| *a == fastgate_model::checksum::ChecksumAlgorithm::Sha256)
        .and_then(|(_, v)| <[u8; 32]>::try_from(v.as_slice()).ok());
    let mut hash = declared.content_sha256.or(from_checksum).map(ChunkHash);
    // The MD5 index leads to plaintext chunks only.
    if hash.is_none()
        && seal.is_none()
        && gw.instant.trust_md5
        && let Some(md5) = declared.md5
    {
        hash = gw.store.point(move |s| s.sha256_for_md5(&md5)).await.s3()?;
    }
    let Some(hash) = hash else { return Ok(None) };
    // A sealed write claims the sealed chunk of that content under its scope, never
    // the plaintext one.
    let hash = seal.map_or(hash, |s| s.chunk_id(&hash.0));
    let (scope, o, b) = (gw.instant.scope, owner.to_owned(), bucket.to_owned());
    let found = gw.store.point(move |s| s.instant_lookup(&hash, scope, &o, &b)).await;
    let Some(chunk) = found.s3()? else {
        return Ok(None);
    };
    // Every other digest the client declared must agree with the stored content;
    // if one does not, reading the body yields the precise error.
    if chunk.digests.size != len || declared.md5.is_some_and(|m| m != chunk.digests.md5) {
        return Ok(None);
    }
    for (alg, want) in &declared.checksums {
        if &gw.store.stored_checksum(hash, &chunk, *alg).await.s3()? != want {
            return Ok(None);
        }
    }
    Ok(Some(Content::Stored { hash, chunk }))
}

/// Counts and logs a hit that `owner` committed.
pub fn record_hit(gw: &Gateway, owner: &str, bucket: &str, key: &str, size: u64, part: Option<u16>) {
    gw.metrics.instant_hit(owner, size);
    tracing::info!(
        bucket,
        key,
        size,
        part,
        "instant upload: content already stored, body not transferred"
    );
}

/// Marks a hit answer: visible to the user, and closing the connection when a body was
/// announced and left unread (see above; a probe has none, so its connection stays).
pub fn hit_headers(headers: &mut HeaderMap, body_unread: bool) {
    headers.insert("x-fastgate-dedup", http::HeaderValue::from_static("hit"));
    if body_unread {
        headers.insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(uri: &str, headers: &[(&str, &str)]) -> s3s::S3Result<Option<u64>> {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                http::HeaderValue::from_str(v).expect("value"),
            );
        }
        probe_size(&h, &uri.parse().expect("uri"))
    }

    #[test]
    fn probe_is_marked_by_its_size_in_a_header_or_the_query_and_carries_no_body() {
        assert_eq!(ask("/b/k", &[]).ok(), Some(None));
        assert_eq!(ask("/b/k", &[("x-fastgate-probe", "42")]).ok(), Some(Some(42)));
        assert_eq!(ask("/b/k?x-id=PutObject&x-fastgate-probe=7", &[]).ok(), Some(Some(7)));
        // A parameter whose name only starts like the marker is not the marker.
        assert_eq!(ask("/b/k?x-fastgate-probe-size=7", &[]).ok(), Some(None));
        let code = |r: s3s::S3Result<Option<u64>>| r.err().map(|e| e.code().as_str().to_owned());
        assert_eq!(
            code(ask("/b/k", &[("x-fastgate-probe", "yes")])).as_deref(),
            Some("InvalidArgument")
        );
        let with_body = [("x-fastgate-probe", "5"), ("content-length", "5")];
        assert_eq!(code(ask("/b/k", &with_body)).as_deref(), Some("InvalidRequest"));
        assert_eq!(
            ask("/b/k", &[("x-fastgate-probe", "5"), ("content-length", "0")]).ok(),
            Some(Some(5))
        );
    }
}
