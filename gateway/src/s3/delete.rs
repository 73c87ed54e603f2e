//! DeleteObject and DeleteObjects.

use fastgate_model::DeleteCondition;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::access::{Action, RequestContext, Resource};
use super::error::ApiError;
use super::{Gateway, headers};

/// S3 treats a version id of `null` as the (only) unversioned version.
fn version_ok(v: Option<&str>) -> bool {
    v.is_none_or(|v| v == "null")
}

/// An S3 ETag condition as the storage layer compares it.
fn etag_condition(c: &ETagCondition) -> String {
    match c {
        ETagCondition::Any => "*".to_owned(),
        ETagCondition::ETag(e) => e.value().to_owned(),
    }
}

pub async fn delete_object(
    gw: &Gateway,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let ctx = RequestContext::of(&req)?;
    let res = Resource::object(&req.input.bucket, &req.input.key);
    gw.authorize(&ctx, Action::DeleteObject, res).await?;
    let i = &req.input;
    if version_ok(i.version_id.as_deref()) {
        let cond = DeleteCondition {
            if_match: i.if_match.as_ref().map(etag_condition),
            last_modified_ms: i.if_match_last_modified_time.as_ref().map(headers::timestamp_ms),
            size: i.if_match_size,
        };
        // Deleting a missing key succeeds, as on S3 (unless a condition names it).
        gw.store
            .delete_object_if(&i.bucket, &i.key, cond)
            .await
            .map_err(super::to_s3)?;
    }
    Ok(S3Response::new(DeleteObjectOutput::default()))
}

pub async fn delete_objects(
    gw: &Gateway,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let ctx = RequestContext::of(&req)?;
    let quiet = req.input.delete.quiet.unwrap_or(false);
    if req.input.delete.objects.len() > 1000 {
        return Err(ApiError::MalformedXml.into());
    }
    let objects = req.input.delete.objects;
    let code_and_message = |e: &s3s::S3Error| (e.code().as_str().to_owned(), e.message().map(str::to_owned));
    // Each key is authorized as its own DeleteObject, as S3 does: a policy may let a
    // user delete some keys and not others. A key refused is an error entry of the
    // answer and is not deleted; a missing bucket fails the whole request.
    let bucket = &req.input.bucket;
    if objects.is_empty() {
        gw.authorize(&ctx, Action::DeleteObject, Resource::bucket(bucket))
            .await?;
    }
    let mut refused = Vec::with_capacity(objects.len());
    for o in &objects {
        refused.push(
            match gw
                .authorize(&ctx, Action::DeleteObject, Resource::object(bucket, &o.key))
                .await
            {
                Ok(_) => None,
                Err(e) if super::error::is_no_such_bucket(&e) => return Err(e),
                Err(e) => Some(code_and_message(&e)),
            },
        );
    }
    let keys: Vec<(String, DeleteCondition)> = objects
        .iter()
        .zip(&refused)
        .filter(|(o, r)| r.is_none() && version_ok(o.version_id.as_deref()))
        .map(|(o, _)| {
            let cond = DeleteCondition {
                if_match: o.e_tag.as_ref().map(|e| e.value().to_owned()),
                last_modified_ms: o.last_modified_time.as_ref().map(headers::timestamp_ms),
                size: o.size,
            };
            (o.key.clone(), cond)
        })
        .collect();
    // One transaction for the whole batch: one durable flush instead of one per key.
    let (mut per_key, whole) = match gw.store.delete_objects(&req.input.bucket, keys).await {
        Ok(outcomes) => (outcomes.into_iter(), None),
        Err(e) => (Vec::new().into_iter(), Some(super::to_s3(e))),
    };
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for (obj, refused) in objects.into_iter().zip(refused) {
        let failed = match &whole {
            _ if refused.is_some() => refused,
            Some(e) => Some(code_and_message(e)),
            // Keys with a version other than `null` were not sent: nothing to delete.
            None if !version_ok(obj.version_id.as_deref()) => None,
            None => per_key
                .next()
                .and_then(Result::err)
                .map(|e| code_and_message(&super::to_s3(e))),
        };
        match failed {
            None if !quiet => deleted.push(DeletedObject {
                key: Some(obj.key),
                version_id: obj.version_id,
                ..Default::default()
            }),
            None => {}
            Some((code, message)) => errors.push(Error {
                code: Some(code),
                key: Some(obj.key),
                message,
                version_id: obj.version_id,
            }),
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: (!errors.is_empty()).then_some(errors),
        ..Default::default()
    }))
}
