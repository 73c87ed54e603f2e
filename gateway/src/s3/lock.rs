//! Object lock: a bucket's lock configuration (Put/GetObjectLockConfiguration), a
//! version's retention and legal hold (Put/GetObjectRetention, Put/GetObjectLegalHold),
//! the `x-amz-object-lock-*` headers of object writes and reads, and who may bypass a
//! GOVERNANCE retention. What a lock allows is decided in the model (`fastgate_model::
//! lock`), which every path that removes a version asks; this file only translates.

use fastgate_model::LockChange;
use fastgate_model::ids::now_ms;
use fastgate_model::lock::{
    BucketObjectLock, DefaultRetention, LegalHold, ObjectLock, Retention, RetentionMode, RetentionPeriod,
};
use fastgate_model::records::{BucketRecord, ObjectRecord};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::access::{Action, RequestContext, Resource};
use super::error::{ApiError, StorageResultExt as _};
use super::{Gateway, headers};

/// The lock headers of an object write (PutObject, CopyObject, CreateMultipartUpload),
/// as the DTOs name them alike.
pub struct LockHeaders<'a> {
    pub mode: Option<&'a ObjectLockMode>,
    pub retain_until: Option<&'a Timestamp>,
    pub legal_hold: Option<&'a ObjectLockLegalHoldStatus>,
}

/// The [`LockHeaders`] of an object write input.
macro_rules! lock_headers {
    ($i:expr) => {
        $crate::s3::lock::LockHeaders {
            mode: $i.object_lock_mode.as_ref(),
            retain_until: $i.object_lock_retain_until_date.as_ref(),
            legal_hold: $i.object_lock_legal_hold_status.as_ref(),
        }
    };
}
pub(crate) use lock_headers;

fn mode(s: &str) -> Option<RetentionMode> {
    match s {
        "GOVERNANCE" => Some(RetentionMode::Governance),
        "COMPLIANCE" => Some(RetentionMode::Compliance),
        _ => None,
    }
}

fn mode_name(m: RetentionMode) -> &'static str {
    match m {
        RetentionMode::Governance => "GOVERNANCE",
        RetentionMode::Compliance => "COMPLIANCE",
    }
}

fn legal_hold(s: &str) -> Option<bool> {
    match s {
        "ON" => Some(true),
        "OFF" => Some(false),
        _ => None,
    }
}

const PAST: &str = "The retain until date must be in the future!";

/// A retention as a request gives it: a mode and a date in the future, both or neither.
fn retention(mode_str: Option<&str>, until: Option<&Timestamp>) -> S3Result<Option<Retention>> {
    match (mode_str, until) {
        (None, None) => Ok(None),
        (Some(m), Some(t)) => {
            let mode = mode(m).ok_or(ApiError::InvalidArgument("Unknown wormMode directive."))?;
            let retain_until_ms = headers::timestamp_ms(t);
            if retain_until_ms <= now_ms() {
                return Err(ApiError::InvalidArgument(PAST).into());
            }
            Ok(Some(Retention { mode, retain_until_ms }))
        }
        _ => Err(ApiError::InvalidArgument(
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
        )
        .into()),
    }
}

impl Gateway {
    /// The lock an object write asks for with its headers (`None` where it names
    /// none), checked as S3 checks it before anything is stored: lock headers on a
    /// bucket without object lock are InvalidRequest, a date in the past or half a
    /// retention InvalidArgument. Setting a retention or a legal hold this way needs
    /// `s3:PutObjectRetention` / `s3:PutObjectLegalHold` besides `s3:PutObject`, as in
    /// AWS. The bucket's default retention is the model's to apply.
    pub(super) async fn object_write_lock(
        &self,
        ctx: &RequestContext,
        bucket_name: &str,
        key: &str,
        bucket: &BucketRecord,
        h: &LockHeaders<'_>,
    ) -> S3Result<Option<ObjectLock>> {
        if h.mode.is_none() && h.retain_until.is_none() && h.legal_hold.is_none() {
            return Ok(None);
        }
        if bucket.object_lock.is_none() {
            return Err(ApiError::InvalidRequest("Bucket is missing Object Lock Configuration").into());
        }
        let retention = retention(h.mode.map(ObjectLockMode::as_str), h.retain_until)?;
        let legal_hold = match h.legal_hold {
            Some(s) => legal_hold(s.as_str())
                .ok_or(ApiError::InvalidArgument("Legal Hold must be either of 'ON' or 'OFF'"))?
                .into(),
            None => LegalHold::NeverSet,
        };
        let res = Resource::object(bucket_name, key);
        if retention.is_some() {
            self.authorize(ctx, Action::PutObjectRetention, res).await?;
        }
        if h.legal_hold.is_some() {
            self.authorize(ctx, Action::PutObjectLegalHold, res).await?;
        }
        Ok(Some(ObjectLock { retention, legal_hold }))
    }

