//! Object tagging (Get/Put/Delete), stored with the object record.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use super::access::{Action, RequestContext, Resource};
use super::error::{ApiError, StorageResultExt as _};

pub async fn get(gw: &Gateway, req: S3Request<GetObjectTaggingInput>) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let ctx = RequestContext::of(&req)?;
    let res = Resource::object(&req.input.bucket, &req.input.key);
    gw.authorize(&ctx, Action::GetObjectTagging, res).await?;
    let rec = {
        let (b, k) = (req.input.bucket.clone(), req.input.key.clone());
        gw.store.point(move |s| s.object(&b, &k)).await.s3()?
    };
    let tag_set = rec
        .tags
        .into_iter()
        .map(|(k, v)| Tag {
            key: Some(k),
            value: Some(v),
        })
        .collect();
    Ok(S3Response::new(GetObjectTaggingOutput {
        tag_set,
        version_id: None,
    }))
}

/// A tag set as S3 accepts it: keys and values present, keys unique and 1 to 128
/// characters, values up to 256, at most 10 tags. PutObjectTagging's and a form
/// upload's `tagging` field's.
pub(super) fn tag_list(tag_set: TagSet) -> S3Result<Vec<(String, String)>> {
    let mut tags: Vec<(String, String)> = Vec::new();
    for t in tag_set {
        let (Some(k), Some(v)) = (t.key, t.value) else {
            return Err(ApiError::InvalidTag("A tag needs a key and a value").into());
        };
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 || tags.iter().any(|(x, _)| *x == k) {
            return Err(ApiError::InvalidTag("The TagKey you have provided is invalid").into());
        }
        tags.push((k, v));
    }
    if tags.len() > 10 {
        return Err(ApiError::InvalidTag("Object tags cannot be greater than 10").into());
    }
    Ok(tags)
}

pub async fn put(gw: &Gateway, req: S3Request<PutObjectTaggingInput>) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let ctx = RequestContext::of(&req)?;
    let res = Resource::object(&req.input.bucket, &req.input.key);
    gw.authorize(&ctx, Action::PutObjectTagging, res).await?;
    let tags = tag_list(req.input.tagging.tag_set)?;
    gw.store
        .update_object(&req.input.bucket, &req.input.key, move |r| r.tags = tags.clone())
        .await
        .s3()?;
    Ok(S3Response::new(PutObjectTaggingOutput::default()))
}

pub async fn delete(
    gw: &Gateway,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let ctx = RequestContext::of(&req)?;
    let res = Resource::object(&req.input.bucket, &req.input.key);
    gw.authorize(&ctx, Action::DeleteObjectTagging, res).await?;
    gw.store
        .update_object(&req.input.bucket, &req.input.key, |r| r.tags.clear())
        .await
        .s3()?;
    Ok(S3Response::new(DeleteObjectTaggingOutput::default()))
}
