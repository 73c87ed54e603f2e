//! Bucket lifecycle configuration. fastgate acts on `AbortIncompleteMultipartUpload`
//! and `Expiration` in days, with a prefix filter; other rule kinds are refused rather
//! than silently ignored.

use fastgate_model::records::LifecycleRule as Rule;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use super::access::{Action, RequestContext, Resource};
use super::error::{ApiError, StorageResultExt as _};

fn to_rule(r: LifecycleRule) -> S3Result<Rule> {
    if r.transitions.as_ref().is_some_and(|t| !t.is_empty())
        || r.noncurrent_version_transitions.as_ref().is_some_and(|t| !t.is_empty())
    {
        return Err(ApiError::NotImplemented("Lifecycle transitions are not supported").into());
    }
    // Rules on noncurrent versions and delete markers are not applied yet: refused
    // rather than stored and silently ignored.
    if r.noncurrent_version_expiration.is_some()
        || r.expiration
            .as_ref()
            .is_some_and(|e| e.expired_object_delete_marker.is_some())
    {
        return Err(ApiError::NotImplemented(
            "Lifecycle rules on noncurrent versions and expired delete markers are not supported",
        )
        .into());
    }
    if r.expiration.as_ref().is_some_and(|e| e.date.is_some()) {
        return Err(ApiError::NotImplemented("Lifecycle expiration by date is not supported; use Days").into());
    }
    let prefix = match &r.filter {
        Some(f)
            if f.and.is_some()
                || f.tag.is_some()
                || f.object_size_greater_than.is_some()
                || f.object_size_less_than.is_some() =>
        {
            return Err(ApiError::NotImplemented("Lifecycle filters other than Prefix are not supported").into());
        }
        Some(f) => f.prefix.clone().unwrap_or_default(),
        None => r.prefix.clone().unwrap_or_default(),
    };
    let days = |d: Option<i32>| d.and_then(|d| u32::try_from(d).ok());
    let rule = Rule {
        id: r.id,
        prefix,
        enabled: r.status.as_str() == ExpirationStatus::ENABLED,
        abort_incomplete_after_days: days(
            r.abort_incomplete_multipart_upload
                .and_then(|a| a.days_after_initiation),
        ),
        expiration_days: days(r.expiration.and_then(|e| e.days)),
    };
    if rule.abort_incomplete_after_days.is_none() && rule.expiration_days.is_none() {
        return Err(ApiError::LifecycleRuleWithoutAction.into());
    }
    Ok(rule)
}

fn from_rule(r: Rule) -> LifecycleRule {
    LifecycleRule {
        id: r.id,
        filter: Some(LifecycleRuleFilter {
            prefix: Some(r.prefix),
            ..Default::default()
        }),
        status: ExpirationStatus::from_static(if r.enabled {
            ExpirationStatus::ENABLED
        } else {
            ExpirationStatus::DISABLED
        }),
        abort_incomplete_multipart_upload: r.abort_incomplete_after_days.map(|d| AbortIncompleteMultipartUpload {
            days_after_initiation: i32::try_from(d).ok(),
        }),
        expiration: r.expiration_days.map(|d| LifecycleExpiration {
            days: i32::try_from(d).ok(),
            ..Default::default()
        }),
        noncurrent_version_expiration: None,
        noncurrent_version_transitions: None,
        prefix: None,
        transitions: None,
    }
}

pub async fn put(
    gw: &Gateway,
    req: S3Request<PutBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
    let ctx = RequestContext::of(&req)?;
    gw.authorize(
        &ctx,
        Action::PutLifecycleConfiguration,
        Resource::bucket(&req.input.bucket),
    )
    .await?;
    let cfg = req.input.lifecycle_configuration.ok_or(ApiError::MalformedXml)?;
    let rules = cfg.rules.into_iter().map(to_rule).collect::<S3Result<Vec<_>>>()?;
    gw.store.set_lifecycle(&req.input.bucket, Some(rules)).await.s3()?;
    Ok(S3Response::new(PutBucketLifecycleConfigurationOutput::default()))
}

pub async fn get(
    gw: &Gateway,
    req: S3Request<GetBucketLifecycleConfigurationInput>,
) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
    let ctx = RequestContext::of(&req)?;
    gw.authorize(
        &ctx,
        Action::GetLifecycleConfiguration,
        Resource::bucket(&req.input.bucket),
    )
    .await?;
    let rules = gw
        .store
        .lifecycle(&req.input.bucket)
        .s3()?
        .ok_or(ApiError::NoSuchLifecycleConfiguration)?;
    Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
        rules: Some(rules.into_iter().map(from_rule).collect()),
        ..Default::default()
    }))
}

pub async fn delete(
    gw: &Gateway,
    req: S3Request<DeleteBucketLifecycleInput>,
) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
    let ctx = RequestContext::of(&req)?;
    gw.authorize(
        &ctx,
        Action::PutLifecycleConfiguration,
        Resource::bucket(&req.input.bucket),
    )
    .await?;
    gw.store.set_lifecycle(&req.input.bucket, None).await.s3()?;
    Ok(S3Response::new(DeleteBucketLifecycleOutput::default()))
}
