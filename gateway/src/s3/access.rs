//! Authorization, decided here and nowhere else. A handler builds the request's
//! [`RequestContext`] (who is asking, and what a policy condition may look at) and asks
//! [`Gateway::authorize`] whether it may do one [`Action`] on one [`Resource`], once,
//! before it does anything else.
//!
//! The rule ([`allowed`]) is AWS's, for principals that are each their own account: the
//! bucket policy first (an explicit deny wins; an allow grants), then the bucket owner's
//! rights, then the ACLs (bucket and object grants, unless the bucket's object ownership
//! is `BucketOwnerEnforced`, which disables them), with Block Public Access taking
//! public grants and public policies out where the bucket asks for it. Anonymous
//! requests (no signature) are principals too: they get what a policy or an ACL gives
//! `*` / AllUsers, and AccessDenied elsewhere.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use fastgate_model::StorageError;
use fastgate_model::records::{
    AclGrant, AclGrantee, AclPermission, BucketAccess, BucketRecord, ObjectOwnership, ObjectRecord,
};
use s3s::{S3Request, S3Result};

use super::Gateway;
use super::error::{ApiError, StorageResultExt as _};
use super::policy::{Decision, Policy, PolicyRequest, normalize_key};
use crate::tls::Transport;

/// The canonical id S3 gives the anonymous principal: the owner of what an unsigned
/// request writes into a bucket that lets it.
pub const ANONYMOUS_ID: &str = "65a011a29cdf8ec533ec3d1ccaae921c";

/// The client's address, which the server puts into each request's extensions
/// (`aws:SourceIp`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// Who is asking. s3s has verified the signature of a signed request before a handler
/// runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A user, by its id (the id buckets and objects record as their owner): a config
    /// user's access key, or a stored user's name.
    User(String),
    /// A request without a signature.
    Anonymous,
}

/// Everything about a request that authorization may look at besides the action and the
/// resource: the principal, and the request's values a policy condition can name.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub principal: Principal,
    /// `aws:SourceIp`.
    pub source_ip: Option<IpAddr>,
    /// `aws:SecureTransport`: the request came over TLS.
    pub secure: bool,
    /// Condition keys the request itself carries (`s3:prefix`, `s3:x-amz-acl`,
    /// `s3:RequestObjectTag/<key>`, ...), normalized, with their values.
    pub values: Vec<(String, String)>,
    /// `x-amz-expected-bucket-owner`: the request is for a bucket of this owner only.
    pub expected_owner: Option<String>,
    /// `x-amz-source-expected-bucket-owner`: the same for a copy's source bucket.
    pub expected_source_owner: Option<String>,
}

/// The request headers a policy can name as `s3:<header>` condition keys.
const CONDITION_HEADERS: &[&str] = &[
    "x-amz-acl",
    "x-amz-copy-source",
    "x-amz-metadata-directive",
    "x-amz-server-side-encryption",
    "x-amz-storage-class",
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
];

/// The listing parameters a policy can name (`s3:prefix`, `s3:delimiter`,
/// `s3:max-keys`).
const CONDITION_QUERY: &[&str] = &["prefix", "delimiter", "max-keys"];

impl RequestContext {
    /// The context of a request: its principal (anonymous when unsigned), and the
    /// values its conditions may name, from its headers, query and connection.
    pub fn of<T>(req: &S3Request<T>) -> S3Result<Self> {
        let principal = match &req.credentials {
            // The user the key signs for (see `auth::Identities`); a config user's id is
            // its access key.
            Some(c) => Principal::User(
                req.extensions
                    .get::<crate::auth::UserId>()
                    .map_or_else(|| c.access_key.clone(), |u| u.0.clone()),
            ),
            None => Principal::Anonymous,
        };
        let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
        let mut values = Vec::new();
        for h in CONDITION_HEADERS {
            if let Some(v) = header(h) {
                values.push((format!("s3:{h}"), v.to_owned()));
            }
        }
        if let Some(tagging) = header("x-amz-tagging") {
            for (k, v) in query_pairs(tagging) {
                values.push(("s3:requestobjecttagkeys".to_owned(), k.clone()));
                values.push((normalize_key(&format!("s3:RequestObjectTag/{k}")), v));
            }
        }
        if let Some(q) = req.uri.query() {
            for (k, v) in query_pairs(q) {
                if CONDITION_QUERY.contains(&k.as_str()) {
                    values.push((format!("s3:{k}"), v));
                }
            }
        }
        Ok(Self {
            principal,
            source_ip: req.extensions.get::<ClientAddr>().map(|a| a.0.ip()),
            secure: req.extensions.get::<Transport>().is_some_and(|t| t.secure),
            values,
            expected_owner: header("x-amz-expected-bucket-owner").map(str::to_owned),
            expected_source_owner: header("x-amz-source-expected-bucket-owner").map(str::to_owned),
        })
    }

