//! Authorization, decided here and nowhere else. A handler builds the request's
//! [`RequestContext`] (who is asking) and asks [`Gateway::authorize`] whether it may do one
//! [`Action`] on one [`Resource`], once, before it does anything else.
//!
//! Today's rule is ownership: each user owns the buckets it creates, and nobody else (the
//! root user included) may touch them or anything in them. Bucket policies, ACL grants and
//! anonymous access will extend [`allowed`], which already receives everything a policy
//! statement can name: the principal, the action as IAM spells it, the bucket and key, and
//! the request's conditions.

use fastgate_model::records::BucketRecord;
use s3s::{S3Request, S3Result};

use super::Gateway;
use super::error::{ApiError, StorageResultExt as _};

/// Who is asking. s3s has verified the signature before a handler runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A configured user, named by its access key (the id buckets and objects record as
    /// their owner). Anonymous requests are refused by s3s today; they would be a second
    /// variant here.
    User(String),
}

/// Everything about a request that authorization may look at besides the action and the
/// resource. Request conditions a policy can name (`aws:SourceIp`, `aws:SecureTransport`,
/// `aws:UserAgent`) belong here, next to the principal, when a rule needs them.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub principal: Principal,
}

impl RequestContext {
    /// The context of an authenticated request. s3s has already refused unsigned requests,
    /// so a missing identity here is an internal inconsistency, answered as AccessDenied.
    pub fn of<T>(req: &S3Request<T>) -> S3Result<Self> {
        let c = req.credentials.as_ref().ok_or(ApiError::AccessDenied)?;
        Ok(Self {
            principal: Principal::User(c.access_key.clone()),
        })
    }

    /// The id recorded as the owner of what this request creates (a bucket, an object, an
    /// upload) and the scope of its instant-upload claims.
    pub fn owner_id(&self) -> &str {
        match &self.principal {
            Principal::User(id) => id,
        }
    }
}

/// An S3 action, named as IAM names it in a policy (`s3:GetObject`), so that a policy's
/// `Action` can be matched against it as written. Several S3 operations share one action
/// (HeadObject is `s3:GetObject`, UploadPart is `s3:PutObject`), as in AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ListAllMyBuckets,
    CreateBucket,
    DeleteBucket,
    ListBucket,
    ListBucketVersions,
    ListBucketMultipartUploads,
    GetBucketLocation,
    GetBucketVersioning,
    GetBucketAcl,
    PutBucketAcl,
    GetBucketPolicy,
    GetBucketCors,
    PutBucketCors,
    GetEncryptionConfiguration,
    GetBucketTagging,
    GetBucketWebsite,
    GetReplicationConfiguration,
    GetBucketObjectLockConfiguration,
    GetBucketOwnershipControls,
    GetLifecycleConfiguration,
    PutLifecycleConfiguration,
    GetObject,
    GetObjectAttributes,
    GetObjectAcl,
    PutObjectAcl,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    PutObject,
    DeleteObject,
    ListMultipartUploadParts,
    AbortMultipartUpload,
}

impl Action {
    /// The action's IAM name, as a policy statement writes it.
    pub fn iam_name(self) -> &'static str {
        match self {
            Self::ListAllMyBuckets => "s3:ListAllMyBuckets",
            Self::CreateBucket => "s3:CreateBucket",
            Self::DeleteBucket => "s3:DeleteBucket",
            Self::ListBucket => "s3:ListBucket",
            Self::ListBucketVersions => "s3:ListBucketVersions",
            Self::ListBucketMultipartUploads => "s3:ListBucketMultipartUploads",
            Self::GetBucketLocation => "s3:GetBucketLocation",
            Self::GetBucketVersioning => "s3:GetBucketVersioning",
            Self::GetBucketAcl => "s3:GetBucketAcl",
            Self::PutBucketAcl => "s3:PutBucketAcl",
            Self::GetBucketPolicy => "s3:GetBucketPolicy",
            Self::GetBucketCors => "s3:GetBucketCORS",
            Self::PutBucketCors => "s3:PutBucketCORS",
            Self::GetEncryptionConfiguration => "s3:GetEncryptionConfiguration",
            Self::GetBucketTagging => "s3:GetBucketTagging",
            Self::GetBucketWebsite => "s3:GetBucketWebsite",
            Self::GetReplicationConfiguration => "s3:GetReplicationConfiguration",
            Self::GetBucketObjectLockConfiguration => "s3:GetBucketObjectLockConfiguration",
            Self::GetBucketOwnershipControls => "s3:GetBucketOwnershipControls",
            Self::GetLifecycleConfiguration => "s3:GetLifecycleConfiguration",
            Self::PutLifecycleConfiguration => "s3:PutLifecycleConfiguration",
            Self::GetObject => "s3:GetObject",
            Self::GetObjectAttributes => "s3:GetObjectAttributes",
            Self::GetObjectAcl => "s3:GetObjectAcl",
            Self::PutObjectAcl => "s3:PutObjectAcl",
            Self::GetObjectTagging => "s3:GetObjectTagging",
            Self::PutObjectTagging => "s3:PutObjectTagging",
            Self::DeleteObjectTagging => "s3:DeleteObjectTagging",
            Self::PutObject => "s3:PutObject",
            Self::DeleteObject => "s3:DeleteObject",
            Self::ListMultipartUploadParts => "s3:ListMultipartUploadParts",
            Self::AbortMultipartUpload => "s3:AbortMultipartUpload",
        }
    }
}

