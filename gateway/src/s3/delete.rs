//! DeleteObject and DeleteObjects.

use fastgate_model::{DeleteCondition, Deleted, VersionId};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::access::{Action, RequestContext, Resource};
use super::error::ApiError;
use super::{Gateway, headers};

/// The `x-amz-version-id` and `x-amz-delete-marker` of a delete's answer.
fn answer(d: &Deleted) -> (Option<String>, Option<bool>) {
    (d.version_id.map(|v| v.to_string()), d.delete_marker.then_some(true))
}

/// Whether a version id's refusal says it names no version (rather than that it is
/// malformed).
fn names_nothing(e: &s3s::S3Error) -> bool {
    *e.code() == s3s::S3ErrorCode::NoSuchVersion
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
    let action = Action::DeleteObject.for_version(req.input.version_id.is_some());
    gw.authorize(&ctx, action, res).await?;
    let i = &req.input;
    let version = match headers::parse_version_id(i.version_id.as_deref()) {
        // An id of S3's shape that fastgate never gave names no version: nothing to
        // remove, which is not an error.
        Err(e) if names_nothing(&e) => {
            return Ok(S3Response::new(DeleteObjectOutput {
                version_id: i.version_id.clone(),
                ..Default::default()
            }));
        }
        r => r?,
    };
    // Conditions compare the version named, or the current one.
    let cond = DeleteCondition {
        if_match: i.if_match.as_ref().map(etag_condition),
        last_modified_ms: i.if_match_last_modified_time.as_ref().map(headers::timestamp_ms),
        size: i.if_match_size,
    };
    let done = match version {
        // Removing a version for good; one that does not exist is not an error.
        Some(id) => {
            let bypass = gw
                .may_bypass_governance(&ctx, i.bypass_governance_retention, res)
                .await?;
            gw.store
                .delete_object_version(&i.bucket, &i.key, id, cond, bypass)
                .await
                .map_err(super::to_s3)?
        }
        None => {
            // Deleting a missing key succeeds, as on S3 (unless a condition names it).
            gw.store
                .delete_object_if(&i.bucket, &i.key, cond, Some(ctx.owner_id().to_owned()))
                .await
                .map_err(super::to_s3)?
        }
    };
    let (version_id, delete_marker) = answer(&done);
    Ok(S3Response::new(DeleteObjectOutput {
        version_id,
        delete_marker,
        ..Default::default()
    }))
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
    // Each key is authorized as its own DeleteObject (DeleteObjectVersion where it names
    // a version), as S3 does: a policy may let a
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
                .authorize(
                    &ctx,
                    Action::DeleteObject.for_version(o.version_id.is_some()),
                    Resource::object(bucket, &o.key),
                )
                .await
            {
                Ok(_) => None,
                Err(e) if super::error::is_no_such_bucket(&e) => return Err(e),
                Err(e) => Some(code_and_message(&e)),
            },
        );
    }
    // A malformed version id is that key's error, one that names no version has nothing
    // to delete; the others go on.
    let mut nothing = vec![false; objects.len()];
    for ((o, r), n) in objects.iter().zip(refused.iter_mut()).zip(nothing.iter_mut()) {
        if r.is_none()
            && let Err(e) = headers::parse_version_id(o.version_id.as_deref())
        {
            if names_nothing(&e) {
                *n = true;
            } else {
                *r = Some(code_and_message(&e));
            }
        }
    }
    let keys: Vec<(String, Option<VersionId>, DeleteCondition)> = objects
        .iter()
        .zip(&refused)
        .zip(&nothing)
        .filter(|((_, r), n)| r.is_none() && !**n)
        .map(|((o, _), _)| {
            let cond = DeleteCondition {
                if_match: o.e_tag.as_ref().map(|e| e.value().to_owned()),
                last_modified_ms: o.last_modified_time.as_ref().map(headers::timestamp_ms),
                size: o.size,
            };
            let version = headers::parse_version_id(o.version_id.as_deref()).ok().flatten();
            (o.key.clone(), version, cond)
        })
        .collect();
    // A bypass is asked for the whole batch; it holds where the principal may bypass on
    // every key that names a version (the only deletes it can matter to).
    let mut bypass = req.input.bypass_governance_retention == Some(true);
    for o in objects.iter().filter(|o| o.version_id.is_some()) {
        if !bypass {
            break;
        }
        bypass = gw
            .may_bypass_governance(&ctx, Some(true), Resource::object(bucket, &o.key))
            .await?;
    }
    // One transaction for the whole batch: one durable flush instead of one per key.
    let owner = Some(ctx.owner_id().to_owned());
    let (mut per_key, whole) = match gw.store.delete_objects(&req.input.bucket, keys, owner, bypass).await {
        Ok(outcomes) => (outcomes.into_iter(), None),
        Err(e) => (Vec::new().into_iter(), Some(super::to_s3(e))),
    };
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for ((obj, refused), nothing) in objects.into_iter().zip(refused).zip(nothing) {
        let outcome = match &whole {
            _ if refused.is_some() => Err(refused),
            _ if nothing => Ok(None),
            Some(e) => Err(Some(code_and_message(e))),
            None => match per_key.next() {
                Some(Ok(d)) => Ok(Some(d)),
                Some(Err(e)) => Err(Some(code_and_message(&super::to_s3(e)))),
                None => Ok(None),
            },
        };
        let (done, failed) = match outcome {
            Ok(d) => (d, None),
            Err(f) => (None, f),
        };
        match failed {
            None if !quiet => {
                let done = done.unwrap_or_default();
                // A marker written answers its own version id; a version removed, the
                // one named.
                let (marker_version, delete_marker) = answer(&done);
                let (version_id, delete_marker_version_id) = match (&obj.version_id, delete_marker) {
                    (Some(v), _) => (Some(v.clone()), delete_marker.map(|_| v.clone())),
                    (None, Some(_)) => (None, marker_version),
                    (None, None) => (None, None),
                };
                deleted.push(DeletedObject {
                    key: Some(obj.key),
                    version_id,
                    delete_marker,
                    delete_marker_version_id,
                })
            }
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