    /// The user asking, or `None` for an anonymous request.
    pub fn user(&self) -> Option<&str> {
        match &self.principal {
            Principal::User(id) => Some(id),
            Principal::Anonymous => None,
        }
    }

    /// The id recorded as the writer of what this request creates (a bucket, an object,
    /// an upload).
    pub fn owner_id(&self) -> &str {
        self.user().unwrap_or(ANONYMOUS_ID)
    }

    /// The scope of this request's instant-upload claims: its user's. An anonymous
    /// request claims nothing: it has no identity that proves possession.
    pub fn claimant(&self) -> Option<&str> {
        self.user()
    }

    /// The context for reading a copy's source: the same principal, with the source's
    /// expected owner.
    pub fn for_copy_source(&self) -> Self {
        Self {
            expected_owner: self.expected_source_owner.clone(),
            ..self.clone()
        }
    }
}

/// `a=b&c=d`, percent-decoded (`+` as a space, as forms write it).
fn query_pairs(q: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        urlencoding::decode(&s).map_or(s.clone(), |d| d.into_owned())
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
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
    PutBucketVersioning,
    GetBucketAcl,
    PutBucketAcl,
    GetBucketPolicy,
    PutBucketPolicy,
    DeleteBucketPolicy,
    GetBucketPolicyStatus,
    GetBucketPublicAccessBlock,
    PutBucketPublicAccessBlock,
    GetBucketCors,
    PutBucketCors,
    GetEncryptionConfiguration,
    PutEncryptionConfiguration,
    GetBucketTagging,
    GetBucketWebsite,
    GetReplicationConfiguration,
    GetBucketObjectLockConfiguration,
    PutBucketObjectLockConfiguration,
    GetBucketOwnershipControls,
    PutBucketOwnershipControls,
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
    GetObjectRetention,
    PutObjectRetention,
    GetObjectLegalHold,
    PutObjectLegalHold,
    /// Lifting or shortening a GOVERNANCE retention (with
    /// `x-amz-bypass-governance-retention`); no ACL grants it.
    BypassGovernanceRetention,
    GetObjectVersion,
    GetObjectVersionAttributes,
    GetObjectVersionAcl,
    PutObjectVersionAcl,
    GetObjectVersionTagging,
    PutObjectVersionTagging,
    DeleteObjectVersionTagging,
    DeleteObjectVersion,
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
            Self::PutBucketVersioning => "s3:PutBucketVersioning",
            Self::GetBucketAcl => "s3:GetBucketAcl",
            Self::PutBucketAcl => "s3:PutBucketAcl",
            Self::GetBucketPolicy => "s3:GetBucketPolicy",
            Self::PutBucketPolicy => "s3:PutBucketPolicy",
            Self::DeleteBucketPolicy => "s3:DeleteBucketPolicy",
            Self::GetBucketPolicyStatus => "s3:GetBucketPolicyStatus",
            Self::GetBucketPublicAccessBlock => "s3:GetBucketPublicAccessBlock",
            Self::PutBucketPublicAccessBlock => "s3:PutBucketPublicAccessBlock",
            Self::GetBucketCors => "s3:GetBucketCORS",
            Self::PutBucketCors => "s3:PutBucketCORS",
            Self::GetEncryptionConfiguration => "s3:GetEncryptionConfiguration",
            Self::PutEncryptionConfiguration => "s3:PutEncryptionConfiguration",
            Self::GetBucketTagging => "s3:GetBucketTagging",
            Self::GetBucketWebsite => "s3:GetBucketWebsite",
            Self::GetReplicationConfiguration => "s3:GetReplicationConfiguration",
            Self::GetBucketObjectLockConfiguration => "s3:GetBucketObjectLockConfiguration",
            Self::PutBucketObjectLockConfiguration => "s3:PutBucketObjectLockConfiguration",
            Self::GetBucketOwnershipControls => "s3:GetBucketOwnershipControls",
            Self::PutBucketOwnershipControls => "s3:PutBucketOwnershipControls",
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
            Self::GetObjectRetention => "s3:GetObjectRetention",
            Self::PutObjectRetention => "s3:PutObjectRetention",
            Self::GetObjectLegalHold => "s3:GetObjectLegalHold",
            Self::PutObjectLegalHold => "s3:PutObjectLegalHold",
            Self::BypassGovernanceRetention => "s3:BypassGovernanceRetention",
            Self::GetObjectVersion => "s3:GetObjectVersion",
            Self::GetObjectVersionAttributes => "s3:GetObjectVersionAttributes",
            Self::GetObjectVersionAcl => "s3:GetObjectVersionAcl",
            Self::PutObjectVersionAcl => "s3:PutObjectVersionAcl",
            Self::GetObjectVersionTagging => "s3:GetObjectVersionTagging",
            Self::PutObjectVersionTagging => "s3:PutObjectVersionTagging",
            Self::DeleteObjectVersionTagging => "s3:DeleteObjectVersionTagging",
            Self::DeleteObjectVersion => "s3:DeleteObjectVersion",
        }
    }

    /// The action a request that names a version (`versionId`) asks for instead, as
    /// AWS authorizes it: GetObject on a named version is `s3:GetObjectVersion`,
    /// DeleteObject `s3:DeleteObjectVersion`, and so on. The others are themselves.
    pub fn for_version(self, named: bool) -> Self {
        if !named {
            return self;
        }
        match self {
            Self::GetObject => Self::GetObjectVersion,
            Self::GetObjectAttributes => Self::GetObjectVersionAttributes,
            Self::GetObjectAcl => Self::GetObjectVersionAcl,
            Self::PutObjectAcl => Self::PutObjectVersionAcl,
            Self::GetObjectTagging => Self::GetObjectVersionTagging,
            Self::PutObjectTagging => Self::PutObjectVersionTagging,
            Self::DeleteObjectTagging => Self::DeleteObjectVersionTagging,
            Self::DeleteObject => Self::DeleteObjectVersion,
            other => other,
        }
    }

    /// The actions on a bucket's access configuration itself. Only its owner may do
    /// them, and always may, as an AWS account's root user: no policy can lock the
    /// owner out of its own bucket, nor hand its policy to someone else.
    fn manages_access(self) -> bool {
        matches!(
            self,
            Self::GetBucketPolicy
                | Self::PutBucketPolicy
                | Self::DeleteBucketPolicy
                | Self::GetBucketPolicyStatus
                | Self::GetBucketPublicAccessBlock
                | Self::PutBucketPublicAccessBlock
                | Self::GetBucketOwnershipControls
                | Self::PutBucketOwnershipControls
        )
    }

    /// Actions on an object that must exist, whose ACL and tags the rule may consult.
    fn on_existing_object(self) -> bool {
        matches!(
            self,
            Self::GetObject
                | Self::GetObjectAttributes
                | Self::GetObjectAcl
                | Self::PutObjectAcl
                | Self::GetObjectTagging
                | Self::PutObjectTagging
                | Self::DeleteObjectTagging
                | Self::GetObjectVersion
                | Self::GetObjectVersionAttributes
                | Self::GetObjectVersionAcl
                | Self::PutObjectVersionAcl
                | Self::GetObjectVersionTagging
                | Self::PutObjectVersionTagging
                | Self::DeleteObjectVersionTagging
        )
    }

    /// The bucket ACL permission that grants this action, as S3 maps them.
    fn bucket_acl_permission(self) -> Option<AclPermission> {
        match self {
            Self::ListBucket | Self::ListBucketVersions | Self::ListBucketMultipartUploads => Some(AclPermission::Read),
            Self::PutObject
            | Self::DeleteObject
            | Self::DeleteObjectVersion
            | Self::AbortMultipartUpload
            | Self::ListMultipartUploadParts => Some(AclPermission::Write),
            Self::GetBucketAcl => Some(AclPermission::ReadAcp),
            Self::PutBucketAcl => Some(AclPermission::WriteAcp),
            _ => None,
        }
    }

    /// The object ACL permission that grants this action.
    fn object_acl_permission(self) -> Option<AclPermission> {
        match self {
            Self::GetObject | Self::GetObjectAttributes | Self::GetObjectVersion | Self::GetObjectVersionAttributes => {
                Some(AclPermission::Read)
            }
            Self::GetObjectAcl | Self::GetObjectVersionAcl => Some(AclPermission::ReadAcp),
            Self::PutObjectAcl | Self::PutObjectVersionAcl => Some(AclPermission::WriteAcp),
            _ => None,
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

    /// The resource's ARN, as a policy's `Resource` names it.
    pub fn arn(&self) -> String {
        match self.key {
            Some(k) => format!("arn:aws:s3:::{}/{k}", self.bucket),
            None => format!("arn:aws:s3:::{}", self.bucket),
        }
    }
}

/// What the rule sees of the resource: its bucket (owner and access configuration),
/// the bucket's parsed policy, and the object where the action is on an existing one.
struct View<'a> {
    owner: &'a str,
    access: &'a BucketAccess,
    policy: Option<&'a Policy>,
    object: Option<&'a ObjectRecord>,
}

