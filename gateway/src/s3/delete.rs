//! DeleteObject and DeleteObjects.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use super::access::{Action, RequestContext, Resource};
use super::error::ApiError;

/// S3 treats a version id of `null` as the (only) unversioned version.
fn version_ok(v: Option<&str>) -> bool {
    v.is_none_or(|v| v == "null")
}

pub async fn delete_object(
    gw: &Gateway,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let ctx = RequestContext::of(&req)?;
    let res = Resource::object(&req.input.bucket, &req.input.key);
    gw.authorize(&ctx, Action::DeleteObject, res).await?;
    if version_ok(req.input.version_id.as_deref()) {
        // Deleting a missing key succeeds, as on S3.
        gw.store
            .delete_object(&req.input.bucket, &req.input.key)
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
    // Each key is deleted under the same rule; with ownership deciding, the bucket does.
    gw.authorize(&ctx, Action::DeleteObject, Resource::bucket(&req.input.bucket))
        .await?;
    let quiet = req.input.delete.quiet.unwrap_or(false);
    if req.input.delete.objects.len() > 1000 {
        return Err(ApiError::MalformedXml.into());
    }
    let objects = req.input.delete.objects;
    let keys: Vec<String> = objects
        .iter()
        .filter(|o| version_ok(o.version_id.as_deref()))
        .map(|o| o.key.clone())
        .collect();
    // One transaction for the whole batch: one durable flush instead of one per key.
    let outcome = gw
        .store
        .delete_objects(&req.input.bucket, keys)
        .await
        .map_err(super::to_s3);
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for obj in objects {
        match &outcome {
            Ok(()) if !quiet => deleted.push(DeletedObject {
                key: Some(obj.key),
                version_id: obj.version_id,
                ..Default::default()
            }),
            Ok(()) => {}
            Err(e) => errors.push(Error {
                code: Some(e.code().as_str().to_owned()),
                key: Some(obj.key),
                message: e.message().map(str::to_owned),
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
