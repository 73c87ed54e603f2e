//! Protection a request asks for and fastgate does not give yet: object lock and
//! appends. (ACLs are `acl.rs`'s; server-side encryption is `sse.rs`'s, and each
//! handler that supports it clears `encryption` before calling this.)
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
