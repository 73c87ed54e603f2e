//! Bucket lifecycle configuration. fastgate acts on `AbortIncompleteMultipartUpload`,
//! `Expiration` in days (a delete marker on a versioned bucket),
//! `ExpiredObjectDeleteMarker` and `NoncurrentVersionExpiration` (with
//! `NewerNoncurrentVersions`), filtered by prefix, tags and object size (alone or under
//! `And`); the model applies them (`fastgate_model::lifecycle`). Other rule kinds
//! (transitions, expiration by date) are refused rather than silently ignored.

use fastgate_model::records::LifecycleRule as Rule;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::Gateway;
use super::access::{Action, RequestContext, Resource};
use super::error::{ApiError, StorageResultExt as _};

/// A size bound of a filter: a byte count, not negative.
fn size(n: Option<i64>) -> S3Result<Option<u64>> {
    n.map(|n| {
        u64::try_from(n)
            .map_err(|_| ApiError::InvalidArgument("The object size in a lifecycle filter must not be negative").into())
    })
    .transpose()
}

fn tag(t: Tag) -> S3Result<(String, String)> {
    match (t.key, t.value) {
        (Some(k), Some(v)) => Ok((k, v)),
        _ => Err(ApiError::MalformedXml.into()),
    }
}

fn to_rule(r: LifecycleRule) -> S3Result<Rule> {
    if r.transitions.as_ref().is_some_and(|t| !t.is_empty())
        || r.noncurrent_version_transitions.as_ref().is_some_and(|t| !t.is_empty())
    {
        return Err(ApiError::NotImplemented("Lifecycle transitions are not supported").into());
    }
    if r.expiration.as_ref().is_some_and(|e| e.date.is_some()) {
        return Err(ApiError::NotImplemented("Lifecycle expiration by date is not supported; use Days").into());
    }
    let days = |d: Option<i32>| d.and_then(|d| u32::try_from(d).ok());
    let mut rule = Rule {
        id: r.id,
        enabled: r.status.as_str() == ExpirationStatus::ENABLED,
        abort_incomplete_after_days: days(
            r.abort_incomplete_multipart_upload
                .and_then(|a| a.days_after_initiation),
        ),
        ..Rule::default()
    };
    match r.filter {
        Some(f) => {
            if let Some(and) = f.and {
                if f.prefix.is_some()
                    || f.tag.is_some()
                    || f.object_size_greater_than.is_some()
                    || f.object_size_less_than.is_some()
                {
                    return Err(ApiError::MalformedXml.into());
                }
                rule.prefix = and.prefix.unwrap_or_default();
                rule.tags = and
                    .tags
                    .unwrap_or_default()
                    .into_iter()
                    .map(tag)
                    .collect::<S3Result<_>>()?;
                rule.size_greater_than = size(and.object_size_greater_than)?;
                rule.size_less_than = size(and.object_size_less_than)?;
            } else {
                // Outside `And`, a filter names one thing.
                let named = usize::from(f.prefix.is_some())
                    + usize::from(f.tag.is_some())
                    + usize::from(f.object_size_greater_than.is_some())
                    + usize::from(f.object_size_less_than.is_some());
                if named > 1 {
                    return Err(ApiError::MalformedXml.into());
                }
                rule.prefix = f.prefix.unwrap_or_default();
                rule.tags = f.tag.map(tag).transpose()?.into_iter().collect();
                rule.size_greater_than = size(f.object_size_greater_than)?;
                rule.size_less_than = size(f.object_size_less_than)?;
            }
        }
        None => rule.prefix = r.prefix.unwrap_or_default(),
    }
    if let Some(e) = r.expiration {
        rule.expiration_days = days(e.days);
        rule.expired_object_delete_marker = e.expired_object_delete_marker == Some(true);
        if rule.expired_object_delete_marker && rule.expiration_days.is_some() {
            return Err(ApiError::MalformedXml.into());
        }
        if rule.expired_object_delete_marker && !rule.tags.is_empty() {
            return Err(
                ApiError::InvalidArgument("ExpiredObjectDeleteMarker cannot be specified with object tags").into(),
            );
        }
    }
    if let Some(n) = r.noncurrent_version_expiration {
        rule.noncurrent_days = Some(
            days(n.noncurrent_days)
                .filter(|d| *d > 0)
                .ok_or(ApiError::InvalidArgument(
                    "NoncurrentDays for NoncurrentVersionExpiration must be a positive integer",
                ))?,
        );
        rule.newer_noncurrent_versions = n
            .newer_noncurrent_versions
            .map(|v| {
                u32::try_from(v)
                    .ok()
                    .filter(|v| (1..=100).contains(v))
                    .ok_or(ApiError::InvalidArgument(
                        "NewerNoncurrentVersions must be an integer between 1 and 100",
                    ))
            })
            .transpose()?;
    }
    if rule.abort_incomplete_after_days.is_none()
        && rule.expiration_days.is_none()
        && !rule.expired_object_delete_marker
        && rule.noncurrent_days.is_none()
    {
        return Err(ApiError::LifecycleRuleWithoutAction.into());
    }
    Ok(rule)
}

fn from_rule(r: Rule) -> LifecycleRule {
    let to_i64 = |n: Option<u64>| n.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    let tags: Vec<Tag> = r
        .tags
        .iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect();
    let several = usize::from(!r.prefix.is_empty())
        + r.tags.len()
        + usize::from(r.size_greater_than.is_some())
        + usize::from(r.size_less_than.is_some())
        > 1;
    let filter = if several {
        LifecycleRuleFilter {
            and: Some(LifecycleRuleAndOperator {
                prefix: (!r.prefix.is_empty()).then(|| r.prefix.clone()),
                tags: (!tags.is_empty()).then_some(tags),
                object_size_greater_than: to_i64(r.size_greater_than),
                object_size_less_than: to_i64(r.size_less_than),
            }),
            ..Default::default()
        }
    } else {
        LifecycleRuleFilter {
            prefix: (r.tags.is_empty() && r.size_greater_than.is_none() && r.size_less_than.is_none())
                .then(|| r.prefix.clone()),
            tag: tags.into_iter().next(),
            object_size_greater_than: to_i64(r.size_greater_than),
            object_size_less_than: to_i64(r.size_less_than),
            ..Default::default()
        }
    };
    let expiration = (r.expiration_days.is_some() || r.expired_object_delete_marker).then(|| LifecycleExpiration {
        days: r.expiration_days.and_then(|d| i32::try_from(d).ok()),
        expired_object_delete_marker: r.expired_object_delete_marker.then_some(true),
        ..Default::default()
    });
    LifecycleRule {
        id: r.id,
        filter: Some(filter),
        status: ExpirationStatus::from_static(if r.enabled {
            ExpirationStatus::ENABLED
        } else {
            ExpirationStatus::DISABLED
        }),
        abort_incomplete_multipart_upload: r.abort_incomplete_after_days.map(|d| AbortIncompleteMultipartUpload {
            days_after_initiation: i32::try_from(d).ok(),
        }),
        expiration,
        noncurrent_version_expiration: r.noncurrent_days.map(|d| NoncurrentVersionExpiration {
            noncurrent_days: i32::try_from(d).ok(),
            newer_noncurrent_versions: r.newer_noncurrent_versions.and_then(|n| i32::try_from(n).ok()),
        }),
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
    let b = req.input.bucket.clone();
    let rules = gw
        .store
        .point(move |s| s.lifecycle(&b))
        .await
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
