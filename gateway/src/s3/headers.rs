//! Conversions between s3s DTO fields and storage records: timestamps, ETags, the
//! standard object headers and user metadata.

use std::time::{Duration, UNIX_EPOCH};

use fastgate_storage::records::{ObjectHeaders, ObjectRecord};
use s3s::dto::{ETag, Metadata, Timestamp};
use s3s::{S3Result, s3_error};

pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
}

pub fn timestamp_ms(t: &Timestamp) -> i64 {
    let odt: time::OffsetDateTime = t.clone().into();
    i64::try_from(odt.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
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
                .map_err(|_| s3_error!(InvalidArgument, "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."))
        };
        out.push((dec(k)?, dec(v)?));
    }
    if out.len() > 10 {
        return Err(s3_error!(InvalidTag, "Object tags cannot be greater than 10"));
    }
    Ok(out)
}

/// The standard headers a PUT/Copy/CreateMultipartUpload carries.
pub struct HeaderInput {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    pub website_redirect_location: Option<String>,
    pub storage_class: Option<String>,
}

impl From<HeaderInput> for ObjectHeaders {
    fn from(h: HeaderInput) -> Self {
        ObjectHeaders {
            content_type: h.content_type,
            content_encoding: h.content_encoding,
            content_disposition: h.content_disposition,
            content_language: h.content_language,
            cache_control: h.cache_control,
            expires: h.expires,
            website_redirect_location: h.website_redirect_location,
            storage_class: h.storage_class.filter(|s| s != "STANDARD"),
        }
    }
}

/// What S3 answers as Content-Type when none was stored.
pub fn content_type(rec: &ObjectRecord) -> String {
    rec.headers
        .content_type
        .clone()
        .unwrap_or_else(|| "binary/octet-stream".to_owned())
}
