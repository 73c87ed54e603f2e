//! ACLs: canned ACLs, `x-amz-grant-*` headers and AccessControlPolicy bodies on buckets
//! and objects, resolved to grants by user id (`id=`, or `emailAddress=` for a user
//! with an email) and to the AllUsers and AuthenticatedUsers groups. Grants are kept
//! in the bucket and object records and consulted by the rule in `access.rs`.
//!
//! Object ownership decides whether ACLs count at all: with `BucketOwnerEnforced`
//! (S3's default for new buckets, and every bucket created before ACLs existed here),
//! the bucket owner owns every object and only ACLs that grant nobody else anything are
//! accepted; the rest are refused as S3 refuses them (AccessControlListNotSupported).

use fastgate_model::records::ObjectOwnership as Ownership;
use fastgate_model::records::{AclGrant, AclGrantee, AclPermission, BucketAccess, BucketRecord, ObjectAcl};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use super::access::{Action, RequestContext, Resource};
use super::error::{ApiError, StorageResultExt as _};

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";

/// The ACL a request asks for: a canned ACL, grant headers, or an AccessControlPolicy
/// body (at most one kind).
#[derive(Default)]
pub struct AclRequest<'a> {
    pub canned: Option<&'a str>,
    pub full_control: Option<&'a str>,
    pub read: Option<&'a str>,
    pub write: Option<&'a str>,
    pub read_acp: Option<&'a str>,
    pub write_acp: Option<&'a str>,
    pub body: Option<&'a AccessControlPolicy>,
}

/// The [`AclRequest`] of an object write (PutObject, CopyObject,
/// CreateMultipartUpload: the DTOs name the fields alike).
macro_rules! object_acl_request {
    ($i:expr) => {
        $crate::s3::acl::AclRequest {
            canned: $i.acl.as_ref().map(|a| a.as_str()),
            full_control: $i.grant_full_control.as_deref(),
            read: $i.grant_read.as_deref(),
            read_acp: $i.grant_read_acp.as_deref(),
            write_acp: $i.grant_write_acp.as_deref(),
            ..Default::default()
        }
    };
}
pub(crate) use object_acl_request;

impl AclRequest<'_> {
    fn has_grant_headers(&self) -> bool {
        [self.full_control, self.read, self.write, self.read_acp, self.write_acp]
            .iter()
            .any(Option::is_some)
    }

    fn is_empty(&self) -> bool {
        self.canned.is_none() && !self.has_grant_headers() && self.body.is_none()
    }
}

fn is_public(g: &AclGrant) -> bool {
    matches!(g.grantee, AclGrantee::AllUsers | AclGrantee::AuthenticatedUsers)
}

/// A grantee as a request names it, before the users it names are looked up.
enum Named<'a> {
    Id(&'a str),
    Email(&'a str),
    Resolved(AclGrantee),
}

/// The grantees of one `x-amz-grant-*` header: `id="..."`, `emailAddress="..."` or
/// `uri="..."`, comma-separated.
fn header_grantees(header: &str) -> S3Result<Vec<Named<'_>>> {
    header
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            let (kind, value) = part
                .split_once('=')
                .ok_or(ApiError::InvalidArgument("A grant header must read type=\"value\""))?;
            let value = value.trim().trim_matches('"');
            match kind.trim().to_ascii_lowercase().as_str() {
                "id" => Ok(Named::Id(value)),
                "emailaddress" => Ok(Named::Email(value)),
                "uri" => grantee_by_uri(value).map(Named::Resolved),
                _ => Err(ApiError::InvalidArgument("A grantee is named by id, emailAddress or uri").into()),
            }
        })
        .collect()
}

fn body_grantee(g: &Grantee) -> S3Result<Named<'_>> {
    match g.type_.as_str() {
        Type::CANONICAL_USER => Ok(Named::Id(g.id.as_deref().ok_or(ApiError::MalformedAcl)?)),
        Type::AMAZON_CUSTOMER_BY_EMAIL => Ok(Named::Email(g.email_address.as_deref().ok_or(ApiError::MalformedAcl)?)),
        Type::GROUP => grantee_by_uri(g.uri.as_deref().ok_or(ApiError::MalformedAcl)?).map(Named::Resolved),
        _ => Err(ApiError::MalformedAcl.into()),
    }
}

