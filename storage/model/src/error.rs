//! The storage layer's one error type. The gateway maps each variant to an S3 error
//! code in one place.

use fastgate_chunk::ChunkError;

use crate::meta::{MetaError, TxError};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("no such bucket")]
    NoSuchBucket,
    #[error("bucket already exists")]
    BucketAlreadyExists,
    #[error("bucket already owned by you")]
    BucketAlreadyOwnedByYou,
    #[error("bucket is not empty")]
    BucketNotEmpty,
    #[error("no such key")]
    NoSuchKey,
    #[error("no such version")]
    NoSuchVersion,
    #[error("no such upload")]
    NoSuchUpload,
    #[error("part {0} was not uploaded or its ETag does not match")]
    InvalidPart(u16),
    /// A part of an upload created with a COMPOSITE checksum was listed without it.
    #[error("part {part} was listed without its {algorithm:?} checksum")]
    MissingPartChecksum {
        algorithm: crate::checksum::ChecksumAlgorithm,
        part: u16,
    },
    #[error("parts are not in ascending order")]
    InvalidPartOrder,
    #[error("part {part} is {size} bytes, below the minimum part size")]
    EntityTooSmall { part: u16, size: u64 },
    #[error("the completion list names no parts")]
    MalformedPartList,
    #[error("no store path has room for a new chunk")]
    NoSpace,
    /// An instant-upload hit raced with garbage collection; the caller falls back to
    /// reading the body.
    #[error("chunk {0} is no longer stored")]
    ChunkGone(String),
    #[error("precondition failed")]
    PreconditionFailed,
    /// Object lock keeps the version: it may not be removed, nor its retention weakened.
    #[error("object lock: {0}")]
    ObjectLocked(#[from] crate::lock::LockRefusal),
    /// Object lock asked of a bucket created without it (and not configured since).
    #[error("the bucket has no object lock configuration")]
    ObjectLockNotEnabled,
    /// A change the bucket's state does not allow; the message says why, in S3's words.
    #[error("{0}")]
    InvalidBucketState(&'static str),
    #[error("i/o: {0}")]
    Io(std::io::Error),
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error("corrupt record under {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    /// No group of storage nodes can take the write, or no node holding a chunk
    /// answers: retry later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("the user exists already")]
    UserExists,
    #[error("another user has that email address")]
    EmailInUse,
    #[error("no such user")]
    NoSuchUser,
    #[error("the access key exists already")]
    AccessKeyExists,
    #[error("no such access key")]
    NoSuchAccessKey,
    /// A key for encryption at rest is missing or does not open what it should.
    #[error("encryption key: {0}")]
    Key(#[from] crate::encryption::KeyError),
}

/// A file system that fills up during a write (or a quota that runs out) is the same
/// condition as a store path without room before the write: the client is told so
/// instead of getting an internal error.
impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        if fastgate_chunk::error::is_no_space(&e) {
            StorageError::NoSpace
        } else if let Some(m) = ChunkError::unavailable_in(&e) {
            StorageError::Unavailable(m.to_owned())
        } else {
            StorageError::Io(e)
        }
    }
}

/// The chunk layer's errors, folded into the model's own variants: the gateway maps
/// `NoSpace`, `Io` and `Config` in one place whichever layer they come from.
impl From<ChunkError> for StorageError {
    fn from(e: ChunkError) -> Self {
        match e {
            ChunkError::NoSpace => StorageError::NoSpace,
            ChunkError::Io(e) => StorageError::Io(e),
            ChunkError::Config(s) => StorageError::Config(s),
            ChunkError::Unavailable(s) => StorageError::Unavailable(s),
        }
    }
}

impl From<TxError<StorageError>> for StorageError {
    fn from(e: TxError<StorageError>) -> Self {
        match e {
            TxError::Engine(e) => StorageError::Meta(e),
            TxError::Abort(e) => e,
        }
    }
}

impl From<StorageError> for TxError<StorageError> {
    fn from(e: StorageError) -> Self {
        TxError::Abort(e)
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
