//! Encryption at rest, as records keep it: how an object (or an upload's parts) is
//! encrypted, a bucket's default, and a chunk's data key wrapped under a master key;
//! and the operator's keys ([`Keyring`]).
//!
//! # Keys
//! - Every sealed chunk has a random 256-bit data key of its own (drawn by the chunk
//!   writer; the segment format is `fastgate_chunk::seal`'s). Its record keeps it wrapped
//!   (AES-256-GCM, the key's name and the chunk's id authenticated) under a
//!   key-encryption key, and names that key ([`SealedKey::key_id`]).
//! - SSE-S3 wraps under the master key, SSE-KMS under the named key the request gives;
//!   both come from the key file or `FASTGATE_KMS_KEYS`, never from the data dir. A
//!   rotation ([`crate::Store::rotate_key`]) rewraps records and rewrites no chunk.
//! - SSE-C wraps under a key HKDF-SHA256 derives from the customer's key (key id
//!   [`CUSTOMER_KEY_ID`]); the server keeps only the customer key's MD5, as AWS answers
//!   it. The data key is random and wrapped rather than derived from the customer key and
//!   the chunk id because the id is known only once the plaintext is hashed, while its
//!   bytes are sealed as they stream in (one pass, bounded memory).
//!
//! # Identity and dedup
//! A sealed chunk's id is `HMAC-SHA256(id_key, SHA-256(plaintext))` with an `id_key` per
//! scope: SSE-S3 (whatever its master key, so that dedup survives a rotation), one KMS
//! key, or one customer key (derived from it, so that the id reveals nothing to whoever
//! lacks the key). Chunks deduplicate within a scope and never across scopes or with
//! plaintext: an encrypted object's bytes never sit in a plaintext chunk, and a
//! plaintext write never claims sealed bytes. Instant upload derives the same id from
//! the client's SHA-256 for SSE-S3 and SSE-KMS writes; SSE-C writes never take one (the
//! gateway's `sse` module says why).

use fastgate_chunk::seal::{self, Key256, SealSpec};
use serde::{Deserialize, Serialize};

use crate::ids::ChunkHash;

/// How an object's bytes are encrypted on disk, and what its answers say about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectEncryption {
    /// SSE-S3 (`AES256`): under the server's master key.
    S3,
    /// SSE-KMS: under the operator's named key `key_id`, with the request's context
    /// (base64 JSON, as the header carries it) and bucket key flag, both echoed.
    Kms {
        key_id: String,
        context: Option<String>,
        bucket_key: bool,
    },
    /// SSE-C: under the client's key, of which only its MD5 is kept.
    Customer { key_md5: [u8; 16] },
}

impl ObjectEncryption {
    /// Whether chunks of `self` and of `other` are sealed alike (or both plaintext), so
    /// that an object of one may reference the other's chunks. Never for SSE-C: the
    /// server cannot tell two customer keys' chunks apart by the record alone.
    pub fn shares_chunks_with(a: Option<&Self>, b: Option<&Self>) -> bool {
        match (a, b) {
            (None, None) | (Some(Self::S3), Some(Self::S3)) => true,
            (Some(Self::Kms { key_id: x, .. }), Some(Self::Kms { key_id: y, .. })) => x == y,
            _ => false,
        }
    }
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

/// The SSE-C key id recorded in the sealed keys of chunks under a customer key: their
/// data keys are wrapped under a key derived from the customer's, which the server does
/// not keep, so rotation and the startup check pass them by.
pub const CUSTOMER_KEY_ID: &str = "sse-c";

/// An SSE-C customer key, as the request gave it (its MD5 already checked).
#[derive(Clone)]
pub struct CustomerKey(pub [u8; 32]);

impl std::fmt::Debug for CustomerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomerKey(..)")
    }
}

impl CustomerKey {
    /// The key's MD5, as AWS answers it and as the object keeps it.
    pub fn md5(&self) -> [u8; 16] {
        use md5::Digest as _;
        md5::Md5::digest(self.0).into()
    }

    /// A key HKDF-SHA256 derives from the customer key for `purpose`.
    fn derive(&self, purpose: &str) -> Key256 {
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's output limit.
        let _ = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"fastgate sse-c"), &self.0).expand(purpose.as_bytes(), &mut out);
        Key256(out)
    }
}

/// The operator's keys: the SSE-S3 master key and the SSE-KMS named keys, by name.
/// Read from a key file outside the data directory or from the environment (see the
/// gateway's `[encryption]`), never stored with the data: whoever has the data
/// directory alone cannot read an encrypted object, and whoever loses the keys loses
/// those objects.
#[derive(Clone, Default)]
pub struct Keyring {
    keys: std::collections::BTreeMap<String, Key256>,
    /// The key SSE-S3 seals new chunks under.
    master: Option<String>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("master", &self.master)
            .finish()
    }
}

