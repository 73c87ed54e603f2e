//! PutObject.

use fastgate_model::records::{ObjectPart, ObjectRecord};
use fastgate_model::{StorageError, WriteCondition, ids::now_ms};
use s3s::dto::{ETagCondition, PutObjectInput, PutObjectOutput};
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::checksums::{Declared, Fields, set_checksums};
use super::error::StorageResultExt as _;
use super::headers;
use super::{Gateway, body, check_key, instant, unsupported};
use crate::metrics::Metrics;

/// S3 conditional writes: `If-None-Match: *` (create only) and `If-Match: <etag>`.
pub(super) fn write_condition(
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<WriteCondition> {
    let mut c = WriteCondition::default();
    match if_none_match {
        Some(ETagCondition::Any) => c.if_none_match_any = true,
        Some(ETagCondition::ETag(_)) => {
            return Err(s3_error!(
                NotImplemented,
                "A header you provided implies functionality that is not implemented"
            ));
        }
        None => {}
    }
    c.if_match = match if_match {
        Some(ETagCondition::Any) => Some("*".to_owned()),
        Some(ETagCondition::ETag(e)) => Some(e.value().to_owned()),
        None => None,
    };
    Ok(c)
}

pub async fn put_object(gw: &Gateway, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
    let owner = Gateway::owner(&req)?;
    let S3Request {
        input,
        headers: req_headers,
        uri,
        trailing_headers,
        extensions,
        ..
    } = req;
    gw.owned_bucket(&owner, &input.bucket)?;
    check_key(&input.key)?;
    let mut asked = unsupported::object_write!(input);
    asked.append = input.write_offset_bytes.is_some();
    unsupported::check_object_write(&asked)?;
    let length = input.content_length.map_or(0, |l| u64::try_from(l).unwrap_or(0));
    if length > gw.max_object_size {
        return Err(s3_error!(
            EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed object size."
        ));
    }
    let declared = Declared::from_headers(&req_headers)?;
    let cond = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
    let tags = headers::parse_tagging(input.tagging.as_deref())?;
    let mut record = ObjectRecord {
        size: 0,
        etag: String::new(),
        last_modified_ms: now_ms(),
        owner: owner.clone(),
        headers: headers::object_headers!(input),
        user_metadata: headers::metadata_to_vec(input.metadata.clone()),
        tags,
        checksum: None,
        parts: Vec::new(),
        multipart: false,
    };

    let mut resp_headers = http::HeaderMap::new();
    let mut committed = false;
    if let Some(hit) = instant::probe(gw, &req_headers, &declared, &owner, &input.bucket).await? {
        let d = &hit.chunk.digests;
        record.size = d.size;
        record.etag = hex::encode(d.md5);
        record.checksum = declared.object_checksum(d);
        record.parts = vec![ObjectPart {
            hash: hit.hash,
            location: hit.chunk.location,
            size: d.size,
            md5: d.md5,
            checksum: None,
        }];
        match gw
            .store
            .put_object(&input.bucket, &input.key, record.clone(), Vec::new(), cond.clone())
            .await
        {
            Ok(()) => {
                instant::record_hit(gw, &input.bucket, &input.key, d.size, None);
                instant::hit_headers(&mut resp_headers);
                committed = true;
            }
            // Collected between lookup and commit: the body is still unread.
            Err(StorageError::ChunkGone(_)) => {}
            Err(e) => return Err(super::to_s3(e)),
        }
    }
    if !committed {
        let (payload, verified) = body::payload(&extensions, input.body, &req_headers, &uri, &declared);
        let writer = body::receive(gw, payload, length, &declared.extras(), verified).await?;
        let trailing = trailing_headers.as_ref().and_then(|t| t.take());
        let (store, metrics) = (gw.store.clone(), gw.metrics.clone());
        let (bucket, key) = (input.bucket.clone(), input.key.clone());
        record = body::detached(async move {
            let staged = body::finish(&store, &metrics, writer).await?;
            declared.verify(&staged.digests, trailing.as_ref())?;
            let d = staged.digests.clone();
            record.size = d.size;
            record.etag = hex::encode(d.md5);
            record.checksum = declared.object_checksum(&d);
            record.parts = vec![ObjectPart {
                hash: staged.hash(),
                location: staged.location,
                size: d.size,
                md5: d.md5,
                checksum: None,
            }];
            store
                .put_object(&bucket, &key, record.clone(), vec![staged], cond)
                .await
                .s3()?;
            Ok(record)
        })
        .await?;
    }
    Metrics::add(&gw.metrics.objects_put, 1);

    let mut out = PutObjectOutput {
        e_tag: Some(headers::etag(&record.etag)),
        ..Default::default()
    };
    let fields = Fields::of(record.checksum.as_ref());
    out.checksum_type = fields.checksum_type.clone();
    set_checksums!(out, fields);
    let mut resp = S3Response::new(out);
    resp.headers = resp_headers;
    Ok(resp)
}