impl Gateway {
    /// Whether `ctx` may do `action` on `resource`; on yes, the resource's bucket. A
    /// missing bucket is NoSuchBucket, a bucket of another owner than
    /// `x-amz-expected-bucket-owner` AccessDenied, a refusal AccessDenied, in that
    /// order. A missing object is NoSuchKey for the owner and for who may list the
    /// bucket, and AccessDenied for anyone else: S3 does not tell them which keys exist,
    /// and neither does this.
    pub(super) async fn authorize(
        &self,
        ctx: &RequestContext,
        action: Action,
        resource: Resource<'_>,
    ) -> S3Result<BucketRecord> {
        let name = resource.bucket.to_owned();
        let bucket = self.store.point(move |s| s.bucket(&name)).await.s3()?;
        if ctx.expected_owner.as_ref().is_some_and(|e| *e != bucket.owner) {
            return Err(ApiError::AccessDenied.into());
        }
        let access = bucket.access();
        let policy = match &access.policy {
            Some(text) => Some(self.policies.get(resource.bucket, text)?),
            None => None,
        };
        let is_owner = ctx.user() == Some(bucket.owner.as_str());
        let acls_enabled = access.ownership != Some(ObjectOwnership::BucketOwnerEnforced);
        // The object is read only where the decision may depend on it: for others than
        // the owner (its ACL), where ACLs count (it may be another writer's), or where the
        // policy looks at existing objects' tags. The owner's requests to a bucket with
        // ACLs disabled, the common case, read nothing more.
        let wants_object = action.on_existing_object()
            && (!is_owner
                || acls_enabled
                || policy
                    .as_ref()
                    .is_some_and(|p| p.mentions_key_prefix("s3:existingobjecttag/")));
        let object = match resource.key {
            Some(key) if wants_object => {
                let (b, k) = (resource.bucket.to_owned(), key.to_owned());
                match self.store.point(move |s| s.object(&b, &k)).await {
                    Ok(o) => Some(o),
                    Err(StorageError::NoSuchKey) => None,
                    Err(e) => return Err(super::to_s3(e)),
                }
            }
            _ => None,
        };
        let view = View {
            owner: &bucket.owner,
            access: &access,
            policy: policy.as_deref(),
            object: object.as_ref(),
        };
        let deny = || {
            tracing::debug!(action = action.iam_name(), bucket = resource.bucket, key = ?resource.key, principal = ?ctx.principal, "access denied");
            Err(ApiError::AccessDenied.into())
        };
        if wants_object && object.is_none() && !is_owner {
            // As S3: NoSuchKey to who may list the bucket, AccessDenied to the rest.
            return if allowed(ctx, Action::ListBucket, Resource::bucket(resource.bucket), &view) {
                Err(super::to_s3(StorageError::NoSuchKey))
            } else {
                deny()
            };
        }
        if !allowed(ctx, action, resource, &view) {
            return deny();
        }
        Ok(bucket)
    }