/// Why a keyring cannot do what it is asked.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no master key is configured for SSE-S3 ([encryption] key_file or FASTGATE_KMS_KEYS)")]
    NoMaster,
    #[error("no key named {0:?}")]
    Unknown(String),
    #[error("malformed key {0:?}: expected name:base64 of 32 bytes")]
    Malformed(String),
    #[error("a data key does not unwrap under key {0:?}")]
    Unwrap(String),
}

impl Keyring {
    /// Parses keys written `name:base64-of-32-bytes`, one a line or separated by commas
    /// (MinIO's single-key KMS writes one such key); blank lines and `#` comments are
    /// skipped. The first key is the master key unless `master` names another.
    pub fn parse(text: &str, master: Option<&str>) -> Result<Self, KeyError> {
        use base64::Engine as _;
        let mut ring = Self::default();
        for item in text.lines().flat_map(|l| l.split(',')) {
            let item = item.trim();
            if item.is_empty() || item.starts_with('#') {
                continue;
            }
            let bad = || KeyError::Malformed(item.split(':').next().unwrap_or_default().to_owned());
            let (name, b64) = item.split_once(':').ok_or_else(bad)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| bad())?;
            let key: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
            let name = name.trim();
            if name.is_empty() || name == CUSTOMER_KEY_ID {
                return Err(bad());
            }
            if ring.master.is_none() {
                ring.master = Some(name.to_owned());
            }
            ring.keys.insert(name.to_owned(), Key256(key));
        }
        if let Some(m) = master {
            if !ring.keys.contains_key(m) {
                return Err(KeyError::Unknown(m.to_owned()));
            }
            ring.master = Some(m.to_owned());
        }
        Ok(ring)
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn has(&self, name: &str) -> bool {
        self.keys.contains_key(name)
    }

    /// The SSE-S3 master key's name.
    pub fn master(&self) -> Option<&str> {
        self.master.as_deref()
    }

    fn key(&self, name: &str) -> Result<&Key256, KeyError> {
        self.keys.get(name).ok_or_else(|| KeyError::Unknown(name.to_owned()))
    }

    /// How a new chunk of an object encrypted as `enc` is sealed. Chunk ids are derived
    /// per scope (SSE-S3, one KMS key, one customer key), not per key version, so that
    /// dedup keeps working across a rotation of the master key.
    pub fn spec(&self, enc: &ObjectEncryption, customer: Option<&CustomerKey>) -> Result<SealSpec, KeyError> {
        match enc {
            ObjectEncryption::S3 => {
                let name = self.master().ok_or(KeyError::NoMaster)?;
                Ok(SealSpec {
                    key_id: name.to_owned(),
                    kek: self.key(name)?.clone(),
                    id_key: scope_key("sse-s3"),
                })
            }
            ObjectEncryption::Kms { key_id, .. } => Ok(SealSpec {
                key_id: key_id.clone(),
                kek: self.key(key_id)?.clone(),
                id_key: scope_key(&format!("sse-kms:{key_id}")),
            }),
            ObjectEncryption::Customer { .. } => {
                let c = customer.ok_or_else(|| KeyError::Unknown(CUSTOMER_KEY_ID.to_owned()))?;
                Ok(SealSpec {
                    key_id: CUSTOMER_KEY_ID.to_owned(),
                    kek: c.derive("key encryption"),
                    id_key: c.derive("chunk ids"),
                })
            }
        }
    }

    /// The data key of sealed chunk `id`.
    pub fn unwrap(
        &self,
        id: &ChunkHash,
        sealed: &SealedKey,
        customer: Option<&CustomerKey>,
    ) -> Result<Key256, KeyError> {
        let kek = if sealed.key_id == CUSTOMER_KEY_ID {
            customer
                .ok_or_else(|| KeyError::Unknown(CUSTOMER_KEY_ID.to_owned()))?
                .derive("key encryption")
        } else {
            self.key(&sealed.key_id)?.clone()
        };
        seal::unwrap(&kek, &sealed.key_id, id, &sealed.wrapped).map_err(|_| KeyError::Unwrap(sealed.key_id.clone()))
    }

    /// `sealed` rewrapped under key `to`, for chunk `id`.
    pub fn rewrap(&self, id: &ChunkHash, sealed: &SealedKey, to: &str) -> Result<SealedKey, KeyError> {
        let data = self.unwrap(id, sealed, None)?;
        Ok(SealedKey {
            key_id: to.to_owned(),
            wrapped: seal::wrap(self.key(to)?, to, id, &data),
        })
    }
}

/// The key chunk ids of one scope are derived with. Not secret: it keeps the id spaces
/// apart (a sealed chunk is never taken for plaintext, nor one scope's for another's).
fn scope_key(scope: &str) -> Key256 {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(b"fastgate sealed chunk ids\0");
    h.update(scope.as_bytes());
    Key256(h.finalize().into())
}
