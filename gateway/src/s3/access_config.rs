//! A bucket's access configuration besides its ACL: the bucket policy (parsed and
//! checked by `policy.rs`, kept as the client wrote it), Block Public Access, and
//! object ownership. All of it lives in the bucket record and is read by the rule in
//! `access.rs`; only the bucket owner may read or change it.

use fastgate_model::records::PublicAccessBlock;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use super::access::{Action, RequestContext, Resource};
use super::acl::{ownership_name, ownership_of};
use super::error::{ApiError, StorageResultExt as _};
use super::policy::Policy;

pub async fn put_bucket_policy(
    gw: &Gateway,
    req: S3Request<PutBucketPolicyInput>,
) -> S3Result<S3Response<PutBucketPolicyOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = req.input;
    let b = gw
        .authorize(&ctx, Action::PutBucketPolicy, Resource::bucket(&i.bucket))
        .await?;
    let policy = Policy::parse(&i.policy, &i.bucket).map_err(|e| ApiError::MalformedPolicy(e.0))?;
    // As S3 refuses a principal that names no account: a typo must not pass for a
    // grant that silently grants nothing.
    for who in policy.named_users() {
        if !gw.is_user(who).await? {
            return Err(ApiError::MalformedPolicy(format!("Invalid principal in policy: {who}")).into());
        }
    }
    let blocks = b.access().public_access_block.is_some_and(|p| p.block_public_policy);
    if blocks && policy.is_public() {
        return Err(ApiError::AccessDenied.into());
    }
    let text = i.policy;
    gw.store
        .update_bucket_access(&i.bucket, move |a| a.policy = Some(text.clone()))
        .await
        .s3()?;
    Ok(S3Response::new(PutBucketPolicyOutput {}))
}

pub async fn get_bucket_policy(
    gw: &Gateway,
    req: S3Request<GetBucketPolicyInput>,
) -> S3Result<S3Response<GetBucketPolicyOutput>> {
    let ctx = RequestContext::of(&req)?;
    let b = gw
        .authorize(&ctx, Action::GetBucketPolicy, Resource::bucket(&req.input.bucket))
        .await?;
    let policy = b.access().policy.ok_or(ApiError::NoSuchBucketPolicy)?;
    Ok(S3Response::new(GetBucketPolicyOutput { policy: Some(policy) }))
}

pub async fn delete_bucket_policy(
    gw: &Gateway,
    req: S3Request<DeleteBucketPolicyInput>,
) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
    let ctx = RequestContext::of(&req)?;
    gw.authorize(&ctx, Action::DeleteBucketPolicy, Resource::bucket(&req.input.bucket))
        .await?;
    gw.store
        .update_bucket_access(&req.input.bucket, |a| a.policy = None)
        .await
        .s3()?;
    Ok(S3Response::new(DeleteBucketPolicyOutput {}))
}

pub async fn get_bucket_policy_status(
    gw: &Gateway,
    req: S3Request<GetBucketPolicyStatusInput>,
) -> S3Result<S3Response<GetBucketPolicyStatusOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = &req.input;
    let b = gw
        .authorize(&ctx, Action::GetBucketPolicyStatus, Resource::bucket(&i.bucket))
        .await?;
    let text = b.access().policy.ok_or(ApiError::NoSuchBucketPolicy)?;
    let policy = Policy::parse(&text, &i.bucket).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(S3Response::new(GetBucketPolicyStatusOutput {
        policy_status: Some(PolicyStatus {
            is_public: Some(policy.is_public()),
        }),
    }))
}

pub async fn put_public_access_block(
    gw: &Gateway,
    req: S3Request<PutPublicAccessBlockInput>,
) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = &req.input;
    gw.authorize(&ctx, Action::PutBucketPublicAccessBlock, Resource::bucket(&i.bucket))
        .await?;
    let c = &i.public_access_block_configuration;
    let block = PublicAccessBlock {
        block_public_acls: c.block_public_acls.unwrap_or(false),
        ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
        block_public_policy: c.block_public_policy.unwrap_or(false),
        restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
    };
    gw.store
        .update_bucket_access(&i.bucket, move |a| a.public_access_block = Some(block))
        .await
        .s3()?;
    Ok(S3Response::new(PutPublicAccessBlockOutput {}))
}