    /// Whether a read of `rec` answers its `x-amz-object-lock-*` headers: as AWS, only to
    /// a principal allowed `s3:GetObjectRetention` or `s3:GetObjectLegalHold` (the bucket
    /// owner is). A version without lock asks nothing more.
    pub(super) async fn may_see_lock(&self, ctx: &RequestContext, rec: &ObjectRecord, resource: Resource<'_>) -> bool {
        if rec.lock.is_none() {
            return false;
        }
        self.authorize(ctx, Action::GetObjectRetention, resource).await.is_ok()
            || self.authorize(ctx, Action::GetObjectLegalHold, resource).await.is_ok()
    }

    /// Whether a request may lift or shorten a GOVERNANCE retention: it says so with
    /// `x-amz-bypass-governance-retention: true` and its principal is allowed
    /// `s3:BypassGovernanceRetention` (the bucket owner always is). A request that asks
    /// without the permission is treated as one that did not ask, so the lock refuses it.
    pub(super) async fn may_bypass_governance(
        &self,
        ctx: &RequestContext,
        asked: Option<bool>,
        resource: Resource<'_>,
    ) -> S3Result<bool> {
        if asked != Some(true) {
            return Ok(false);
        }
        match self.authorize(ctx, Action::BypassGovernanceRetention, resource).await {
            Ok(_) => Ok(true),
            Err(e) if super::error::is_no_such_bucket(&e) => Err(e),
            Err(_) => Ok(false),
        }
    }
}

/// The `x-amz-object-lock-*` headers of a GET or HEAD of `rec`.
macro_rules! fill_lock_headers {
    ($out:expr, $rec:expr) => {{
        let (mode, until, hold) = $crate::s3::lock::lock_fields($rec);
        $out.object_lock_mode = mode;
        $out.object_lock_retain_until_date = until;
        $out.object_lock_legal_hold_status = hold;
    }};
}
pub(crate) use fill_lock_headers;

/// The mode, date and legal hold a read answers for `rec`: the retention as stored
/// (also once its date has passed, as S3 keeps it), the legal hold where one was set.
pub fn lock_fields(
    rec: &ObjectRecord,
) -> (
    Option<ObjectLockMode>,
    Option<Timestamp>,
    Option<ObjectLockLegalHoldStatus>,
) {
    let Some(lock) = rec.lock else {
        return (None, None, None);
    };
    let (mode, until) = match lock.retention {
        Some(r) => (
            Some(ObjectLockMode::from_static(mode_name(r.mode))),
            Some(headers::timestamp(r.retain_until_ms)),
        ),
        None => (None, None),
    };
    (mode, until, hold_status(lock.legal_hold))
}