/// What an action is on: a bucket, or an object (bucket and key), as a policy's `Resource`
/// names them (`arn:aws:s3:::bucket`, `arn:aws:s3:::bucket/key`).
#[derive(Debug, Clone, Copy)]
pub struct Resource<'a> {
    pub bucket: &'a str,
    pub key: Option<&'a str>,
}

impl<'a> Resource<'a> {
    pub fn bucket(bucket: &'a str) -> Self {
        Self { bucket, key: None }
    }

    pub fn object(bucket: &'a str, key: &'a str) -> Self {
        Self { bucket, key: Some(key) }
    }
}

impl Gateway {
    /// Whether `ctx` may do `action` on `resource`; on yes, the resource's bucket. A
    /// missing bucket is NoSuchBucket and a refusal AccessDenied, in that order, as before
    /// authorization moved here.
    pub(super) async fn authorize(
        &self,
        ctx: &RequestContext,
        action: Action,
        resource: Resource<'_>,
    ) -> S3Result<BucketRecord> {
        let bucket = self.store.bucket(resource.bucket).s3()?;
        if !allowed(ctx, action, resource, &bucket) {
            tracing::debug!(action = action.iam_name(), bucket = resource.bucket, key = ?resource.key, principal = ?ctx.principal, "access denied");
            return Err(ApiError::AccessDenied.into());
        }
        Ok(bucket)
    }

    /// Whether `ctx` may do an action that is on no existing bucket (ListBuckets,
    /// CreateBucket). Every user may; what it sees or creates is its own.
    pub(super) fn authorize_account(&self, ctx: &RequestContext, action: Action) -> S3Result<()> {
        match (&ctx.principal, action) {
            (Principal::User(_), Action::ListAllMyBuckets | Action::CreateBucket) => Ok(()),
            _ => Err(ApiError::AccessDenied.into()),
        }
    }
}

/// The rule. Ownership decides today: a user may do every action on the buckets it owns
/// and on the objects in them, and nothing on anyone else's. `action` and the key are
/// unused until a bucket policy or an ACL can grant less or more than ownership does.
fn allowed(ctx: &RequestContext, _action: Action, _resource: Resource<'_>, bucket: &BucketRecord) -> bool {
    match &ctx.principal {
        Principal::User(id) => *id == bucket.owner,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket_of(owner: &str) -> BucketRecord {
        BucketRecord {
            owner: owner.to_owned(),
            created_ms: 0,
            region: "us-east-1".to_owned(),
        }
    }

    fn user(id: &str) -> RequestContext {
        RequestContext {
            principal: Principal::User(id.to_owned()),
        }
    }

    #[test]
    fn the_owner_may_do_every_action_on_its_bucket() {
        let b = bucket_of("alice");
        for a in [
            Action::GetObject,
            Action::PutObject,
            Action::DeleteBucket,
            Action::ListBucket,
        ] {
            assert!(allowed(&user("alice"), a, Resource::object("b", "k"), &b));
        }
    }

    #[test]
    fn another_user_may_do_nothing_on_a_bucket_it_does_not_own() {
        let b = bucket_of("alice");
        for a in [Action::GetObject, Action::ListBucket, Action::GetBucketLocation] {
            assert!(!allowed(&user("bob"), a, Resource::bucket("b"), &b));
        }
    }

    #[test]
    fn actions_carry_their_iam_names() {
        assert_eq!(Action::GetObject.iam_name(), "s3:GetObject");
        assert_eq!(Action::ListBucket.iam_name(), "s3:ListBucket");
        assert_eq!(Action::GetBucketCors.iam_name(), "s3:GetBucketCORS");
    }
}