    /// Whether `ctx` may do an action that is on no existing bucket (ListBuckets,
    /// CreateBucket). Every user may; what it sees or creates is its own. An anonymous
    /// request may not.
    pub(super) fn authorize_account(&self, ctx: &RequestContext, action: Action) -> S3Result<()> {
        match (&ctx.principal, action) {
            (Principal::User(_), Action::ListAllMyBuckets | Action::CreateBucket) => Ok(()),
            _ => Err(ApiError::AccessDenied.into()),
        }
    }
}

/// Parsed bucket policies, by bucket, so that a request does not parse its bucket's
/// policy again. An entry is used only while the stored text is the one it was parsed
/// from.
#[derive(Default)]
pub struct PolicyCache {
    parsed: std::sync::Mutex<std::collections::HashMap<String, (String, std::sync::Arc<Policy>)>>,
}

impl PolicyCache {
    fn get(&self, bucket: &str, text: &str) -> S3Result<std::sync::Arc<Policy>> {
        let mut parsed = self.parsed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((t, p)) = parsed.get(bucket)
            && t == text
        {
            return Ok(p.clone());
        }
        // Stored policies were checked when they were put; one that no longer parses is
        // a fault of this server, not of the request.
        let p = std::sync::Arc::new(
            Policy::parse(text, bucket)
                .map_err(|e| ApiError::Internal(format!("stored policy of {bucket} does not parse: {e}")))?,
        );
        parsed.insert(bucket.to_owned(), (text.to_owned(), p.clone()));
        Ok(p)
    }
}

