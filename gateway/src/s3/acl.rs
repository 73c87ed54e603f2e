//! ACLs. fastgate's access model is ownership: a bucket and everything in it belong
//! to the user who created the bucket. ACL reads report exactly that (the owner with
//! FULL_CONTROL), and ACL writes accept the one policy that matches it, `private`;
//! anything that would grant others access is refused rather than silently ignored.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use super::access::{Action, RequestContext, Resource};
use super::error::{ApiError, StorageResultExt as _};

fn owner_grants(owner: &str) -> (Option<Owner>, Option<Vec<Grant>>) {
    let grant = Grant {
        grantee: Some(Grantee {
            display_name: Some(owner.to_owned()),
            email_address: None,
            id: Some(owner.to_owned()),
            type_: Type::from_static(Type::CANONICAL_USER),
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    };
    (
        Some(Owner {
            display_name: Some(owner.to_owned()),
            id: Some(owner.to_owned()),
        }),
        Some(vec![grant]),
    )
}

/// Whether an ACL write asks for nothing beyond owner-only access.
fn is_private(
    canned: Option<&str>,
    grants: &[Option<&String>],
    policy: Option<&AccessControlPolicy>,
    owner: &str,
) -> bool {
    let canned_ok = canned.is_none_or(|c| c == "private" || c == "bucket-owner-full-control");
    let no_grants = grants.iter().all(Option::is_none);
    let policy_ok = policy.is_none_or(|p| {
        p.grants.iter().flatten().all(|g| {
            g.grantee.as_ref().is_some_and(|ge| ge.id.as_deref() == Some(owner))
                && g.permission
                    .as_ref()
                    .is_some_and(|p| p.as_str() == Permission::FULL_CONTROL)
        })
    });
    canned_ok && no_grants && policy_ok
}

/// Refuses an ACL write (bucket or object: the DTOs name the fields alike) that would
/// grant anything beyond owner-only access.
macro_rules! require_private {
    ($i:expr, $canned:ty, $owner:expr) => {
        let grants = [
            $i.grant_full_control.as_ref(),
            $i.grant_read.as_ref(),
            $i.grant_read_acp.as_ref(),
            $i.grant_write.as_ref(),
            $i.grant_write_acp.as_ref(),
        ];
        if !is_private(
            $i.acl.as_ref().map(<$canned>::as_str),
            &grants,
            $i.access_control_policy.as_ref(),
            $owner,
        ) {
            return Err(ApiError::NotImplemented("Only private (owner-only) access is supported").into());
        }
    };
}

pub async fn get_bucket_acl(
    gw: &Gateway,
    req: S3Request<GetBucketAclInput>,
) -> S3Result<S3Response<GetBucketAclOutput>> {
    let ctx = RequestContext::of(&req)?;
    let b = gw
        .authorize(&ctx, Action::GetBucketAcl, Resource::bucket(&req.input.bucket))
        .await?;
    let (owner, grants) = owner_grants(&b.owner);
    Ok(S3Response::new(GetBucketAclOutput { grants, owner }))
}

pub async fn get_object_acl(
    gw: &Gateway,
    req: S3Request<GetObjectAclInput>,
) -> S3Result<S3Response<GetObjectAclOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = &req.input;
    gw.authorize(&ctx, Action::GetObjectAcl, Resource::object(&i.bucket, &i.key))
        .await?;
    let rec = gw.store.object(&req.input.bucket, &req.input.key).s3()?;
    let (owner, grants) = owner_grants(&rec.owner);
    Ok(S3Response::new(GetObjectAclOutput {
        grants,
        owner,
        ..Default::default()
    }))
}

pub async fn put_bucket_acl(
    gw: &Gateway,
    req: S3Request<PutBucketAclInput>,
) -> S3Result<S3Response<PutBucketAclOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = &req.input;
    gw.authorize(&ctx, Action::PutBucketAcl, Resource::bucket(&i.bucket))
        .await?;
    require_private!(i, BucketCannedACL, ctx.owner_id());
    Ok(S3Response::new(PutBucketAclOutput {}))
}

pub async fn put_object_acl(
    gw: &Gateway,
    req: S3Request<PutObjectAclInput>,
) -> S3Result<S3Response<PutObjectAclOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = &req.input;
    gw.authorize(&ctx, Action::PutObjectAcl, Resource::object(&i.bucket, &i.key))
        .await?;
    gw.store.object(&i.bucket, &i.key).s3()?;
    require_private!(i, ObjectCannedACL, ctx.owner_id());
    Ok(S3Response::new(PutObjectAclOutput::default()))
}
