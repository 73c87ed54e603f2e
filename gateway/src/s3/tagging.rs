//! Object tagging (Get/Put/Delete), stored with the object record.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use fastgate_model::records::ObjectRecord;

use super::access::{Action, RequestContext, Resource};
use super::error::{ApiError, StorageResultExt as _};
use super::{Gateway, headers};

/// Sets or clears the tags of the version `version_id` names (the current one without
/// it); returns the version's id as the answer carries it.
async fn update_tags(
    gw: &Gateway,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    tags: Vec<(String, String)>,
) -> S3Result<Option<String>> {
    let set = move |r: &mut ObjectRecord| r.tags = tags.clone();
    let rec = match headers::parse_version_id(version_id)? {
        Some(id) => gw.store.update_object_version(bucket, key, id, set).await,
        None => gw.store.update_object(bucket, key, set).await,
    }
    .s3()?;
    Ok(headers::version_id(&rec))
}

pub async fn get(gw: &Gateway, req: S3Request<GetObjectTaggingInput>) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = &req.input;
    let res = Resource::object(&i.bucket, &i.key);
    let action = Action::GetObjectTagging.for_version(i.version_id.is_some());
    gw.authorize(&ctx, action, res).await?;
    let rec = super::get::read_version(gw, &i.bucket, &i.key, i.version_id.as_deref()).await?;
    let version_id = headers::version_id(&rec);
    let tag_set = rec
        .tags
        .into_iter()
        .map(|(k, v)| Tag {
            key: Some(k),
            value: Some(v),
        })
        .collect();
    Ok(S3Response::new(GetObjectTaggingOutput { tag_set, version_id }))
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
    let i = req.input;
    let res = Resource::object(&i.bucket, &i.key);
    let action = Action::PutObjectTagging.for_version(i.version_id.is_some());
    gw.authorize(&ctx, action, res).await?;
    let tags = tag_list(i.tagging.tag_set)?;
    let version_id = update_tags(gw, &i.bucket, &i.key, i.version_id.as_deref(), tags).await?;
    Ok(S3Response::new(PutObjectTaggingOutput { version_id }))
}

pub async fn delete(
    gw: &Gateway,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = &req.input;
    let res = Resource::object(&i.bucket, &i.key);
    let action = Action::DeleteObjectTagging.for_version(i.version_id.is_some());
    gw.authorize(&ctx, action, res).await?;
    let version_id = update_tags(gw, &i.bucket, &i.key, i.version_id.as_deref(), Vec::new()).await?;
    Ok(S3Response::new(DeleteObjectTaggingOutput { version_id }))
}
