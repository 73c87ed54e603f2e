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

use fastgate_model::ChunkHash;
use fastgate_model::records::ChunkRecord;
use http::HeaderMap;

use super::Gateway;
use super::checksums::Declared;
use super::error::StorageResultExt as _;
use crate::metrics::Metrics;

/// A chunk the request may claim without sending its bytes.
pub struct Hit {
    pub hash: ChunkHash,
    pub chunk: ChunkRecord,
}

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

/// Looks for a hit. `None` means: read the body as usual.
pub async fn probe(
    gw: &Gateway,
    headers: &HeaderMap,
    declared: &Declared,
    owner: &str,
    bucket: &str,
) -> s3s::S3Result<Option<Hit>> {
    if !gw.instant.enabled || !expects_continue(headers) || declared.trailer.is_some() {
        return Ok(None);
    }
    let Some(len) = announced_length(headers) else {
        return Ok(None);
    };
    let from_checksum = declared
        .checksums
        .iter()
        .find(|(a, _)| *a == fastgate_model::checksum::ChecksumAlgorithm::Sha256)
        .and_then(|(_, v)| <[u8; 32]>::try_from(v.as_slice()).ok());
    let mut hash = declared.content_sha256.or(from_checksum).map(ChunkHash);
    if hash.is_none()
        && gw.instant.trust_md5
        && let Some(md5) = declared.md5
    {
        hash = gw.store.sha256_for_md5(&md5).s3()?;
    }
    let Some(hash) = hash else { return Ok(None) };
    let Some(chunk) = gw.store.instant_lookup(&hash, gw.instant.scope, owner, bucket).s3()? else {
        return Ok(None);
    };
    // Every other digest the client declared must agree with the stored content;
    // if one does not, reading the body yields the precise error.
    if chunk.digests.size != len || declared.md5.is_some_and(|m| m != chunk.digests.md5) {
        return Ok(None);
    }
    for (alg, want) in &declared.checksums {
        if &chunk_checksum(gw, &chunk, hash, *alg).await? != want {
            return Ok(None);
        }
    }
    Ok(Some(Hit { hash, chunk }))
}

/// A stored chunk's checksum of `alg`: from its record, or read back from disk (no
/// network) when it was not written with that algorithm.
pub async fn chunk_checksum(
    gw: &Gateway,
    chunk: &ChunkRecord,
    hash: ChunkHash,
    alg: fastgate_model::checksum::ChecksumAlgorithm,
) -> s3s::S3Result<Vec<u8>> {
    if let Some(v) = chunk.digests.checksum(alg) {
        return Ok(v.to_vec());
    }
    let (store, c) = (gw.store.clone(), chunk.clone());
    tokio::task::spawn_blocking(move || store.chunk_checksum(&c, &hash, alg))
        .await
        .map_err(|e| s3s::S3Error::with_source(s3s::S3ErrorCode::InternalError, Box::new(e)))?
        .s3()
}

/// Counts and logs a hit that was committed.
pub fn record_hit(gw: &Gateway, bucket: &str, key: &str, size: u64, part: Option<u16>) {
    Metrics::add(&gw.metrics.dedup_hits, 1);
    Metrics::add(&gw.metrics.dedup_bytes_not_received, size);
    Metrics::add(&gw.metrics.dedup_bytes_not_stored, size);
    tracing::info!(
        bucket,
        key,
        size,
        part,
        "instant upload: content already stored, body not transferred"
    );
}

/// Marks a hit answer: visible to the user, and closing the connection (see above).
pub fn hit_headers(headers: &mut HeaderMap) {
    headers.insert("x-fastgate-dedup", http::HeaderValue::from_static("hit"));
    headers.insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
}
