//! PutObject.

use fastgate_model::records::ObjectRecord;
use fastgate_model::{StorageError, WriteCondition, ids::now_ms};
use s3s::dto::{ETagCondition, PutObjectInput, PutObjectOutput};
use s3s::{S3Request, S3Response, S3Result};

use super::access::{Action, RequestContext, Resource};
use super::checksums::{Declared, Fields, set_checksums};
use super::error::{ApiError, StorageResultExt as _};
use super::headers;
use super::{Gateway, acl, body, check_key, instant, lock, sse, unsupported};
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
            return Err(ApiError::NotImplemented(
                "A header you provided implies functionality that is not implemented",
            )
            .into());
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
    let ctx = RequestContext::of(&req)?;
    let S3Request {
        input,
        headers: req_headers,
        uri,
        trailing_headers,
        extensions,
        ..
    } = req;
    let res = Resource::object(&input.bucket, &input.key);
    let bucket = gw.authorize(&ctx, Action::PutObject, res).await?;
    check_key(&input.key)?;
    let mut asked = unsupported::object_write!(input);
    asked.append = input.write_offset_bytes.is_some();
    // Encryption is `sse`'s, checked below before the body is read; the lock headers
    // are lock.rs's to check.
    asked.encryption = false;
    asked.lock = false;
    unsupported::check_object_write(&asked)?;
    let protection = sse::for_write(gw, &sse::asked!(input), &bucket, sse::secure(&extensions))?;
    let (owner, acl) = gw
        .object_write_acl(&ctx, &bucket, &acl::object_acl_request!(input))
        .await?;
    let lock = gw
        .object_write_lock(&ctx, &input.bucket, &input.key, &bucket, &lock::lock_headers!(input))
        .await?;
    let length = input.content_length.map_or(0, |l| u64::try_from(l).unwrap_or(0));
    let probe_size = instant::probe_size(&req_headers, &uri)?;
    if length.max(probe_size.unwrap_or(0)) > gw.max_object_size {
        return Err(ApiError::EntityTooLarge.into());
    }
    let declared = Declared::from_headers(&req_headers)?;
    let cond = write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
    let tags = headers::parse_tagging(input.tagging.as_deref())?;
    // What the request says; the model fills size, ETag and the chunk from the body.
    let record = ObjectRecord {
        size: 0,
        etag: String::new(),
        last_modified_ms: now_ms(),
        owner,
        headers: headers::object_headers!(input),
        user_metadata: headers::metadata_to_vec(input.metadata.clone()),
        tags,
        checksum: None,
        parts: Vec::new(),
        multipart: false,
        acl,
        version: None,
        lock,
        encryption: protection.encryption.clone(),
    };

    let mut resp_headers = http::HeaderMap::new();
    let mut written = None;
    let claim = match ctx.claimant() {
        Some(claimant) if protection.allows_instant() => {
            let seal = protection.spec.as_ref();
            instant::probe(gw, &req_headers, &declared, claimant, &input.bucket, probe_size, seal).await?
        }
        _ => None,
    };
    if let Some(content) = claim {
        let size = content.digests().size;
        let mut rec = record.clone();
        rec.checksum = declared.object_checksum(content.digests());
        match gw
            .store
            .store_object(&input.bucket, &input.key, rec, content, cond.clone())
            .await
        {
            Ok(rec) => {
                instant::record_hit(gw, ctx.owner_id(), &input.bucket, &input.key, size, None);
                instant::hit_headers(&mut resp_headers, probe_size.is_none());
                written = Some(rec);
            }
            // Collected between lookup and commit: the body is still unread.
            Err(StorageError::ChunkGone(_)) => {}
            Err(e) => return Err(super::to_s3(e)),
        }
    }
    let record = match written {
        Some(rec) => rec,
        // A probe's miss changes nothing; the client sends the body next.
        None if probe_size.is_some() => return Err(super::error::not_stored()),
        None => {
            let incoming = body::Incoming {
                extensions: &extensions,
                body: input.body,
                headers: &req_headers,
                uri: &uri,
                trailing: trailing_headers.as_ref(),
                length,
                seal: protection.spec.clone(),
            };
            let (bucket, key) = (input.bucket.clone(), input.key.clone());
            body::store_body(gw, incoming, declared, move |store, content, declared| async move {
                let mut record = record;
                record.checksum = declared.object_checksum(content.digests());
                store.store_object(&bucket, &key, record, content, cond).await.s3()
            })
            .await?
        }
    };
    Metrics::add(&gw.metrics.objects_put, 1);

    let mut out = PutObjectOutput {
        e_tag: Some(headers::etag(&record.etag)),
        version_id: headers::version_id(&record),
        ..Default::default()
    };
    let a = sse::answer!(out, record.encryption.as_ref());
    out.ssekms_encryption_context = a.context;
    let fields = Fields::of(record.checksum.as_ref());
    out.checksum_type = fields.checksum_type.clone();
    set_checksums!(out, fields);
    let mut resp = S3Response::new(out);
    resp.headers = resp_headers;
    Ok(resp)
}
