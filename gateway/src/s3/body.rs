//! Reading a request body into a staged chunk: streamed, hashed on the way to disk,
//! never held whole in memory.

use std::sync::Arc;

use fastgate_model::checksum::ChecksumAlgorithm;
use fastgate_model::seal::SealSpec;
use fastgate_model::{ChunkWriter, Content, StagedChunk, Store};
use futures::StreamExt as _;
use s3s::dto::StreamingBlob;
use s3s::stream::aws_chunked_stream::AwsChunkedStreamError;
use s3s::stream::upload_stream::UploadStreamError;
use s3s::{S3Error, S3ErrorCode, S3Result, StdError};

use super::Gateway;
use super::checksums::Declared;
use super::error::{ApiError, StorageResultExt as _};
use crate::metrics::Metrics;

/// Maps a body stream failure to the S3 error a client should see: a signed payload
/// hash or chunk signature mismatch, a short body, or a dropped connection.
fn body_error(e: StdError) -> S3Error {
    if let Some(UploadStreamError::Sha256Mismatch) = e.downcast_ref::<UploadStreamError>() {
        return super::error::sha256_mismatch();
    }
    let code = if let Some(u) = e.downcast_ref::<UploadStreamError>() {
        u.to_s3_error_code()
    } else if let Some(a) = e.downcast_ref::<AwsChunkedStreamError>() {
        a.to_s3_error_code()
    } else if let Some(s) = e.downcast_ref::<S3Error>() {
        s.code().clone()
    } else {
        S3ErrorCode::IncompleteBody
    };
    S3Error::with_source(code, e)
}

/// The body's SHA-256 when s3s verifies it while streaming: a SigV4-signed (header or
/// presigned) single-chunk payload hash. s3s then fails the body stream at its end on
/// a mismatch, so the writer need not hash the bytes a second time. SigV2 requests and
/// unsigned or streaming payloads are not verified that way and are hashed here.
pub fn verified_sha256(headers: &http::HeaderMap, uri: &http::Uri, declared: &Declared) -> Option<[u8; 32]> {
    let v4_header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 "));
    let v4_query = uri
        .query()
        .is_some_and(|q| q.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256"));
    if v4_header || v4_query {
        declared.content_sha256
    } else {
        None
    }
}

/// The body to store and the SHA-256 the writer may take as verified: the body s3s
/// streams (with [`verified_sha256`]), or the same body claimed from s3s before it
/// hashed it ([`super::raw_body`]), which the writer hashes itself and
/// [`Declared::verify`] checks against the signed header before anything commits.
pub fn payload(
    extensions: &http::Extensions,
    body: Option<StreamingBlob>,
    headers: &http::HeaderMap,
    uri: &http::Uri,
    declared: &Declared,
) -> (Option<StreamingBlob>, Option<[u8; 32]>) {
    match super::raw_body::claim(extensions) {
        Some(raw) => (Some(raw), None),
        None => (body, verified_sha256(headers, uri, declared)),
    }
}

/// Streams `body` into a new chunk on the store path the tracker picks (sealed as
/// `seal` says, if at all), and returns the writer once every byte has arrived (see
/// [`finish`]).
pub async fn receive(
    gw: &Gateway,
    body: Option<StreamingBlob>,
    size_hint: u64,
    extras: &[ChecksumAlgorithm],
    verified_sha256: Option<[u8; 32]>,
    seal: Option<SealSpec>,
) -> S3Result<ChunkWriter> {
    let mut writer = gw.store.chunk_writer(size_hint, extras).s3()?;
    if let Some(s) = verified_sha256 {
        writer.trust_verified_sha256(s);
    }
    if let Some(spec) = seal {
        writer.seal(spec).map_err(|e| super::to_s3(e.into()))?;
    }
    // A body without Content-Length (`Transfer-Encoding: chunked`) was not checked
    // against the size limits before it was read: bound it here.
    let limit = gw.max_object_size.max(5 << 30);
    let mut received = 0u64;
    if let Some(mut body) = body {
        while let Some(item) = body.next().await {
            let bytes = item.map_err(body_error)?;
            received += bytes.len() as u64;
            if received > limit {
                return Err(ApiError::EntityTooLarge.into());
            }
            Metrics::add(&gw.metrics.request_body_bytes, bytes.len() as u64);
            writer.write(bytes).await.map_err(|e| super::to_s3(e.into()))?;
        }
    }
    Ok(writer)
}

/// Makes a received chunk durable in its temp place and hands it over for commit.
pub async fn finish(store: &Arc<Store>, metrics: &Metrics, writer: ChunkWriter) -> S3Result<StagedChunk> {
    let staged = writer.finish().await.map_err(|e| super::to_s3(e.into()))?;
    let hash = staged.hash();
    if store.point(move |s| s.chunk(&hash)).await.s3()?.is_some() {
        Metrics::add(&metrics.dedup_bytes_not_stored, staged.digests.size);
    }
    Ok(staged)
}

/// What a PutObject or UploadPart request brings for its body.
pub struct Incoming<'a> {
    pub extensions: &'a http::Extensions,
    pub body: Option<StreamingBlob>,
    pub headers: &'a http::HeaderMap,
    pub uri: &'a http::Uri,
    pub trailing: Option<&'a s3s::TrailingHeaders>,
    /// The announced length (0 when unknown): a size hint, checked against limits by
    /// the handler.
    pub length: u64,
    /// How the chunk is sealed (encryption at rest); `None` is plaintext.
    pub seal: Option<SealSpec>,
}

/// The body half of the write path, shared by PutObject and UploadPart: receives the
/// body into a staged chunk, makes it durable, verifies it against what the request
/// declared (headers and trailers), and hands it to `commit` as [`Content`], all of it
/// after the last byte [`detached`] from the request.
pub async fn store_body<T, C, F>(gw: &Gateway, incoming: Incoming<'_>, declared: Declared, commit: C) -> S3Result<T>
where
    T: Send + 'static,
    C: FnOnce(Arc<Store>, Content, Declared) -> F + Send + 'static,
    F: std::future::Future<Output = S3Result<T>> + Send + 'static,
{
    let Incoming {
        extensions,
        body,
        headers,
        uri,
        trailing,
        length,
        seal,
    } = incoming;
    let (payload, verified) = payload(extensions, body, headers, uri, &declared);
    let writer = receive(gw, payload, length, &declared.extras(), verified, seal).await?;
    let trailing = trailing.and_then(|t| t.take());
    let (store, metrics) = (gw.store.clone(), gw.metrics.clone());
    detached(async move {
        let staged = finish(&store, &metrics, writer).await?;
        declared.verify(&staged.digests, trailing.as_ref())?;
        commit(store, Content::Staged(staged), declared).await
    })
    .await
}

/// Runs the rest of a write to completion even if the client goes away. Once every
/// byte of a body has arrived, finishing and committing it is cheap, and keeping it
/// makes the client's retry (after a lost answer or a killed process) an instant
/// upload instead of a second transfer.
pub async fn detached<T, F>(work: F) -> S3Result<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = S3Result<T>> + Send + 'static,
{
    tokio::spawn(work)
        .await
        .map_err(|e| S3Error::with_source(S3ErrorCode::InternalError, Box::new(e)))?
}
