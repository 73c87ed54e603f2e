//! Bucket operations.

use fastgate_model::StorageError;
use fastgate_model::records::Versioning;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::access::{Action, RequestContext, Resource};
use super::error::{ApiError, StorageResultExt as _};
use super::headers::timestamp;
use super::{Gateway, list};

/// The region S3 names by an empty LocationConstraint.
const US_EAST_1: &str = "us-east-1";

/// S3's largest page of ListBuckets (and its answer when `max-buckets` is not given).
const MAX_BUCKETS: usize = 10_000;

/// ListBuckets, paged as S3 pages it: `max-buckets` (1 to 10000), an opaque
/// `continuation-token` (the last name of the previous page, as a listing token),
/// `prefix` and `bucket-region` filters. SDK paginators follow `ContinuationToken`.
pub async fn list_buckets(gw: &Gateway, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
    let ctx = RequestContext::of(&req)?;
    gw.authorize_account(&ctx, Action::ListAllMyBuckets)?;
    let owner = ctx.owner_id().to_owned();
    let i = req.input;
    let max = match i.max_buckets {
        None => MAX_BUCKETS,
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_BUCKETS).contains(n))
            .ok_or(ApiError::InvalidArgument(
                "Argument max-buckets must be an integer between 1 and 10000.",
            ))?,
    };
    let after = match i.continuation_token.as_deref() {
        Some(t) => Some(list::decode_token(t)?),
        None => None,
    };
    let prefix = i.prefix.clone().unwrap_or_default();
    let mut matching = gw.store.list_buckets().await.s3()?.into_iter().filter(|(name, b)| {
        b.owner == owner
            && name.starts_with(&prefix)
            && after.as_ref().is_none_or(|a| name > a)
            && i.bucket_region.as_ref().is_none_or(|r| *r == b.region)
    });
    let buckets: Vec<Bucket> = matching
        .by_ref()
        .take(max)
        .map(|(name, b)| Bucket {
            name: Some(name),
            creation_date: Some(timestamp(b.created_ms)),
            bucket_region: Some(b.region),
            ..Default::default()
        })
        .collect();
    let more = matching.next().is_some();
    let continuation_token = if more {
        buckets.last().and_then(|b| b.name.as_deref()).map(list::encode_token)
    } else {
        None
    };
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(Owner {
            display_name: Some(owner.clone()),
            id: Some(owner),
        }),
        continuation_token,
        prefix: i.prefix,
    }))
}

pub async fn create_bucket(
    gw: &Gateway,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let ctx = RequestContext::of(&req)?;
    gw.authorize_account(&ctx, Action::CreateBucket)?;
    let owner = ctx.owner_id();
    // `x-amz-bucket-object-lock-enabled: true`: a versioned bucket with object lock.
    let object_lock = req.input.object_lock_enabled_for_bucket == Some(true);
    let constraint = req
        .input
        .create_bucket_configuration
        .as_ref()
        .and_then(|c| c.location_constraint.as_ref())
        .map(BucketLocationConstraint::as_str)
        .filter(|c| !c.is_empty());
    // As S3's regional endpoints: us-east-1 is named by leaving the constraint out, and
    // a bucket is created only in the region of the endpoint that was asked.
    if let Some(c) = constraint {
        if c == gw.region && c == US_EAST_1 {
            return Err(ApiError::InvalidLocationConstraint.into());
        }
        if c != gw.region {
            return Err(ApiError::IllegalLocationConstraint(c.to_owned()).into());
        }
    }
    let access = gw.new_bucket_access(owner, &req.input).await?;
    match gw
        .store
        .create_bucket_full(&req.input.bucket, owner, &gw.region, access, object_lock)
        .await
    {
        Ok(_) => {}
        // S3 answers 200 to re-creating a bucket one owns in us-east-1 (legacy
        // compatibility); every other region answers 409 BucketAlreadyOwnedByYou.
        Err(StorageError::BucketAlreadyOwnedByYou) if gw.region == US_EAST_1 => {}
        Err(e) => return Err(super::to_s3(e)),
    }
    Ok(S3Response::new(CreateBucketOutput {
        location: Some(format!("/{}", req.input.bucket)),
        ..Default::default()
    }))
}

pub async fn head_bucket(gw: &Gateway, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
    let ctx = RequestContext::of(&req)?;
    let b = gw
        .authorize(&ctx, Action::ListBucket, Resource::bucket(&req.input.bucket))
        .await?;
    Ok(S3Response::new(HeadBucketOutput {
        bucket_region: Some(b.region),
        ..Default::default()
    }))
}

pub async fn delete_bucket(
    gw: &Gateway,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    let ctx = RequestContext::of(&req)?;
    gw.authorize(&ctx, Action::DeleteBucket, Resource::bucket(&req.input.bucket))
        .await?;
    gw.store.delete_bucket(&req.input.bucket).await.s3()?;
    Ok(S3Response::new(DeleteBucketOutput {}))
}

pub async fn get_bucket_location(
    gw: &Gateway,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    let ctx = RequestContext::of(&req)?;
    let b = gw
        .authorize(&ctx, Action::GetBucketLocation, Resource::bucket(&req.input.bucket))
        .await?;
    // S3 answers an empty LocationConstraint for us-east-1.
    let loc = (b.region != US_EAST_1).then(|| BucketLocationConstraint::from(b.region));
    Ok(S3Response::new(GetBucketLocationOutput {
        location_constraint: loc,
    }))
}

/// A bucket never versioned answers an empty `VersioningConfiguration`, as S3 does.
pub async fn get_bucket_versioning(
    gw: &Gateway,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let ctx = RequestContext::of(&req)?;
    let b = gw
        .authorize(&ctx, Action::GetBucketVersioning, Resource::bucket(&req.input.bucket))
        .await?;
    let status = b.versioning.map(|v| {
        BucketVersioningStatus::from_static(match v {
            Versioning::Enabled => BucketVersioningStatus::ENABLED,
            Versioning::Suspended => BucketVersioningStatus::SUSPENDED,
        })
    });
    Ok(S3Response::new(GetBucketVersioningOutput {
        status,
        ..Default::default()
    }))
}

/// `Enabled` or `Suspended`; anything else (a missing or unknown status) is
/// MalformedXML, as S3 answers. MFA delete is not offered: asking for it is refused
/// rather than ignored, since a client relying on it would be unprotected.
pub async fn put_bucket_versioning(
    gw: &Gateway,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let ctx = RequestContext::of(&req)?;
    let input = req.input;
    gw.authorize(&ctx, Action::PutBucketVersioning, Resource::bucket(&input.bucket))
        .await?;
    let cfg = input.versioning_configuration;
    if cfg
        .mfa_delete
        .as_ref()
        .is_some_and(|m| m.as_str() == MFADelete::ENABLED)
    {
        return Err(ApiError::NotImplemented("MFA delete is not supported").into());
    }
    let state = match cfg.status.as_ref().map(BucketVersioningStatus::as_str) {
        Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
        Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
        _ => return Err(ApiError::MalformedXml.into()),
    };
    gw.store.set_versioning(&input.bucket, state).await.s3()?;
    Ok(S3Response::new(PutBucketVersioningOutput::default()))
}
