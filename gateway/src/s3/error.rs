//! The one place where storage errors and the gateway's own failures become S3 errors
//! (code, status, message), so no handler invents a status code. A handler returns an
//! [`ApiError`] (or a `StorageError` through [`StorageResultExt`]); only validation of
//! one request field, whose message names that field, still builds its `s3_error!` in
//! place.

use fastgate_model::StorageError;
use s3s::{S3Error, S3ErrorCode, s3_error};

/// Failures the S3 front end itself decides, shared by several handlers. `?` turns one
/// into its S3 error.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The authorization rule (`access.rs`) said no, or the request has no principal.
    #[error("Access Denied")]
    AccessDenied,
    /// A body (announced or received) over the configured or S3 limit.
    #[error("Your proposed upload exceeds the maximum allowed object size.")]
    EntityTooLarge,
    /// An `If-*` or `x-amz-copy-source-if-*` condition does not hold.
    #[error("At least one of the pre-conditions you specified did not hold")]
    PreconditionFailed,
    /// An XML document that s3s parsed but that lacks what the operation needs.
    #[error("The XML you provided was not well-formed or did not validate against our published schema.")]
    MalformedXml,
    /// An upload id that is not one fastgate issues, or an upload that is gone.
    #[error(
        "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )]
    NoSuchUpload,
    /// A byte range outside the object.
    #[error("The requested range is not satisfiable")]
    InvalidRange,
    /// A feature fastgate does not offer; the message says which.
    #[error("{0}")]
    NotImplemented(&'static str),
}

impl From<ApiError> for S3Error {
    fn from(e: ApiError) -> Self {
        let code = match &e {
            ApiError::AccessDenied => S3ErrorCode::AccessDenied,
            ApiError::EntityTooLarge => S3ErrorCode::EntityTooLarge,
            ApiError::PreconditionFailed => S3ErrorCode::PreconditionFailed,
            ApiError::MalformedXml => S3ErrorCode::MalformedXML,
            ApiError::NoSuchUpload => S3ErrorCode::NoSuchUpload,
            ApiError::InvalidRange => S3ErrorCode::InvalidRange,
            ApiError::NotImplemented(_) => S3ErrorCode::NotImplemented,
        };
        S3Error::with_message(code, e.to_string())
    }
}

pub fn to_s3(e: StorageError) -> S3Error {
    match e {
        StorageError::NoSuchBucket => s3_error!(NoSuchBucket, "The specified bucket does not exist"),
        StorageError::BucketAlreadyExists => s3_error!(
            BucketAlreadyExists,
            "The requested bucket name is not available. Select a different name and try again."
        ),
        StorageError::BucketAlreadyOwnedByYou => s3_error!(
            BucketAlreadyOwnedByYou,
            "Your previous request to create the named bucket succeeded and you already own it."
        ),
        StorageError::BucketNotEmpty => s3_error!(BucketNotEmpty, "The bucket you tried to delete is not empty"),
        StorageError::NoSuchKey => s3_error!(NoSuchKey, "The specified key does not exist."),
        StorageError::NoSuchUpload => ApiError::NoSuchUpload.into(),
        StorageError::InvalidPart(n) => s3_error!(
            InvalidPart,
            "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. (part {n})"
        ),
        StorageError::InvalidPartOrder => {
            s3_error!(
                InvalidPartOrder,
                "The list of parts was not in ascending order. Parts must be ordered by part number."
            )
        }
        StorageError::EntityTooSmall { part, size } => s3_error!(
            EntityTooSmall,
            "Your proposed upload is smaller than the minimum allowed object size. (part {part}: {size} bytes)"
        ),
        StorageError::MalformedPartList => ApiError::MalformedXml.into(),
        StorageError::NoSpace => custom(
            "XFastgateNoSpace",
            http::StatusCode::INSUFFICIENT_STORAGE,
            "No store path has room for new data.",
        ),
        StorageError::PreconditionFailed => ApiError::PreconditionFailed.into(),
        StorageError::ChunkGone(_)
        | StorageError::Io(_)
        | StorageError::Meta(_)
        | StorageError::Corrupt { .. }
        | StorageError::Config(_) => {
            tracing::error!(error = %e, "storage failure");
            S3Error::with_source(S3ErrorCode::InternalError, Box::new(e))
        }
    }
}

