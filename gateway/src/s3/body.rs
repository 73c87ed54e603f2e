//! Reading a request body into a staged chunk: streamed, hashed on the way to disk,
//! never held whole in memory.

use fastgate_storage::StagedChunk;
use fastgate_storage::checksum::ChecksumAlgorithm;
use futures::StreamExt as _;
use s3s::dto::StreamingBlob;
use s3s::stream::aws_chunked_stream::AwsChunkedStreamError;
use s3s::stream::upload_stream::UploadStreamError;
use s3s::{S3Error, S3ErrorCode, S3Result, StdError};

use super::Gateway;
use super::error::StorageResultExt as _;
use crate::metrics::Metrics;

/// Maps a body stream failure to the S3 error a client should see: a signed payload
/// hash or chunk signature mismatch, a short body, or a dropped connection.
fn body_error(e: StdError) -> S3Error {
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

/// Streams `body` into a new chunk on the store path the tracker picks.
pub async fn ingest(
    gw: &Gateway,
    body: Option<StreamingBlob>,
    size_hint: u64,
    extras: &[ChecksumAlgorithm],
) -> S3Result<StagedChunk> {
    let mut writer = gw.store.chunk_writer(size_hint, extras).s3()?;
    if let Some(mut body) = body {
        while let Some(item) = body.next().await {
            let bytes = item.map_err(body_error)?;
            Metrics::add(&gw.metrics.request_body_bytes, bytes.len() as u64);
            writer.write(bytes).await.map_err(|e| super::to_s3(e.into()))?;
        }
    }
    let staged = writer.finish().await.map_err(|e| super::to_s3(e.into()))?;
    if gw.store.chunk(&staged.hash()).s3()?.is_some() {
        Metrics::add(&gw.metrics.dedup_bytes_not_stored, staged.digests.size);
    }
    Ok(staged)
}
