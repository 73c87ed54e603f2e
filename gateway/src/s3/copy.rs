//! CopyObject: a copy references the source's chunks; no bytes move, unless the copy
//! is encrypted otherwise than its source: then its bytes are read (opened with the
//! source's key) and written again, sealed as the copy asks.

use fastgate_model::ids::now_ms;
use fastgate_model::records::ObjectRecord;
use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result};

use super::access::{Action, RequestContext, Resource};
use super::checksums::{Fields, set_checksums};
use super::error::{ApiError, StorageResultExt as _};
use super::headers::{self, timestamp};
use super::{Gateway, acl, check_key, lock, sse, unsupported};
use fastgate_model::Content;
use fastgate_model::encryption::ObjectEncryption;

/// The source of a copy (bucket, key and version), checked for access.
pub(super) async fn source(gw: &Gateway, ctx: &RequestContext, src: &CopySource) -> S3Result<ObjectRecord> {
    let CopySource::Bucket {
        bucket,
        key,
        version_id,
    } = src
    else {
        return Err(ApiError::NotImplemented("Copying from an access point is not supported").into());
    };
    let action = Action::GetObject.for_version(version_id.is_some());
    gw.authorize(&ctx.for_copy_source(), action, Resource::object(bucket, key))
        .await?;
    super::get::read_version(gw, bucket, key, version_id.as_deref()).await
}

/// `x-amz-copy-source-if-*` preconditions.
pub(super) fn check_source_conditions(
    rec: &ObjectRecord,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let matches = |c: &ETagCondition| match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == rec.etag,
    };
    let failed = || S3Error::from(ApiError::PreconditionFailed);
    let modified = rec.last_modified_ms / 1000;
    let secs = |t: &Timestamp| headers::timestamp_ms(t) / 1000;
    if let Some(m) = if_match {
        if !matches(m) {
            return Err(failed());
        }
    } else if if_unmodified_since.is_some_and(|t| modified > secs(t)) {
        return Err(failed());
    }
    if let Some(m) = if_none_match {
        if matches(m) {
            return Err(failed());
        }
    } else if if_modified_since.is_some_and(|t| modified <= secs(t)) {
        return Err(failed());
    }
    Ok(())
}

pub async fn copy_object(gw: &Gateway, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
    let ctx = RequestContext::of(&req)?;
    let secure = sse::secure(&req.extensions);
    let input = req.input;
    let res = Resource::object(&input.bucket, &input.key);
    let bucket = gw.authorize(&ctx, Action::PutObject, res).await?;
    check_key(&input.key)?;
    let mut asked = unsupported::object_write!(input);
    // Encryption is `sse`'s, checked here; the lock headers are lock.rs's to check.
    let encryption_asked = asked.encryption;
    asked.encryption = false;
    asked.lock = false;
    unsupported::check_object_write(&asked)?;
    let protection = sse::for_write(gw, &sse::asked!(input), &bucket, secure)?;
    let (owner, acl) = gw
        .object_write_acl(&ctx, &bucket, &acl::object_acl_request!(input))
        .await?;
    let lock = gw
        .object_write_lock(&ctx, &input.bucket, &input.key, &bucket, &lock::lock_headers!(input))
        .await?;
    let src = source(gw, &ctx, &input.copy_source).await?;
    let src_key = sse::for_read(gw, &src, &sse::copy_source_customer!(input), secure)?;
    check_source_conditions(
        &src,
        input.copy_source_if_match.as_ref(),
        input.copy_source_if_none_match.as_ref(),
        input.copy_source_if_modified_since.as_ref(),
        input.copy_source_if_unmodified_since.as_ref(),
    )?;
    let replace = input
        .metadata_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
    let same = matches!(&input.copy_source, CopySource::Bucket { bucket, key, .. } if **bucket == *input.bucket && **key == *input.key);
    if same
        && !replace
        && !encryption_asked
        && input.storage_class.is_none()
        && input.website_redirect_location.is_none()
    {
        return Err(ApiError::InvalidRequest("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.").into());
    }
    let source_version_id = headers::version_id(&src);
    let mut rec = src.clone();
    // A copy is a new object: its owner and ACL are the request's, not the source's.
    rec.owner = owner;
    rec.acl = acl;
    // Nor its lock: a copy is protected as its request (and its bucket's default) says.
    rec.lock = lock;
    rec.last_modified_ms = now_ms();
    if replace {
        rec.headers = headers::object_headers!(input);
        rec.user_metadata = headers::metadata_to_vec(input.metadata.clone());
    }
    if input
        .tagging_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE)
    {
        rec.tags = headers::parse_tagging(input.tagging.as_deref())?;
    }
    let cond = super::put::write_condition(input.if_match.as_ref(), input.if_none_match.as_ref())?;
    let shares = ObjectEncryption::shares_chunks_with(src.encryption.as_ref(), protection.encryption.as_ref());
    rec.encryption.clone_from(&protection.encryption);
    let rec = if shares {
        gw.store
            .put_object(&input.bucket, &input.key, rec, Vec::new(), cond)
            .await
            .s3()?
    } else {
        // Re-encrypted into one new chunk. A composite checksum was of the source's
        // parts, which the copy no longer has.
        if rec.checksum.as_ref().is_some_and(|c| c.parts.is_some()) {
            rec.checksum = None;
        }
        let extras: Vec<_> = rec.checksum.as_ref().map(|c| c.algorithm).into_iter().collect();
        let mut reader = gw.store.read(&src, 0, src.size, src_key.as_ref()).await.s3()?;
        let mut writer = gw.store.chunk_writer(src.size, &extras).s3()?;
        if let Some(spec) = protection.spec.clone() {
            writer.seal(spec).map_err(|e| super::to_s3(e.into()))?;
        }
        while let Some(b) = reader.next().await {
            let b = b.map_err(|e| super::to_s3(e.into()))?;
            writer.write(b).await.map_err(|e| super::to_s3(e.into()))?;
        }
        let staged = writer.finish().await.map_err(|e| super::to_s3(e.into()))?;
        gw.store
            .store_object(&input.bucket, &input.key, rec, Content::Staged(staged), cond)
            .await
            .s3()?
    };
    let fields = Fields::of(rec.checksum.as_ref());
    let mut result = CopyObjectResult {
        e_tag: Some(headers::etag(&rec.etag)),
        last_modified: Some(timestamp(rec.last_modified_ms)),
        checksum_type: fields.checksum_type.clone(),
        ..Default::default()
    };
    set_checksums!(result, fields);
    let mut out = CopyObjectOutput {
        copy_object_result: Some(result),
        copy_source_version_id: source_version_id,
        version_id: headers::version_id(&rec),
        ..Default::default()
    };
    let a = sse::answer!(out, rec.encryption.as_ref());
    out.ssekms_encryption_context = a.context;
    Ok(S3Response::new(out))
}
