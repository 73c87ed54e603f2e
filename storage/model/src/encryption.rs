//! Encryption at rest, as records keep it: how an object (or an upload's parts) is
//! encrypted, a bucket's default, and a chunk's data key wrapped under a master key.

use serde::{Deserialize, Serialize};

/// How an object's bytes are encrypted on disk, and what its answers say about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectEncryption {
    /// SSE-S3 (`AES256`): under the server's master key.
    S3,
    /// SSE-KMS: under the operator's named key `key_id`, with the request's context.
    Kms { key_id: String, context: Option<String> },
    /// SSE-C: under the client's key, of which only its MD5 is kept.
    Customer { key_md5: [u8; 16] },
}

/// A bucket's default encryption (PutBucketEncryption).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEncryption {
    pub default: ObjectEncryption,
    pub bucket_key_enabled: bool,
}

/// A chunk's data key, wrapped under the master or named key `key_id`, so that key
/// rotation rewrites this record and not the chunk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedKey {
    pub key_id: String,
    pub wrapped: Vec<u8>,
}