/// The rule. The bucket policy first: a Deny that matches refuses, an Allow that
/// matches grants (unless Block Public Access restricts a public policy to the owner).
/// Then the owner, who may do everything else on its bucket, except read another
/// writer's object (where ACLs count, an object belongs to its writer, as in S3: the
/// bucket owner reads it where its ACL grants it, and may always delete it). Then the
/// ACLs. Actions on the access configuration itself are the owner's alone.
fn allowed(ctx: &RequestContext, action: Action, resource: Resource<'_>, view: &View<'_>) -> bool {
    let is_owner = ctx.user() == Some(view.owner);
    if action.manages_access() {
        return is_owner;
    }
    let bpa = view.access.public_access_block.unwrap_or_default();
    if let Some(p) = view.policy {
        let context = condition_context(ctx, view.object);
        let arn = resource.arn();
        let req = PolicyRequest {
            principal: ctx.user(),
            action: action.iam_name(),
            resource: &arn,
            context: &context,
        };
        match p.evaluate(&req) {
            Decision::Deny => return false,
            Decision::Allow if is_owner || !(bpa.restrict_public_buckets && p.is_public()) => return true,
            Decision::Allow | Decision::NotApplicable => {}
        }
    }
    let others_object = view.access.ownership != Some(ObjectOwnership::BucketOwnerEnforced)
        && action.object_acl_permission().is_some()
        && view.object.is_some_and(|o| o.owner != view.owner);
    (is_owner && !others_object) || acl_allows(ctx, action, view, bpa.ignore_public_acls)
}

/// Whether the bucket's or the object's ACL grants the action. ACLs do not count in a
/// bucket with `BucketOwnerEnforced` ownership; public grants do not count where Block
/// Public Access ignores them.
fn acl_allows(ctx: &RequestContext, action: Action, view: &View<'_>, ignore_public: bool) -> bool {
    if view.access.ownership == Some(ObjectOwnership::BucketOwnerEnforced) {
        return false;
    }
    let user = ctx.user();
    let to_me = |g: &AclGrant| match &g.grantee {
        AclGrantee::User(id) => user == Some(id.as_str()),
        AclGrantee::AllUsers => !ignore_public,
        AclGrantee::AuthenticatedUsers => !ignore_public && user.is_some(),
    };
    let holds = |grants: &[AclGrant], perm: AclPermission| {
        grants
            .iter()
            .any(|g| to_me(g) && (g.permission == perm || g.permission == AclPermission::FullControl))
    };
    if let Some(perm) = action.bucket_acl_permission()
        && holds(&view.access.grants, perm)
    {
        return true;
    }
    match (action.object_acl_permission(), view.object) {
        // An object's owner has FULL_CONTROL of it.
        (Some(_), Some(o)) if user == Some(o.owner.as_str()) => true,
        (Some(perm), Some(o)) => o.acl.as_ref().is_some_and(|a| holds(&a.grants, perm)),
        _ => false,
    }
}