impl Gateway {
    /// The grants `req` asks for on something `owner` owns in a bucket of
    /// `bucket_owner`, beyond the owner's own FULL_CONTROL (implied, so not kept). The
    /// request is read whole first, then the users it names are looked up (stored users
    /// are in the metadata, which may be a database: an await, not a blocking read).
    async fn resolve_acl(&self, req: &AclRequest<'_>, owner: &str, bucket_owner: &str) -> S3Result<Vec<AclGrant>> {
        if req.canned.is_some() && req.has_grant_headers() {
            return Err(
                ApiError::InvalidRequest("Specifying both Canned ACLs and Header Grants is not allowed").into(),
            );
        }
        if req.body.is_some() && (req.canned.is_some() || req.has_grant_headers()) {
            return Err(ApiError::InvalidRequest("An ACL in the body cannot be combined with ACL headers").into());
        }
        let user = |id: &str| Named::Resolved(AclGrantee::User(id.to_owned()));
        let mut named: Vec<(Named<'_>, AclPermission)> = Vec::new();
        match req.canned {
            None | Some("private" | "log-delivery-write" | "aws-exec-read") => {}
            Some("public-read") => named.push((Named::Resolved(AclGrantee::AllUsers), AclPermission::Read)),
            Some("public-read-write") => {
                named.push((Named::Resolved(AclGrantee::AllUsers), AclPermission::Read));
                named.push((Named::Resolved(AclGrantee::AllUsers), AclPermission::Write));
            }
            Some("authenticated-read") => {
                named.push((Named::Resolved(AclGrantee::AuthenticatedUsers), AclPermission::Read));
            }
            Some("bucket-owner-read") => named.push((user(bucket_owner), AclPermission::Read)),
            Some("bucket-owner-full-control") => named.push((user(bucket_owner), AclPermission::FullControl)),
            Some(_) => return Err(ApiError::InvalidArgument("The canned ACL is not one S3 defines").into()),
        }
        for (header, permission) in [
            (req.full_control, AclPermission::FullControl),
            (req.read, AclPermission::Read),
            (req.write, AclPermission::Write),
            (req.read_acp, AclPermission::ReadAcp),
            (req.write_acp, AclPermission::WriteAcp),
        ] {
            for grantee in header.map(header_grantees).transpose()?.unwrap_or_default() {
                named.push((grantee, permission));
            }
        }
        if let Some(body) = req.body {
            for g in body.grants.iter().flatten() {
                let (Some(grantee), Some(permission)) = (&g.grantee, &g.permission) else {
                    return Err(ApiError::MalformedAcl.into());
                };
                named.push((body_grantee(grantee)?, permission_of(permission.as_str())?));
            }
        }
        let implied = AclGrant {
            grantee: AclGrantee::User(owner.to_owned()),
            permission: AclPermission::FullControl,
        };
        let mut out: Vec<AclGrant> = Vec::new();
        for (grantee, permission) in named {
            let g = AclGrant {
                grantee: self.grantee(grantee).await?,
                permission,
            };
            if g != implied && !out.contains(&g) {
                out.push(g);
            }
        }
        Ok(out)
    }

    /// The user a grant names, which must exist (as S3 refuses a grant to nobody).
    async fn grantee(&self, named: Named<'_>) -> S3Result<AclGrantee> {
        match named {
            Named::Resolved(g) => Ok(g),
            Named::Id(id) if self.is_user(id).await? => Ok(AclGrantee::User(id.to_owned())),
            Named::Id(_) => Err(ApiError::InvalidArgument("Invalid id").into()),
            Named::Email(email) => match self.user_by_email(email).await? {
                Some(id) => Ok(AclGrantee::User(id)),
                None => Err(ApiError::UnresolvableGrantByEmailAddress.into()),
            },
        }
    }

    /// The owner and ACL of an object a request writes into `bucket` (PutObject,
    /// CopyObject, CreateMultipartUpload), as the bucket's object ownership has it:
    /// refused where the bucket takes no such ACL.
    pub(super) async fn object_write_acl(
        &self,
        ctx: &RequestContext,
        bucket: &BucketRecord,
        req: &AclRequest<'_>,
    ) -> S3Result<(String, Option<ObjectAcl>)> {
        let access = bucket.access();
        let owner = match access.ownership {
            Some(Ownership::BucketOwnerEnforced) => bucket.owner.clone(),
            Some(Ownership::BucketOwnerPreferred) if req.canned == Some("bucket-owner-full-control") => {
                bucket.owner.clone()
            }
            _ => ctx.owner_id().to_owned(),
        };
        let grants = self.resolve_acl(req, &owner, &bucket.owner).await?;
        check_acl_write(&access, &bucket.owner, &grants)?;
        Ok((owner, (!grants.is_empty()).then_some(ObjectAcl { grants })))
    }

    /// The access configuration of a bucket `owner` creates with `input`'s ACL and
    /// object ownership; `None` where it is the default.
    pub(super) async fn new_bucket_access(
        &self,
        owner: &str,
        input: &CreateBucketInput,
    ) -> S3Result<Option<BucketAccess>> {
        let ownership = match input.object_ownership.as_ref().map(ObjectOwnership::as_str) {
            None => Ownership::BucketOwnerEnforced,
            Some(o) => ownership_of(o)?,
        };
        let req = AclRequest {
            canned: input.acl.as_ref().map(BucketCannedACL::as_str),
            full_control: input.grant_full_control.as_deref(),
            read: input.grant_read.as_deref(),
            write: input.grant_write.as_deref(),
            read_acp: input.grant_read_acp.as_deref(),
            write_acp: input.grant_write_acp.as_deref(),
            body: None,
        };
        let grants = self.resolve_acl(&req, owner, owner).await?;
        if ownership == Ownership::BucketOwnerEnforced && !grants.is_empty() {
            return Err(ApiError::InvalidBucketAclWithObjectOwnership.into());
        }
        let access = BucketAccess {
            ownership: Some(ownership),
            grants,
            ..BucketAccess::default()
        };
        Ok((access != BucketAccess::default()).then_some(access))
    }
}

/// An `x-amz-object-ownership` / OwnershipControls value.
pub(super) fn ownership_of(s: &str) -> S3Result<Ownership> {
    match s {
        ObjectOwnership::BUCKET_OWNER_ENFORCED => Ok(Ownership::BucketOwnerEnforced),
        ObjectOwnership::BUCKET_OWNER_PREFERRED => Ok(Ownership::BucketOwnerPreferred),
        ObjectOwnership::OBJECT_WRITER => Ok(Ownership::ObjectWriter),
        _ => Err(ApiError::InvalidArgument("Invalid x-amz-object-ownership header").into()),
    }
}

pub(super) fn ownership_name(o: Ownership) -> &'static str {
    match o {
        Ownership::BucketOwnerEnforced => ObjectOwnership::BUCKET_OWNER_ENFORCED,
        Ownership::BucketOwnerPreferred => ObjectOwnership::BUCKET_OWNER_PREFERRED,
        Ownership::ObjectWriter => ObjectOwnership::OBJECT_WRITER,
    }
}