/// PutObjectLockConfiguration: `ObjectLockEnabled` must be `Enabled`; a rule, where
/// given, has a default retention with a mode and either positive Days or positive
/// Years. On a bucket created without lock this turns it on, where its versioning is
/// `Enabled` (InvalidBucketState otherwise), as S3 allows.
pub async fn put_object_lock_configuration(
    gw: &Gateway,
    req: S3Request<PutObjectLockConfigurationInput>,
) -> S3Result<S3Response<PutObjectLockConfigurationOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = req.input;
    gw.authorize(
        &ctx,
        Action::PutBucketObjectLockConfiguration,
        Resource::bucket(&i.bucket),
    )
    .await?;
    let cfg = i.object_lock_configuration.ok_or(ApiError::MalformedXml)?;
    if cfg.object_lock_enabled.as_ref().map(ObjectLockEnabled::as_str) != Some(ObjectLockEnabled::ENABLED) {
        return Err(ApiError::MalformedXml.into());
    }
    let default_retention = match cfg.rule {
        None => None,
        Some(ObjectLockRule {
            default_retention: None,
        }) => return Err(ApiError::MalformedXml.into()),
        Some(ObjectLockRule {
            default_retention: Some(d),
        }) => {
            let mode = d
                .mode
                .as_ref()
                .map(|m| mode(m.as_str()).ok_or(ApiError::MalformedXml))
                .transpose()?
                .ok_or(ApiError::MalformedXml)?;
            let positive = |n: i32| {
                u32::try_from(n)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(ApiError::InvalidArgument(
                        "Default retention period must be a positive integer value",
                    ))
            };
            let period = match (d.days, d.years) {
                (Some(days), None) => RetentionPeriod::Days(positive(days)?),
                (None, Some(years)) => RetentionPeriod::Years(positive(years)?),
                _ => return Err(ApiError::MalformedXml.into()),
            };
            Some(DefaultRetention { mode, period })
        }
    };
    gw.store
        .set_object_lock(&i.bucket, BucketObjectLock { default_retention })
        .await
        .s3()?;
    Ok(S3Response::new(PutObjectLockConfigurationOutput::default()))
}

/// GetObjectLockConfiguration: ObjectLockConfigurationNotFoundError for a bucket
/// without object lock, as S3 answers.
pub async fn get_object_lock_configuration(
    gw: &Gateway,
    req: S3Request<GetObjectLockConfigurationInput>,
) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
    let ctx = RequestContext::of(&req)?;
    let b = gw
        .authorize(
            &ctx,
            Action::GetBucketObjectLockConfiguration,
            Resource::bucket(&req.input.bucket),
        )
        .await?;
    let lock = b.object_lock.ok_or(ApiError::NoObjectLockConfiguration)?;
    let rule = lock.default_retention.map(|d| {
        let (days, years) = match d.period {
            RetentionPeriod::Days(n) => (Some(i32::try_from(n).unwrap_or(i32::MAX)), None),
            RetentionPeriod::Years(n) => (None, Some(i32::try_from(n).unwrap_or(i32::MAX))),
        };
        ObjectLockRule {
            default_retention: Some(s3s::dto::DefaultRetention {
                days,
                years,
                mode: Some(ObjectLockRetentionMode::from_static(mode_name(d.mode))),
            }),
        }
    });
    Ok(S3Response::new(GetObjectLockConfigurationOutput {
        object_lock_configuration: Some(ObjectLockConfiguration {
            object_lock_enabled: Some(ObjectLockEnabled::from_static(ObjectLockEnabled::ENABLED)),
            rule,
        }),
    }))
}

/// The lock of the version a Get* request names (the current one without a version id).
async fn version_lock(
    gw: &Gateway,
    bucket: &BucketRecord,
    b: &str,
    key: &str,
    v: Option<&str>,
) -> S3Result<ObjectLock> {
    if bucket.object_lock.is_none() {
        return Err(ApiError::InvalidRequest("Bucket is missing Object Lock Configuration").into());
    }
    let rec = super::get::read_version(gw, b, key, v).await?;
    Ok(rec.lock.unwrap_or_default())
}