pub async fn get_public_access_block(
    gw: &Gateway,
    req: S3Request<GetPublicAccessBlockInput>,
) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
    let ctx = RequestContext::of(&req)?;
    let b = gw
        .authorize(
            &ctx,
            Action::GetBucketPublicAccessBlock,
            Resource::bucket(&req.input.bucket),
        )
        .await?;
    let p = b
        .access()
        .public_access_block
        .ok_or(ApiError::NoSuchPublicAccessBlockConfiguration)?;
    Ok(S3Response::new(GetPublicAccessBlockOutput {
        public_access_block_configuration: Some(PublicAccessBlockConfiguration {
            block_public_acls: Some(p.block_public_acls),
            ignore_public_acls: Some(p.ignore_public_acls),
            block_public_policy: Some(p.block_public_policy),
            restrict_public_buckets: Some(p.restrict_public_buckets),
        }),
    }))
}

pub async fn delete_public_access_block(
    gw: &Gateway,
    req: S3Request<DeletePublicAccessBlockInput>,
) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
    let ctx = RequestContext::of(&req)?;
    gw.authorize(
        &ctx,
        Action::PutBucketPublicAccessBlock,
        Resource::bucket(&req.input.bucket),
    )
    .await?;
    gw.store
        .update_bucket_access(&req.input.bucket, |a| a.public_access_block = None)
        .await
        .s3()?;
    Ok(S3Response::new(DeletePublicAccessBlockOutput {}))
}

pub async fn put_bucket_ownership_controls(
    gw: &Gateway,
    req: S3Request<PutBucketOwnershipControlsInput>,
) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = &req.input;
    let b = gw
        .authorize(&ctx, Action::PutBucketOwnershipControls, Resource::bucket(&i.bucket))
        .await?;
    let [rule] = i.ownership_controls.rules.as_slice() else {
        return Err(ApiError::MalformedXml.into());
    };
    let ownership = ownership_of(rule.object_ownership.as_str())?;
    // As S3: ACLs cannot be disabled while the bucket's ACL grants others access.
    if ownership == fastgate_model::records::ObjectOwnership::BucketOwnerEnforced && !b.access().grants.is_empty() {
        return Err(ApiError::InvalidBucketAclWithObjectOwnership.into());
    }
    gw.store
        .update_bucket_access(&i.bucket, move |a| a.ownership = Some(ownership))
        .await
        .s3()?;
    Ok(S3Response::new(PutBucketOwnershipControlsOutput {}))
}

pub async fn get_bucket_ownership_controls(
    gw: &Gateway,
    req: S3Request<GetBucketOwnershipControlsInput>,
) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
    let ctx = RequestContext::of(&req)?;
    let b = gw
        .authorize(
            &ctx,
            Action::GetBucketOwnershipControls,
            Resource::bucket(&req.input.bucket),
        )
        .await?;
    let ownership = b.access().ownership.ok_or(ApiError::NoOwnershipControls)?;
    Ok(S3Response::new(GetBucketOwnershipControlsOutput {
        ownership_controls: Some(OwnershipControls {
            rules: vec![OwnershipControlsRule {
                object_ownership: ObjectOwnership::from_static(ownership_name(ownership)),
            }],
        }),
    }))
}

pub async fn delete_bucket_ownership_controls(
    gw: &Gateway,
    req: S3Request<DeleteBucketOwnershipControlsInput>,
) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
    let ctx = RequestContext::of(&req)?;
    gw.authorize(
        &ctx,
        Action::PutBucketOwnershipControls,
        Resource::bucket(&req.input.bucket),
    )
    .await?;
    gw.store
        .update_bucket_access(&req.input.bucket, |a| a.ownership = None)
        .await
        .s3()?;
    Ok(S3Response::new(DeleteBucketOwnershipControlsOutput {}))
}