/// A body whose SHA-256 is not the signed `x-amz-content-sha256`.
pub fn sha256_mismatch() -> S3Error {
    custom(
        "XAmzContentSHA256Mismatch",
        http::StatusCode::BAD_REQUEST,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    )
}

/// The answer to an instant-upload probe (`x-fastgate-probe`, see `instant.rs`) whose
/// content is not stored, or not claimable by this requester: send the body. 404 and an
/// error document, so that no client can take it for a completed write; the header
/// tells it apart from a missing bucket or upload without parsing the XML.
pub fn not_stored() -> S3Error {
    let mut e = custom(
        "XFastgateNotStored",
        http::StatusCode::NOT_FOUND,
        "The content is not stored here, or this request may not claim it: send the body.",
    );
    let mut h = http::HeaderMap::new();
    h.insert("x-fastgate-dedup", http::HeaderValue::from_static("miss"));
    e.set_headers(h);
    e
}

/// An S3 error code s3s has no variant for.
pub fn custom(code: &'static str, status: http::StatusCode, message: &'static str) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.into()), message);
    e.set_status_code(status);
    e
}

/// `?`-friendly conversion for handler code.
pub trait StorageResultExt<T> {
    fn s3(self) -> s3s::S3Result<T>;
}

impl<T> StorageResultExt<T> for Result<T, StorageError> {
    fn s3(self) -> s3s::S3Result<T> {
        self.map_err(to_s3)
    }
}

/// Puts `<RequestId>` and `<HostId>` into an XML error body, as S3 does, so that a
/// client's error report names the request the server logged. s3s serializes errors
/// without them (and some, such as a bad signature, before any handler runs), so this
/// happens on the way out, for every answer. `request_id` is the `x-amz-request-id` of
/// the same answer; it serves as the host id (`x-amz-id-2`) too, since one process
/// answers the request.
pub fn with_request_id(mut resp: http::Response<s3s::Body>, request_id: &str) -> http::Response<s3s::Body> {
    if resp.status().is_success() {
        return resp;
    }
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amz-id-2", v);
    }
    let is_xml = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/xml"));
    // Only a whole, in-memory error document is rewritten; a streamed body is left alone.
    let Some(body) = resp.body().bytes().filter(|_| is_xml) else {
        return resp;
    };
    let close = b"</Error>";
    let Some(at) = body.windows(close.len()).rposition(|w| w == close) else {
        return resp;
    };
    if body.windows(11).any(|w| w == b"<RequestId>") {
        return resp;
    }
    let ids = format!("<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId>");
    let mut out = Vec::with_capacity(body.len() + ids.len());
    out.extend_from_slice(&body[..at]);
    out.extend_from_slice(ids.as_bytes());
    out.extend_from_slice(&body[at..]);
    // hyper derives the length from the new body.
    resp.headers_mut().remove(http::header::CONTENT_LENGTH);
    *resp.body_mut() = s3s::Body::from(out);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateways_own_failures_answer_their_s3_codes_and_statuses() {
        let cases = [
            (ApiError::AccessDenied, "AccessDenied", 403),
            (ApiError::EntityTooLarge, "EntityTooLarge", 400),
            (ApiError::PreconditionFailed, "PreconditionFailed", 412),
            (ApiError::MalformedXml, "MalformedXML", 400),
            (ApiError::NoSuchUpload, "NoSuchUpload", 404),
            (ApiError::InvalidRange, "InvalidRange", 416),
            (ApiError::NotImplemented("x"), "NotImplemented", 501),
        ];
        for (e, code, status) in cases {
            let msg = e.to_string();
            let s3 = S3Error::from(e);
            assert_eq!(s3.code().as_str(), code);
            assert_eq!(s3.status_code().map(|s| s.as_u16()), Some(status), "{code}");
            assert_eq!(s3.message(), Some(msg.as_str()));
        }
    }

    #[test]
    fn storage_errors_and_gateway_failures_of_one_kind_answer_alike() {
        let same = |a: S3Error, b: ApiError| {
            let b = S3Error::from(b);
            assert_eq!((a.code(), a.message()), (b.code(), b.message()));
        };
        same(to_s3(StorageError::NoSuchUpload), ApiError::NoSuchUpload);
        same(to_s3(StorageError::PreconditionFailed), ApiError::PreconditionFailed);
        same(to_s3(StorageError::MalformedPartList), ApiError::MalformedXml);
    }
}
