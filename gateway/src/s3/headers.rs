//! Conversions between s3s DTO fields and storage records: timestamps, ETags, the
//! standard object headers and user metadata.

use std::time::{Duration, UNIX_EPOCH};

use fastgate_model::VersionId;
use fastgate_model::records::ObjectRecord;
use s3s::S3Result;
use s3s::dto::{ETag, Metadata, Timestamp};

use super::error::ApiError;

pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

pub fn timestamp_ms(t: &Timestamp) -> i64 {
    let odt: time::OffsetDateTime = t.clone().into();
    i64::try_from(odt.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// The `x-amz-version-id` a write or read answers: the version's id once its bucket
/// has versioning (`null` for a write while suspended), none for a bucket never
/// versioned, as S3 answers.
pub fn version_id(rec: &ObjectRecord) -> Option<String> {
    rec.version.map(|_| rec.version_id().to_string())
}

/// A request's `versionId`. S3 answers 400 for an id it cannot parse and 404 for one of
/// its shape (32 characters of URL-safe text) that names no version, as an id that is
/// not one of fastgate's does.
pub fn parse_version_id(v: Option<&str>) -> S3Result<Option<VersionId>> {
    let Some(v) = v else { return Ok(None) };
    match VersionId::parse(v) {
        Some(id) => Ok(Some(id)),
        None if v.len() == 32
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') =>
        {
            Err(ApiError::NoSuchVersion.into())
        }
        None => Err(ApiError::InvalidArgument("Invalid version id specified").into()),
    }
}

pub fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_owned())
}

/// User metadata in a stable order (S3 returns it as headers; order is not
/// significant, but records should not churn).
pub fn metadata_to_vec(m: Option<Metadata>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = m.unwrap_or_default().into_iter().collect();
    v.sort();
    v
}

pub fn metadata_from_vec(v: &[(String, String)]) -> Option<Metadata> {
    (!v.is_empty()).then(|| v.iter().cloned().collect())
}

/// Parses an `x-amz-tagging` header (`k1=v1&k2=v2`, URL-encoded).
pub fn parse_tagging(header: Option<&str>) -> S3Result<Vec<(String, String)>> {
    let Some(h) = header.filter(|h| !h.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for pair in h.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            urlencoding::decode(&s.replace('+', " "))
                .map(|c| c.into_owned())
                .map_err(|_| ApiError::InvalidArgument("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."))
        };
        out.push((dec(k)?, dec(v)?));
    }
    if out.len() > 10 {
        return Err(ApiError::InvalidTag("Object tags cannot be greater than 10").into());
    }
    Ok(out)
}

/// The Content-Encoding to store: the request's without `aws-chunked`, which is the
/// transfer coding of that request's body only (S3 stores `gzip` for `gzip, aws-chunked`,
/// and none for `aws-chunked` alone). Anything else is kept as the client sent it.
pub fn stored_content_encoding(sent: Option<&str>) -> Option<String> {
    let sent = sent?;
    let is_chunked = |c: &str| c.trim().eq_ignore_ascii_case("aws-chunked");
    if !sent.split(',').any(is_chunked) {
        return Some(sent.to_owned());
    }
    let rest: Vec<&str> = sent
        .split(',')
        .filter(|c| !is_chunked(c) && !c.trim().is_empty())
        .map(str::trim)
        .collect();
    (!rest.is_empty()).then(|| rest.join(", "))
}

/// The standard headers of a PUT, CopyObject (REPLACE) or CreateMultipartUpload input:
/// the three DTOs name them alike, so one macro reads them all.
macro_rules! object_headers {
    ($i:expr) => {
        fastgate_model::records::ObjectHeaders {
            content_type: $i.content_type.clone(),
            content_encoding: $crate::s3::headers::stored_content_encoding($i.content_encoding.as_deref()),
            content_disposition: $i.content_disposition.clone(),
            content_language: $i.content_language.clone(),
            cache_control: $i.cache_control.clone(),
            expires: $i.expires.clone(),
            website_redirect_location: $i.website_redirect_location.clone(),
            // STANDARD is the default: stored as absent, as S3 omits it from HEAD.
            storage_class: $i
                .storage_class
                .as_ref()
                .map(|s| s.as_str().to_owned())
                .filter(|s| s != "STANDARD"),
        }
    };
}
pub(crate) use object_headers;

/// Fills the object headers of a GET or HEAD output (the two DTOs name them alike).
macro_rules! fill_object_headers {
    ($out:expr, $rec:expr) => {{
        let rec = $rec;
        $out.accept_ranges = Some("bytes".into());
        $out.e_tag = Some($crate::s3::headers::etag(&rec.etag));
        $out.last_modified = Some($crate::s3::headers::timestamp(rec.last_modified_ms));
        $out.content_type = Some($crate::s3::headers::content_type(rec));
        $out.content_encoding = rec.headers.content_encoding.clone();
        $out.content_disposition = rec.headers.content_disposition.clone();
        $out.content_language = rec.headers.content_language.clone();
        $out.cache_control = rec.headers.cache_control.clone();
        $out.expires = rec.headers.expires.clone();
        $out.website_redirect_location = rec.headers.website_redirect_location.clone();
        $out.storage_class = rec.headers.storage_class.clone().map(s3s::dto::StorageClass::from);
        $out.metadata = $crate::s3::headers::metadata_from_vec(&rec.user_metadata);
        $out.parts_count = rec
            .multipart
            .then(|| i32::try_from(rec.parts.len()).unwrap_or(i32::MAX));
        $out.version_id = $crate::s3::headers::version_id(rec);
    }};
}
pub(crate) use fill_object_headers;

/// What S3 answers as Content-Type when none was stored.
pub fn content_type(rec: &ObjectRecord) -> String {
    rec.headers
        .content_type
        .clone()
        .unwrap_or_else(|| "binary/octet-stream".to_owned())
}