/// PutObjectRetention: sets, extends, or (a GOVERNANCE one, with a bypass) shortens or
/// lifts a version's retention. An empty `Retention` lifts it.
pub async fn put_object_retention(
    gw: &Gateway,
    req: S3Request<PutObjectRetentionInput>,
) -> S3Result<S3Response<PutObjectRetentionOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = req.input;
    let res = Resource::object(&i.bucket, &i.key);
    gw.authorize(&ctx, Action::PutObjectRetention, res).await?;
    let r = i.retention.ok_or(ApiError::MalformedXml)?;
    let new = match (r.mode.as_ref(), r.retain_until_date.as_ref()) {
        (Some(m), Some(t)) => {
            let mode = mode(m.as_str()).ok_or(ApiError::MalformedXml)?;
            let retain_until_ms = headers::timestamp_ms(t);
            if retain_until_ms <= now_ms() {
                return Err(ApiError::InvalidArgument(PAST).into());
            }
            Some(Retention { mode, retain_until_ms })
        }
        (None, None) => None,
        _ => return Err(ApiError::MalformedXml.into()),
    };
    let version = headers::parse_version_id(i.version_id.as_deref())?;
    let bypass = gw
        .may_bypass_governance(&ctx, i.bypass_governance_retention, res)
        .await?;
    let change = LockChange::Retention {
        retention: new,
        bypass_governance: bypass,
    };
    gw.store
        .change_object_lock(&i.bucket, &i.key, version, change)
        .await
        .s3()?;
    Ok(S3Response::new(PutObjectRetentionOutput::default()))
}

/// GetObjectRetention: NoSuchObjectLockConfiguration for a version without one.
pub async fn get_object_retention(
    gw: &Gateway,
    req: S3Request<GetObjectRetentionInput>,
) -> S3Result<S3Response<GetObjectRetentionOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = &req.input;
    let b = gw
        .authorize(&ctx, Action::GetObjectRetention, Resource::object(&i.bucket, &i.key))
        .await?;
    let lock = version_lock(gw, &b, &i.bucket, &i.key, i.version_id.as_deref()).await?;
    let r = lock.retention.ok_or(ApiError::NoSuchObjectLockConfiguration)?;
    Ok(S3Response::new(GetObjectRetentionOutput {
        retention: Some(ObjectLockRetention {
            mode: Some(ObjectLockRetentionMode::from_static(mode_name(r.mode))),
            retain_until_date: Some(headers::timestamp(r.retain_until_ms)),
        }),
    }))
}

/// PutObjectLegalHold: `ON` or `OFF`; anything else is MalformedXML.
pub async fn put_object_legal_hold(
    gw: &Gateway,
    req: S3Request<PutObjectLegalHoldInput>,
) -> S3Result<S3Response<PutObjectLegalHoldOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = req.input;
    gw.authorize(&ctx, Action::PutObjectLegalHold, Resource::object(&i.bucket, &i.key))
        .await?;
    let on = i
        .legal_hold
        .and_then(|h| h.status)
        .and_then(|s| legal_hold(s.as_str()))
        .ok_or(ApiError::MalformedXml)?;
    let version = headers::parse_version_id(i.version_id.as_deref())?;
    gw.store
        .change_object_lock(&i.bucket, &i.key, version, LockChange::LegalHold(on))
        .await
        .s3()?;
    Ok(S3Response::new(PutObjectLegalHoldOutput::default()))
}

/// A legal hold as S3 spells it; none for a hold never set.
fn hold_status(hold: LegalHold) -> Option<ObjectLockLegalHoldStatus> {
    match hold {
        LegalHold::On => Some(ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::ON)),
        LegalHold::Off => Some(ObjectLockLegalHoldStatus::from_static(ObjectLockLegalHoldStatus::OFF)),
        LegalHold::NeverSet => None,
    }
}

/// GetObjectLegalHold: the version's status; NoSuchObjectLockConfiguration where no hold
/// was ever placed on it (one placed and lifted is `OFF`), as S3 answers.
pub async fn get_object_legal_hold(
    gw: &Gateway,
    req: S3Request<GetObjectLegalHoldInput>,
) -> S3Result<S3Response<GetObjectLegalHoldOutput>> {
    let ctx = RequestContext::of(&req)?;
    let i = &req.input;
    let b = gw
        .authorize(&ctx, Action::GetObjectLegalHold, Resource::object(&i.bucket, &i.key))
        .await?;
    let lock = version_lock(gw, &b, &i.bucket, &i.key, i.version_id.as_deref()).await?;
    let status = hold_status(lock.legal_hold).ok_or(ApiError::NoSuchObjectLockConfiguration)?;
    Ok(S3Response::new(GetObjectLegalHoldOutput {
        legal_hold: Some(ObjectLockLegalHold { status: Some(status) }),
    }))
}