/// Refuses an ACL write the bucket does not take: any grant to someone other than the
/// bucket owner where ACLs are disabled, and a public grant where Block Public Access
/// blocks public ACLs.
fn check_acl_write(access: &BucketAccess, bucket_owner: &str, grants: &[AclGrant]) -> S3Result<()> {
    let only_the_owner = grants
        .iter()
        .all(|g| g.grantee == AclGrantee::User(bucket_owner.to_owned()) && g.permission == AclPermission::FullControl);
    if access.ownership == Some(Ownership::BucketOwnerEnforced) && !only_the_owner {
        return Err(ApiError::AccessControlListNotSupported.into());
    }
    let blocks = access.public_access_block.is_some_and(|b| b.block_public_acls);
    if blocks && grants.iter().any(is_public) {
        return Err(ApiError::AccessDenied.into());
    }
    Ok(())
}

fn grantee_by_uri(uri: &str) -> S3Result<AclGrantee> {
    match uri {
        ALL_USERS => Ok(AclGrantee::AllUsers),
        AUTHENTICATED_USERS => Ok(AclGrantee::AuthenticatedUsers),
        _ => Err(ApiError::InvalidArgument("Invalid group uri").into()),
    }
}

fn permission_of(s: &str) -> S3Result<AclPermission> {
    Ok(match s {
        Permission::FULL_CONTROL => AclPermission::FullControl,
        Permission::READ => AclPermission::Read,
        Permission::WRITE => AclPermission::Write,
        Permission::READ_ACP => AclPermission::ReadAcp,
        Permission::WRITE_ACP => AclPermission::WriteAcp,
        _ => return Err(ApiError::MalformedAcl.into()),
    })
}

fn permission_name(p: AclPermission) -> &'static str {
    match p {
        AclPermission::FullControl => Permission::FULL_CONTROL,
        AclPermission::Read => Permission::READ,
        AclPermission::Write => Permission::WRITE,
        AclPermission::ReadAcp => Permission::READ_ACP,
        AclPermission::WriteAcp => Permission::WRITE_ACP,
    }
}

fn user_grantee(id: &str) -> Grantee {
    Grantee {
        display_name: Some(id.to_owned()),
        email_address: None,
        id: Some(id.to_owned()),
        type_: Type::from_static(Type::CANONICAL_USER),
        uri: None,
    }
}

fn grant_dto(g: &AclGrant) -> Grant {
    let grantee = match &g.grantee {
        AclGrantee::User(id) => user_grantee(id),
        AclGrantee::AllUsers | AclGrantee::AuthenticatedUsers => Grantee {
            display_name: None,
            email_address: None,
            id: None,
            type_: Type::from_static(Type::GROUP),
            uri: Some(
                if g.grantee == AclGrantee::AllUsers {
                    ALL_USERS
                } else {
                    AUTHENTICATED_USERS
                }
                .to_owned(),
            ),
        },
    };
    Grant {
        grantee: Some(grantee),
        permission: Some(Permission::from_static(permission_name(g.permission))),
    }
}