/// The condition keys of a request: what it carries itself, who and where it comes
/// from, the time, and the tags of the existing object it is on.
fn condition_context(ctx: &RequestContext, object: Option<&ObjectRecord>) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |k: String, v: String| m.entry(k).or_default().push(v);
    for (k, v) in &ctx.values {
        add(k.clone(), v.clone());
    }
    if let Some(ip) = ctx.source_ip {
        add("aws:sourceip".into(), ip.to_canonical().to_string());
    }
    add("aws:securetransport".into(), ctx.secure.to_string());
    let now = time::OffsetDateTime::now_utc();
    if let Ok(t) = now.format(&time::format_description::well_known::Rfc3339) {
        add("aws:currenttime".into(), t);
    }
    add("aws:epochtime".into(), now.unix_timestamp().to_string());
    match ctx.user() {
        Some(id) => {
            add("aws:username".into(), id.to_owned());
            add("aws:userid".into(), id.to_owned());
            add("aws:principaltype".into(), "User".into());
        }
        None => add("aws:principaltype".into(), "Anonymous".into()),
    }
    if let Some(o) = object {
        for (k, v) in &o.tags {
            add(normalize_key(&format!("s3:ExistingObjectTag/{k}")), v.clone());
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastgate_model::records::PublicAccessBlock;

    fn user(id: &str) -> RequestContext {
        RequestContext {
            principal: Principal::User(id.to_owned()),
            source_ip: None,
            secure: false,
            values: Vec::new(),
            expected_owner: None,
            expected_source_owner: None,
        }
    }

    fn anonymous() -> RequestContext {
        RequestContext {
            principal: Principal::Anonymous,
            ..user("")
        }
    }

    fn view<'a>(access: &'a BucketAccess, policy: Option<&'a Policy>) -> View<'a> {
        View {
            owner: "alice",
            access,
            policy,
            object: None,
        }
    }

    fn grant(grantee: AclGrantee, permission: AclPermission) -> AclGrant {
        AclGrant { grantee, permission }
    }

    const OBJ: Resource<'static> = Resource {
        bucket: "b",
        key: Some("k"),
    };

    #[test]
    fn the_owner_may_do_every_action_on_its_bucket() {
        let a = BucketAccess::default();
        for act in [
            Action::GetObject,
            Action::PutObject,
            Action::DeleteBucket,
            Action::ListBucket,
            Action::PutBucketPolicy,
        ] {
            assert!(allowed(&user("alice"), act, OBJ, &view(&a, None)));
        }
    }

    #[test]
    fn another_user_or_anonymous_may_do_nothing_on_a_private_bucket() {
        let a = BucketAccess::default();
        for act in [Action::GetObject, Action::ListBucket, Action::GetBucketLocation] {
            assert!(!allowed(&user("bob"), act, Resource::bucket("b"), &view(&a, None)));
            assert!(!allowed(&anonymous(), act, Resource::bucket("b"), &view(&a, None)));
        }
    }

    #[test]
    fn bucket_grants_count_only_where_acls_are_enabled() {
        let mut a = BucketAccess {
            ownership: Some(ObjectOwnership::ObjectWriter),
            grants: vec![
                grant(AclGrantee::AllUsers, AclPermission::Read),
                grant(AclGrantee::User("bob".into()), AclPermission::Write),
            ],
            ..BucketAccess::default()
        };
        let b = Resource::bucket("b");
        assert!(allowed(&anonymous(), Action::ListBucket, b, &view(&a, None)));
        assert!(!allowed(&anonymous(), Action::PutObject, OBJ, &view(&a, None)));
        assert!(allowed(&user("bob"), Action::PutObject, OBJ, &view(&a, None)));
        assert!(!allowed(&user("bob"), Action::GetBucketAcl, b, &view(&a, None)));
        a.public_access_block = Some(PublicAccessBlock {
            ignore_public_acls: true,
            ..PublicAccessBlock::default()
        });
        assert!(!allowed(&anonymous(), Action::ListBucket, b, &view(&a, None)));
        assert!(allowed(&user("bob"), Action::PutObject, OBJ, &view(&a, None)));
        a.ownership = Some(ObjectOwnership::BucketOwnerEnforced);
        assert!(!allowed(&user("bob"), Action::PutObject, OBJ, &view(&a, None)));
    }

    #[test]
    fn object_grants_and_object_owners() {
        let a = BucketAccess {
            ownership: Some(ObjectOwnership::ObjectWriter),
            ..BucketAccess::default()
        };
        let obj = ObjectRecord {
            size: 0,
            etag: String::new(),
            last_modified_ms: 0,
            owner: "carol".into(),
            headers: Default::default(),
            user_metadata: Vec::new(),
            tags: Vec::new(),
            checksum: None,
            parts: Vec::new(),
            multipart: false,
            acl: Some(fastgate_model::records::ObjectAcl {
                grants: vec![grant(AclGrantee::AuthenticatedUsers, AclPermission::Read)],
            }),
            version: None,
            lock: None,
            encryption: None,
        };
        let v = View {
            object: Some(&obj),
            ..view(&a, None)
        };
        assert!(allowed(&user("bob"), Action::GetObject, OBJ, &v));
        assert!(!allowed(&anonymous(), Action::GetObject, OBJ, &v));
        assert!(!allowed(&user("bob"), Action::GetObjectAcl, OBJ, &v));
        assert!(allowed(&user("carol"), Action::PutObjectAcl, OBJ, &v));
        // The bucket owner: what the object's ACL grants it, and deleting.
        assert!(allowed(&user("alice"), Action::GetObject, OBJ, &v));
        assert!(!allowed(&user("alice"), Action::GetObjectAcl, OBJ, &v));
        assert!(allowed(&user("alice"), Action::DeleteObject, OBJ, &v));
    }

    #[test]
    fn a_policy_deny_binds_the_owner_but_never_for_the_policy_itself() {
        let p = Policy::parse(
            r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]}}"#,
            "b",
        )
        .unwrap();
        let a = BucketAccess::default();
        assert!(!allowed(&user("alice"), Action::GetObject, OBJ, &view(&a, Some(&p))));
        let b = Resource::bucket("b");
        assert!(allowed(
            &user("alice"),
            Action::DeleteBucketPolicy,
            b,
            &view(&a, Some(&p))
        ));
        assert!(!allowed(&user("bob"), Action::GetBucketPolicy, b, &view(&a, Some(&p))));
    }

    #[test]
    fn restrict_public_buckets_limits_a_public_policy_to_the_owner() {
        let p = Policy::parse(
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#,
            "b",
        )
        .unwrap();
        let mut a = BucketAccess::default();
        assert!(allowed(&anonymous(), Action::GetObject, OBJ, &view(&a, Some(&p))));
        a.public_access_block = Some(PublicAccessBlock {
            restrict_public_buckets: true,
            ..PublicAccessBlock::default()
        });
        assert!(!allowed(&anonymous(), Action::GetObject, OBJ, &view(&a, Some(&p))));
        assert!(!allowed(&user("bob"), Action::GetObject, OBJ, &view(&a, Some(&p))));
        assert!(allowed(&user("alice"), Action::GetObject, OBJ, &view(&a, Some(&p))));
    }

    #[test]
    fn actions_carry_their_iam_names() {
        assert_eq!(Action::GetObject.iam_name(), "s3:GetObject");
        assert_eq!(Action::ListBucket.iam_name(), "s3:ListBucket");
        assert_eq!(Action::GetBucketCors.iam_name(), "s3:GetBucketCORS");
    }

    #[test]
    fn listing_parameters_and_request_tags_become_condition_keys() {
        let mut req = S3Request {
            input: (),
            method: http::Method::GET,
            uri: "/b?prefix=a%2Fb&max-keys=5&list-type=2".parse().unwrap(),
            headers: http::HeaderMap::new(),
            extensions: http::Extensions::new(),
            credentials: None,
            region: None,
            service: None,
            trailing_headers: None,
        };
        req.headers
            .insert("x-amz-tagging", "Project=x&team=a%20b".parse().unwrap());
        req.headers.insert("x-amz-acl", "public-read".parse().unwrap());
        let ctx = RequestContext::of(&req).unwrap();
        assert_eq!(ctx.principal, Principal::Anonymous);
        let has = |k: &str, v: &str| ctx.values.iter().any(|(a, b)| a == k && b == v);
        assert!(has("s3:prefix", "a/b"));
        assert!(has("s3:max-keys", "5"));
        assert!(has("s3:x-amz-acl", "public-read"));
        assert!(has("s3:requestobjecttag/Project", "x"));
        assert!(has("s3:requestobjecttag/team", "a b"));
        assert!(!ctx.values.iter().any(|(k, _)| k == "s3:list-type"));
    }
}
