//! The one place where storage errors and the gateway's own failures become S3 errors
//! (code, status, message), so no handler invents a status code. A handler returns an
//! [`ApiError`] (or a `StorageError` through [`StorageResultExt`]); no other file names
//! an S3 error code or status.

use fastgate_model::StorageError;
use fastgate_model::encryption::KeyError;
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
    /// A request field (header, query parameter, body value) out of its range or
    /// unparsable; the message names the field.
    #[error("{0}")]
    InvalidArgument(&'static str),
    /// A request whose fields contradict each other or this bucket; the message says how.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// A checksum header (`x-amz-checksum-*`, named here) that is not base64 of a digest
    /// of its algorithm's size.
    #[error("Value for {0} header is invalid.")]
    InvalidChecksumHeader(String),
    /// A checksum trailer (named here) that is not base64.
    #[error("Value for {0} trailing header is invalid.")]
    InvalidChecksumTrailer(String),
    /// A checksum algorithm (named here) that fastgate does not compute.
    #[error("Checksum algorithm {0} is not supported")]
    UnsupportedChecksumAlgorithm(String),
    /// A CompleteMultipartUpload that leaves out the checksum of a part of an upload
    /// created with a per-part checksum algorithm.
    #[error(
        "The upload was created using a {algorithm} checksum. The complete request must include the checksum for each part. It was missing for part {part} in the request."
    )]
    MissingPartChecksum { algorithm: String, part: i32 },
    /// A `Content-MD5` that is not base64 of 16 bytes.
    #[error("The Content-MD5 you specified was invalid.")]
    InvalidDigest,
    /// A body whose MD5 is not its `Content-MD5`.
    #[error("The Content-MD5 you specified did not match what we received.")]
    Md5Mismatch,
    /// A body whose checksum (algorithm named here) is not the declared one.
    #[error("The {0} you specified did not match the calculated checksum.")]
    ChecksumMismatch(&'static str),
    /// A tag set S3 would refuse; the message says why.
    #[error("{0}")]
    InvalidTag(&'static str),
    /// A key over S3's 1024 bytes.
    #[error("Your key is too long")]
    KeyTooLong,
    /// A part number in a CompleteMultipartUpload list outside 1..=10000.
    #[error("One or more of the specified parts could not be found.")]
    InvalidPart,
    /// A part number past the object's parts (any but 1 on a single-part object). S3's
    /// error table lists 416 for this code, but S3 answers a GET or HEAD with 400 (as
    /// ceph's s3-tests `test_multipart_get_part` and `test_non_multipart_get_part` pin it).
    #[error("The requested partnumber is not satisfiable")]
    InvalidPartNumber,
    /// A version other than `null`: buckets are unversioned.
    #[error("The specified version does not exist.")]
    NoSuchVersion,
    /// An ACL that grants more than owner-only access on an object write.
    #[error("The bucket does not allow ACLs")]
    AccessControlListNotSupported,
    /// An ACL write that asks for nothing, or whose grants are incomplete.
    #[error("The XML you provided was not well-formed or did not validate against our published schema")]
    MalformedAcl,
    /// An ACL grant by an email address no user has.
    #[error("The email address you provided does not match any account on record.")]
    UnresolvableGrantByEmailAddress,
    /// ACL grants asked for together with `BucketOwnerEnforced` ownership.
    #[error("Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")]
    InvalidBucketAclWithObjectOwnership,
    /// A bucket policy that does not parse or names what it may not; the message says
    /// which.
    #[error("{0}")]
    MalformedPolicy(String),
    #[error("The public access block configuration was not found")]
    NoSuchPublicAccessBlockConfiguration,
    /// CreateBucket naming us-east-1 explicitly on the us-east-1 endpoint.
    #[error("The specified location-constraint is not valid")]
    InvalidLocationConstraint,
    /// CreateBucket naming a region (here) other than this endpoint's.
    #[error("The {0} location constraint is incompatible for the region specific endpoint this request was sent to.")]
    IllegalLocationConstraint(String),
    /// A lifecycle rule with nothing to do.
    #[error("A lifecycle rule must specify at least one action")]
    LifecycleRuleWithoutAction,
    /// The bucket configurations fastgate does not keep, read as S3 answers them for a
    /// bucket without one.
    #[error("The lifecycle configuration does not exist")]
    NoSuchLifecycleConfiguration,
    #[error("The bucket policy does not exist")]
    NoSuchBucketPolicy,
    #[error("The CORS configuration does not exist")]
    NoSuchCorsConfiguration,
    #[error("The server side encryption configuration was not found")]
    NoEncryptionConfiguration,
    #[error("The TagSet does not exist")]
    NoSuchTagSet,
    #[error("The specified bucket does not have a website configuration")]
    NoSuchWebsiteConfiguration,
    #[error("The replication configuration was not found")]
    NoReplicationConfiguration,
    #[error("Object Lock configuration does not exist for this bucket")]
    NoObjectLockConfiguration,
    #[error("The bucket ownership controls were not found")]
    NoOwnershipControls,
    /// GetObjectRetention or GetObjectLegalHold of a version without that protection.
    #[error("The specified object does not have a ObjectLock configuration")]
    NoSuchObjectLockConfiguration,
    /// A CORS rule S3 refuses (unknown method, more than one wildcard); the message says
    /// which.
    #[error("{0}")]
    InvalidCorsRule(String),
    /// A preflight no CORS rule of the bucket allows, or to a bucket without rules.
    #[error("{0}")]
    CorsForbidden(&'static str),
    /// A preflight without what it must carry (`Origin`, a known
    /// `Access-Control-Request-Method`).
    #[error("{0}")]
    CorsBadRequest(String),
    /// A form upload (POST Object) whose policy has expired.
    #[error("Invalid according to Policy: Policy expired.")]
    PolicyExpired,
    /// A form upload that fails a condition of its policy (quoted here as the policy
    /// spells it).
    #[error("Invalid according to Policy: Policy Condition failed: {0}")]
    PolicyConditionFailed(String),
    /// A SigV4 access key no user has.
    #[error("The AWS Access Key Id you provided does not exist in our records.")]
    InvalidAccessKeyId,
    /// A path under the admin prefix that names no admin operation.
    #[error("No such admin operation")]
    NoSuchAdminOperation,
    /// An SSE-C algorithm other than AES256.
    #[error("The encryption request you specified is not valid. The valid value is AES256.")]
    InvalidEncryptionAlgorithm,
    /// An SSE-KMS key id (named here) that is none of the operator's keys.
    #[error("Invalid keyId {0}")]
    KmsKeyNotFound(String),
    /// An SSE-C object read (or copied from) with a key other than its own.
    #[error("The provided customer key does not match the key the object was encrypted with.")]
    CustomerKeyMismatch,
    /// A failure of fastgate itself that is no storage error; the message says what.
    #[error("{0}")]
    Internal(String),
}

impl From<ApiError> for S3Error {
    fn from(e: ApiError) -> Self {
        use S3ErrorCode as C;
        let code = match &e {
            ApiError::AccessDenied | ApiError::PolicyExpired | ApiError::PolicyConditionFailed(_) => C::AccessDenied,
            ApiError::EntityTooLarge => C::EntityTooLarge,
            ApiError::PreconditionFailed => C::PreconditionFailed,
            ApiError::MalformedXml | ApiError::LifecycleRuleWithoutAction => C::MalformedXML,
            ApiError::NoSuchUpload => C::NoSuchUpload,
            ApiError::InvalidRange => C::InvalidRange,
            ApiError::NotImplemented(_) => C::NotImplemented,
            ApiError::InvalidArgument(_) => C::InvalidArgument,
            ApiError::InvalidRequest(_)
            | ApiError::InvalidChecksumHeader(_)
            | ApiError::InvalidChecksumTrailer(_)
            | ApiError::UnsupportedChecksumAlgorithm(_)
            | ApiError::MissingPartChecksum { .. }
            | ApiError::InvalidCorsRule(_) => C::InvalidRequest,
            ApiError::InvalidDigest => C::InvalidDigest,
            ApiError::Md5Mismatch | ApiError::ChecksumMismatch(_) => C::BadDigest,
            ApiError::InvalidTag(_) => C::InvalidTag,
            ApiError::KeyTooLong => C::KeyTooLongError,
            ApiError::InvalidPart => C::InvalidPart,
            ApiError::InvalidPartNumber => {
                let mut s3 = S3Error::with_message(C::Custom("InvalidPartNumber".into()), e.to_string());
                s3.set_status_code(http::StatusCode::BAD_REQUEST);
                return s3;
            }
            ApiError::CorsForbidden(_) => {
                let mut s3 = S3Error::with_message(C::Custom("AccessForbidden".into()), e.to_string());
                s3.set_status_code(http::StatusCode::FORBIDDEN);
                return s3;
            }
            ApiError::CorsBadRequest(_) => {
                let mut s3 = S3Error::with_message(C::Custom("BadRequest".into()), e.to_string());
                s3.set_status_code(http::StatusCode::BAD_REQUEST);
                return s3;
            }
            ApiError::NoSuchVersion => C::NoSuchVersion,
            ApiError::AccessControlListNotSupported => C::AccessControlListNotSupported,
            ApiError::MalformedAcl => C::MalformedACLError,
            ApiError::UnresolvableGrantByEmailAddress => C::UnresolvableGrantByEmailAddress,
            ApiError::InvalidBucketAclWithObjectOwnership => C::InvalidBucketAclWithObjectOwnership,
            ApiError::MalformedPolicy(_) => C::MalformedPolicy,
            ApiError::NoSuchPublicAccessBlockConfiguration => {
                let mut s3 =
                    S3Error::with_message(C::Custom("NoSuchPublicAccessBlockConfiguration".into()), e.to_string());
                s3.set_status_code(http::StatusCode::NOT_FOUND);
                return s3;
            }
            ApiError::InvalidLocationConstraint => C::InvalidLocationConstraint,
            ApiError::IllegalLocationConstraint(_) => C::IllegalLocationConstraintException,
            ApiError::NoSuchLifecycleConfiguration => C::NoSuchLifecycleConfiguration,
            ApiError::NoSuchBucketPolicy => C::NoSuchBucketPolicy,
            ApiError::NoSuchCorsConfiguration => C::NoSuchCORSConfiguration,
            ApiError::NoEncryptionConfiguration => C::ServerSideEncryptionConfigurationNotFoundError,
            ApiError::NoSuchTagSet => C::NoSuchTagSet,
            ApiError::NoSuchWebsiteConfiguration => C::NoSuchWebsiteConfiguration,
            ApiError::NoReplicationConfiguration => C::ReplicationConfigurationNotFoundError,
            ApiError::NoObjectLockConfiguration => C::ObjectLockConfigurationNotFoundError,
            ApiError::NoOwnershipControls => C::OwnershipControlsNotFoundError,
            ApiError::NoSuchObjectLockConfiguration => C::NoSuchObjectLockConfiguration,
            ApiError::InvalidAccessKeyId => C::InvalidAccessKeyId,
            ApiError::NoSuchAdminOperation => C::MethodNotAllowed,
            ApiError::Internal(_) => C::InternalError,
            ApiError::InvalidEncryptionAlgorithm => C::InvalidEncryptionAlgorithmError,
            ApiError::CustomerKeyMismatch => C::AccessDenied,
            ApiError::KmsKeyNotFound(_) => {
                let mut s3 = S3Error::with_message(C::Custom("KMS.NotFoundException".into()), e.to_string());
                s3.set_status_code(http::StatusCode::BAD_REQUEST);
                return s3;
            }
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
        StorageError::NoSuchVersion => ApiError::NoSuchVersion.into(),
        StorageError::NoSuchUpload => ApiError::NoSuchUpload.into(),
        StorageError::InvalidPart(n) => s3_error!(
            InvalidPart,
            "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. (part {n})"
        ),
        StorageError::MissingPartChecksum { algorithm, part } => ApiError::MissingPartChecksum {
            algorithm: algorithm.as_str().to_ascii_lowercase(),
            part: i32::from(part),
        }
        .into(),
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
        // Admin API answers, in IAM's words.
        StorageError::UserExists => custom(
            "EntityAlreadyExists",
            http::StatusCode::CONFLICT,
            "The user exists already.",
        ),
        StorageError::AccessKeyExists => custom(
            "EntityAlreadyExists",
            http::StatusCode::CONFLICT,
            "The access key exists already.",
        ),
        StorageError::EmailInUse => custom(
            "EntityAlreadyExists",
            http::StatusCode::CONFLICT,
            "Another user has that email address.",
        ),
        StorageError::NoSuchUser => custom("NoSuchEntity", http::StatusCode::NOT_FOUND, "The user does not exist."),
        StorageError::NoSuchAccessKey => custom(
            "NoSuchEntity",
            http::StatusCode::NOT_FOUND,
            "The access key does not exist.",
        ),
        // AWS's words for a version object lock keeps, whether it was to be removed or
        // its retention weakened.
        StorageError::ObjectLocked(_) => {
            s3_error!(AccessDenied, "Access Denied because object protected by object lock.")
        }
        StorageError::ObjectLockNotEnabled => {
            ApiError::InvalidRequest("Bucket is missing Object Lock Configuration").into()
        }
        StorageError::InvalidBucketState(m) => S3Error::with_message(S3ErrorCode::InvalidBucketState, m),
        // S3's answer for "not now, try again": SDKs retry it with backoff.
        // The metadata database is down or restarting: nothing was done, and the
        // client is told when to try again.
        StorageError::Meta(ref m) if m.is_unavailable() => {
            tracing::warn!(reason = %m, "metadata unavailable");
            let mut err = s3_error!(SlowDown, "Please reduce your request rate.");
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
            err.set_headers(headers);
            err
        }
        // `Retry-After` for clients that read it; SDKs back off on the code alone.
        StorageError::Unavailable(ref m) => {
            tracing::warn!(reason = %m, "storage unavailable");
            let mut e = s3_error!(SlowDown, "Please reduce your request rate.");
            let mut h = http::HeaderMap::new();
            h.insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
            e.set_headers(h);
            e
        }
        StorageError::Key(KeyError::Unknown(name)) => ApiError::KmsKeyNotFound(name).into(),
        StorageError::Key(KeyError::NoMaster) => ApiError::NotImplemented(
            "Server-side encryption needs a master key, which this server is not configured with ([encryption] key_file)",
        )
        .into(),
        StorageError::ChunkGone(_)
        | StorageError::Key(_)
        | StorageError::Io(_)
        | StorageError::Meta(_)
        | StorageError::Corrupt { .. }
        | StorageError::Config(_) => {
            tracing::error!(error = %e, "storage failure");
            S3Error::with_source(S3ErrorCode::InternalError, Box::new(e))
        }
    }
}

/// Whether `e` says the bucket does not exist (which fails a whole DeleteObjects, where
/// other refusals are per key).
pub fn is_no_such_bucket(e: &S3Error) -> bool {
    *e.code() == S3ErrorCode::NoSuchBucket
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

/// A read that found a delete marker: 404 NoSuchKey for the current version, 405
/// MethodNotAllowed for a marker named by its version id, each with
/// `x-amz-delete-marker: true` and the marker's version id, as S3 answers.
pub fn delete_marker(version_id: &str, named: bool) -> S3Error {
    let mut e = if named {
        let mut e = S3Error::with_message(
            S3ErrorCode::MethodNotAllowed,
            "The specified method is not allowed against this resource.",
        );
        e.set_status_code(http::StatusCode::METHOD_NOT_ALLOWED);
        e
    } else {
        s3_error!(NoSuchKey, "The specified key does not exist.")
    };
    let mut h = http::HeaderMap::new();
    h.insert("x-amz-delete-marker", http::HeaderValue::from_static("true"));
    if let Ok(v) = http::HeaderValue::from_str(version_id) {
        h.insert("x-amz-version-id", v);
    }
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
            (ApiError::InvalidArgument("x"), "InvalidArgument", 400),
            (ApiError::InvalidRequest("x"), "InvalidRequest", 400),
            (ApiError::InvalidChecksumHeader("h".into()), "InvalidRequest", 400),
            (ApiError::InvalidChecksumTrailer("h".into()), "InvalidRequest", 400),
            (
                ApiError::UnsupportedChecksumAlgorithm("A".into()),
                "InvalidRequest",
                400,
            ),
            (
                ApiError::MissingPartChecksum {
                    algorithm: "crc32".into(),
                    part: 2,
                },
                "InvalidRequest",
                400,
            ),
            (ApiError::InvalidDigest, "InvalidDigest", 400),
            (ApiError::Md5Mismatch, "BadDigest", 400),
            (ApiError::ChecksumMismatch("CRC32"), "BadDigest", 400),
            (ApiError::InvalidTag("x"), "InvalidTag", 400),
            (ApiError::KeyTooLong, "KeyTooLongError", 400),
            (ApiError::InvalidPart, "InvalidPart", 400),
            (ApiError::InvalidPartNumber, "InvalidPartNumber", 400),
            (ApiError::NoSuchVersion, "NoSuchVersion", 404),
            (ApiError::InvalidCorsRule("x".into()), "InvalidRequest", 400),
            (ApiError::CorsForbidden("CORSResponse: x"), "AccessForbidden", 403),
            (ApiError::CorsBadRequest("x".into()), "BadRequest", 400),
            (ApiError::PolicyExpired, "AccessDenied", 403),
            (ApiError::PolicyConditionFailed("[]".into()), "AccessDenied", 403),
            (
                ApiError::AccessControlListNotSupported,
                "AccessControlListNotSupported",
                400,
            ),
            (ApiError::InvalidLocationConstraint, "InvalidLocationConstraint", 400),
            (
                ApiError::IllegalLocationConstraint("eu-west-1".into()),
                "IllegalLocationConstraintException",
                400,
            ),
            (ApiError::LifecycleRuleWithoutAction, "MalformedXML", 400),
            (
                ApiError::NoSuchLifecycleConfiguration,
                "NoSuchLifecycleConfiguration",
                404,
            ),
            (ApiError::NoSuchBucketPolicy, "NoSuchBucketPolicy", 404),
            (ApiError::NoSuchCorsConfiguration, "NoSuchCORSConfiguration", 404),
            (
                ApiError::NoEncryptionConfiguration,
                "ServerSideEncryptionConfigurationNotFoundError",
                400,
            ),
            (ApiError::NoSuchTagSet, "NoSuchTagSet", 404),
            (ApiError::NoSuchWebsiteConfiguration, "NoSuchWebsiteConfiguration", 404),
            (
                ApiError::NoReplicationConfiguration,
                "ReplicationConfigurationNotFoundError",
                404,
            ),
            (
                ApiError::NoObjectLockConfiguration,
                "ObjectLockConfigurationNotFoundError",
                404,
            ),
            (ApiError::NoOwnershipControls, "OwnershipControlsNotFoundError", 404),
            (
                ApiError::NoSuchObjectLockConfiguration,
                "NoSuchObjectLockConfiguration",
                404,
            ),
            (ApiError::InvalidAccessKeyId, "InvalidAccessKeyId", 403),
            (ApiError::NoSuchAdminOperation, "MethodNotAllowed", 405),
            (ApiError::Internal("x".into()), "InternalError", 500),
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
    fn messages_that_name_a_field_read_as_before() {
        let cases = [
            (
                ApiError::InvalidChecksumHeader("x-amz-checksum-crc32".into()),
                "Value for x-amz-checksum-crc32 header is invalid.",
            ),
            (
                ApiError::InvalidChecksumTrailer("x-amz-checksum-crc32".into()),
                "Value for x-amz-checksum-crc32 trailing header is invalid.",
            ),
            (
                ApiError::UnsupportedChecksumAlgorithm("MD6".into()),
                "Checksum algorithm MD6 is not supported",
            ),
            (
                ApiError::MissingPartChecksum {
                    algorithm: "crc32".into(),
                    part: 2,
                },
                "The upload was created using a crc32 checksum. The complete request must include the checksum for each part. It was missing for part 2 in the request.",
            ),
            (
                ApiError::ChecksumMismatch("CRC32"),
                "The CRC32 you specified did not match the calculated checksum.",
            ),
            (
                ApiError::IllegalLocationConstraint("eu-west-1".into()),
                "The eu-west-1 location constraint is incompatible for the region specific endpoint this request was sent to.",
            ),
            (ApiError::Internal("gc task: x".into()), "gc task: x"),
        ];
        for (e, msg) in cases {
            assert_eq!(S3Error::from(e).message(), Some(msg));
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