/// An ACL as S3 lists it: the owner, its FULL_CONTROL, then the other grants.
fn acl_dto(owner: &str, grants: &[AclGrant]) -> (Option<Owner>, Option<Vec<Grant>>) {
    let own = AclGrant {
        grantee: AclGrantee::User(owner.to_owned()),
        permission: AclPermission::FullControl,
    };
    let list = std::iter::once(&own).chain(grants).map(grant_dto).collect();
    (
        Some(Owner {
            display_name: Some(owner.to_owned()),
            id: Some(owner.to_owned()),
        }),
        Some(list),
    )
}

pub async fn get_bucket_acl(
    gw: &Gateway,
    req: S3Request<GetBucketAclInput>,
) -> S3Result<S3Response<GetBucketAclOutput>> {
    let ctx = RequestContext::of(&req)?;
    let b = gw
        .authorize(&ctx, Action::GetBucketAcl, Resource::bucket(&req.input.bucket))
        .await?;
    let (owner, grants) = acl_dto(&b.owner, &b.access().grants);
    Ok(S3Response::new(GetBucketAclOutput { grants, owner }))
}

pub async fn get_object_acl(
    gw: &Gateway,
    req: S3Request<GetObjectAclInput>,
) -> S3Result<S3Response<GetObjectAclOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = &req.input;
    let action = Action::GetObjectAcl.for_version(i.version_id.is_some());
    gw.authorize(&ctx, action, Resource::object(&i.bucket, &i.key)).await?;
    let rec = super::get::read_version(gw, &i.bucket, &i.key, i.version_id.as_deref()).await?;
    let grants = rec.acl.map(|a| a.grants).unwrap_or_default();
    let (owner, grants) = acl_dto(&rec.owner, &grants);
    Ok(S3Response::new(GetObjectAclOutput {
        grants,
        owner,
        ..Default::default()
    }))
}

/// The [`AclRequest`] of a PutBucketAcl or PutObjectAcl (the DTOs name the fields
/// alike), which must ask for something.
macro_rules! acl_write_request {
    ($i:expr) => {{
        let r = AclRequest {
            canned: $i.acl.as_ref().map(|a| a.as_str()),
            full_control: $i.grant_full_control.as_deref(),
            read: $i.grant_read.as_deref(),
            write: $i.grant_write.as_deref(),
            read_acp: $i.grant_read_acp.as_deref(),
            write_acp: $i.grant_write_acp.as_deref(),
            body: $i.access_control_policy.as_ref(),
        };
        if r.is_empty() {
            return Err(ApiError::MalformedAcl.into());
        }
        r
    }};
}

pub async fn put_bucket_acl(
    gw: &Gateway,
    req: S3Request<PutBucketAclInput>,
) -> S3Result<S3Response<PutBucketAclOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = &req.input;
    let b = gw
        .authorize(&ctx, Action::PutBucketAcl, Resource::bucket(&i.bucket))
        .await?;
    let asked = acl_write_request!(i);
    let grants = gw.resolve_acl(&asked, &b.owner, &b.owner).await?;
    check_acl_write(&b.access(), &b.owner, &grants)?;
    gw.store
        .update_bucket_access(&i.bucket, move |a| a.grants = grants.clone())
        .await
        .s3()?;
    Ok(S3Response::new(PutBucketAclOutput {}))
}

pub async fn put_object_acl(
    gw: &Gateway,
    req: S3Request<PutObjectAclInput>,
) -> S3Result<S3Response<PutObjectAclOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = &req.input;
    let b = gw
        .authorize(
            &ctx,
            Action::PutObjectAcl.for_version(i.version_id.is_some()),
            Resource::object(&i.bucket, &i.key),
        )
        .await?;
    let version = super::headers::parse_version_id(i.version_id.as_deref())?;
    let rec = super::get::read_version(gw, &i.bucket, &i.key, i.version_id.as_deref()).await?;
    let asked = acl_write_request!(i);
    let grants = gw.resolve_acl(&asked, &rec.owner, &b.owner).await?;
    check_acl_write(&b.access(), &b.owner, &grants)?;
    let acl = (!grants.is_empty()).then_some(ObjectAcl { grants });
    let set = move |r: &mut fastgate_model::records::ObjectRecord| r.acl = acl.clone();
    match version {
        Some(id) => gw.store.update_object_version(&i.bucket, &i.key, id, set).await,
        None => gw.store.update_object(&i.bucket, &i.key, set).await,
    }
    .s3()?;
    Ok(S3Response::new(PutObjectAclOutput::default()))
}
