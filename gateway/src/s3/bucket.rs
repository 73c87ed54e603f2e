//! Bucket operations.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use super::error::StorageResultExt as _;
use super::headers::timestamp;

pub async fn list_buckets(gw: &Gateway, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
    let owner = Gateway::owner(&req)?;
    let prefix = req.input.prefix.clone().unwrap_or_default();
    let buckets: Vec<Bucket> = gw
        .store
        .list_buckets()
        .s3()?
        .into_iter()
        .filter(|(name, b)| b.owner == owner && name.starts_with(&prefix))
        .map(|(name, b)| Bucket {
            name: Some(name),
            creation_date: Some(timestamp(b.created_ms)),
            bucket_region: Some(b.region),
            ..Default::default()
        })
        .collect();
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(Owner {
            display_name: Some(owner.clone()),
            id: Some(owner),
        }),
        prefix: req.input.prefix,
        ..Default::default()
    }))
}

pub async fn create_bucket(
    gw: &Gateway,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let owner = Gateway::owner(&req)?;
    if req.input.object_lock_enabled_for_bucket == Some(true) {
        // A bucket that says it locks objects would not: refuse it until object lock
        // exists, rather than create a bucket that silently does not protect.
        return Err(s3s::s3_error!(
            NotImplemented,
            "A header you provided implies functionality that is not implemented (object lock)"
        ));
    }
    gw.store
        .create_bucket(&req.input.bucket, &owner, &gw.region)
        .await
        .s3()?;
    Ok(S3Response::new(CreateBucketOutput {
        location: Some(format!("/{}", req.input.bucket)),
        ..Default::default()
    }))
}

pub async fn head_bucket(gw: &Gateway, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
    let owner = Gateway::owner(&req)?;
    let b = gw.owned_bucket(&owner, &req.input.bucket)?;
    Ok(S3Response::new(HeadBucketOutput {
        bucket_region: Some(b.region),
        ..Default::default()
    }))
}

pub async fn delete_bucket(
    gw: &Gateway,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    let owner = Gateway::owner(&req)?;
    gw.owned_bucket(&owner, &req.input.bucket)?;
    gw.store.delete_bucket(&req.input.bucket).await.s3()?;
    Ok(S3Response::new(DeleteBucketOutput {}))
}

pub async fn get_bucket_location(
    gw: &Gateway,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    let owner = Gateway::owner(&req)?;
    let b = gw.owned_bucket(&owner, &req.input.bucket)?;
    // S3 answers an empty LocationConstraint for us-east-1.
    let loc = (b.region != "us-east-1").then(|| BucketLocationConstraint::from(b.region));
    Ok(S3Response::new(GetBucketLocationOutput {
        location_constraint: loc,
    }))
}

/// Versioning is never enabled: every object is its one current version.
pub async fn get_bucket_versioning(
    gw: &Gateway,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let owner = Gateway::owner(&req)?;
    gw.owned_bucket(&owner, &req.input.bucket)?;
    Ok(S3Response::new(GetBucketVersioningOutput::default()))
}
