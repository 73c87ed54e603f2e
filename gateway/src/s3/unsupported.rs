//! Protection a request asks for and fastgate does not give yet: object lock,
//! server-side encryption, appends, object versions. (ACLs are `acl.rs`'s.)
//!
//! Storing the object and answering 200 would tell the client its data is locked or
//! encrypted when it is not (and an append would replace the object with the
//! appended bytes). Such a request is refused before its body is read, with the error S3
//! gives where the feature is not available for it, so nothing is stored.

use s3s::S3Result;

use super::error::ApiError;

/// What an object write (PutObject, CopyObject, CreateMultipartUpload) asks for beyond
/// storing bytes.
pub struct ObjectWrite {
    /// `x-amz-object-lock-mode`, `-retain-until-date` or `-legal-hold`.
    pub lock: bool,
    /// Any `x-amz-server-side-encryption*` header.
    pub encryption: bool,
    /// `x-amz-write-offset-bytes` (an append).
    pub append: bool,
}

/// The [`ObjectWrite`] of a PutObject, CopyObject or CreateMultipartUpload input (the
/// DTOs name the fields alike); `append` is for the caller to set.
macro_rules! object_write {
    ($i:expr) => {
        $crate::s3::unsupported::ObjectWrite {
            lock: $i.object_lock_mode.is_some()
                || $i.object_lock_retain_until_date.is_some()
                || $i.object_lock_legal_hold_status.is_some(),
            encryption: $i.server_side_encryption.is_some()
                || $i.sse_customer_algorithm.is_some()
                || $i.sse_customer_key.is_some()
                || $i.sse_customer_key_md5.is_some()
                || $i.ssekms_key_id.is_some()
                || $i.ssekms_encryption_context.is_some()
                || $i.bucket_key_enabled.is_some(),
            append: false,
        }
    };
}
pub(crate) use object_write;

/// Refuses an object write that asks for protection fastgate does not give.
pub fn check_object_write(w: &ObjectWrite) -> S3Result<()> {
    if w.lock {
        // What S3 answers for a bucket created without object lock, which every
        // fastgate bucket is.
        return Err(ApiError::InvalidRequest("Bucket is missing Object Lock Configuration").into());
    }
    if w.encryption {
        return Err(ApiError::NotImplemented(
            "A header you provided implies functionality that is not implemented (server-side encryption)",
        )
        .into());
    }
    if w.append {
        return Err(ApiError::NotImplemented(
            "A header you provided implies functionality that is not implemented (x-amz-write-offset-bytes)",
        )
        .into());
    }
    Ok(())
}

/// Refuses a read of a version other than `null`: buckets are unversioned, so no other
/// version exists. S3 answers 400 for an id it cannot parse and 404 for one it can.
pub fn check_version_id(version_id: Option<&str>) -> S3Result<()> {
    match version_id {
        None | Some("null") => Ok(()),
        Some(v) if looks_like_version_id(v) => Err(ApiError::NoSuchVersion.into()),
        Some(_) => Err(ApiError::InvalidArgument("Invalid version id specified").into()),
    }
}

/// S3's version ids are 32 characters of URL-safe text.
fn looks_like_version_id(v: &str) -> bool {
    v.len() == 32
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_null_and_absent_versions_are_readable() {
        assert!(check_version_id(None).is_ok());
        assert!(check_version_id(Some("null")).is_ok());
        let code = |v| check_version_id(Some(v)).unwrap_err().code().as_str().to_owned();
        assert_eq!(code("3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH"), "NoSuchVersion");
        assert_eq!(code("nope"), "InvalidArgument");
    }
}
