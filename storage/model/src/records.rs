//! The records the catalog keeps, serialized with postcard behind a version byte so
//! that their layout can evolve.
//!
//! Format 2 appended one optional field to the bucket record (`access`), the object
//! record and the upload record (`acl`). postcard writes a struct as its fields in
//! order and `None` as one zero byte, and ignores bytes after the value it reads, so a
//! format 1 record is read as format 2 by appending that byte: every record written
//! before stays readable, with the new field absent.
//!
//! Format 3 appended one more optional field the same way: the bucket record's
//! `versioning` and the object record's `version`. A format 2 record gets one zero byte
//! appended, a format 1 record two (records without a new field ignore them).
//!
//! Format 4 appended two optional fields to the bucket, object and upload records (object
//! lock, then encryption) and one to the chunk record (its sealed data key): a format 3
//! record gets two zero bytes, a format 2 record three, a format 1 record four.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::checksum::{ChecksumAlgorithm, ChunkDigests};
use crate::encryption::{BucketEncryption, ObjectEncryption, SealedKey};
use crate::error::{Result, StorageError};
use crate::ids::{ChunkHash, ChunkLocation, VersionId};
use crate::lock::{BucketObjectLock, ObjectLock};

/// The order of a version stamped at `ms` milliseconds since the epoch.
pub(crate) fn legacy_order(ms: i64) -> u64 {
    u64::MAX - u64::try_from(ms).unwrap_or(0).saturating_mul(1000)
}

const FORMAT: u8 = 4;
/// The layout before the optional trailing fields of format 4.
const FORMAT_3: u8 = 3;
/// The layout before the optional trailing field of format 3.
const FORMAT_2: u8 = 2;
/// The layout before the optional trailing fields of format 2.
const FORMAT_1: u8 = 1;

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = vec![FORMAT];
    // Serializing plain structs into a Vec cannot fail.
    out.extend(postcard::to_stdvec(v).unwrap_or_default());
    out
}

pub(crate) fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T> {
    let corrupt = |reason: String| StorageError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason,
    };
    let absent = |rest: &[u8], fields: usize| {
        let mut v = Vec::with_capacity(rest.len() + fields);
        v.extend_from_slice(rest);
        v.resize(rest.len() + fields, 0);
        postcard::from_bytes(&v).map_err(|e| corrupt(e.to_string()))
    };
    match bytes.split_first() {
        Some((&FORMAT, rest)) => postcard::from_bytes(rest).map_err(|e| corrupt(e.to_string())),
        Some((&FORMAT_3, rest)) => absent(rest, 2),
        Some((&FORMAT_2, rest)) => absent(rest, 3),
        Some((&FORMAT_1, rest)) => absent(rest, 4),
        Some((v, _)) => Err(corrupt(format!("unknown record format {v}"))),
        None => Err(corrupt("empty record".into())),
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BucketRecord {
    pub owner: String,
    pub created_ms: i64,
    pub region: String,
    /// Who else may do what: `None` for a bucket that never had any access
    /// configuration, which is [`BucketAccess::default`] (owner-only, ACLs disabled).
    pub access: Option<BucketAccess>,
    /// `None` for a bucket whose versioning was never configured: every write replaces
    /// its key's one `null` version, as before versioning existed.
    pub versioning: Option<Versioning>,
    /// Object lock, present only on a bucket created with it (it is never turned off).
    pub object_lock: Option<BucketObjectLock>,
    /// Default encryption of new objects; `None` is none configured.
    pub encryption: Option<BucketEncryption>,
}

/// A bucket's versioning state, once configured (S3 has no way back to "never").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    /// Every write makes a new version; a delete without a version id writes a marker.
    Enabled,
    /// Writes make (and replace) the `null` version; versions made while enabled stay.
    Suspended,
}

impl BucketRecord {
    /// The bucket's access configuration, the default where it has none.
    pub fn access(&self) -> BucketAccess {
        self.access.clone().unwrap_or_default()
    }
}

/// A bucket's access configuration: its ACL, object ownership, policy and Block Public
/// Access settings. Kept in the bucket record, so that authorizing a request reads one
/// record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketAccess {
    /// `None` once ownership controls were deleted: ACLs apply, objects belong to
    /// their writers (as `ObjectWriter`).
    pub ownership: Option<ObjectOwnership>,
    /// The bucket ACL's grants; empty is the owner's FULL_CONTROL alone.
    pub grants: Vec<AclGrant>,
    /// The bucket policy, as the client sent it (GetBucketPolicy returns it verbatim).
    pub policy: Option<String>,
    pub public_access_block: Option<PublicAccessBlock>,
}

impl Default for BucketAccess {
    /// What a new bucket gets, as S3's default: `BucketOwnerEnforced`, no grants, no
    /// policy.
    fn default() -> Self {
        Self {
            ownership: Some(ObjectOwnership::BucketOwnerEnforced),
            grants: Vec::new(),
            policy: None,
            public_access_block: None,
        }
    }
}

/// S3's object ownership setting of a bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectOwnership {
    /// ACLs are disabled: the bucket owner owns every object and only owner-only ACLs
    /// are accepted.
    BucketOwnerEnforced,
    /// Objects written with `bucket-owner-full-control` belong to the bucket owner,
    /// others to their writer.
    BucketOwnerPreferred,
    /// Objects belong to their writer.
    ObjectWriter,
}

/// One ACL grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclGrant {
    pub grantee: AclGrantee,
    pub permission: AclPermission,
}

/// Who an ACL grant is to. Grants by email are stored as the user they name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AclGrantee {
    /// A user, by its id (its access key).
    User(String),
    /// Everyone, anonymous requests included.
    AllUsers,
    /// Every request signed by a known user.
    AuthenticatedUsers,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AclPermission {
    FullControl,
    Read,
    Write,
    ReadAcp,
    WriteAcp,
}

/// A bucket's Block Public Access settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

/// An object's (or upload's) ACL grants beyond its owner's FULL_CONTROL.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectAcl {
    pub grants: Vec<AclGrant>,
}

/// One stored chunk: where it is, what it is, and how many records point at it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChunkRecord {
    pub location: ChunkLocation,
    pub digests: ChunkDigests,
    pub refs: u64,
    /// When `refs` last dropped to zero; garbage collection waits out the grace
    /// period from here.
    pub zero_since_ms: Option<i64>,
    /// The chunk's data key, for a chunk encrypted on disk; `None` for plaintext.
    pub sealed: Option<SealedKey>,
}

/// Standard headers stored with an object and returned on GET/HEAD.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectHeaders {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    pub website_redirect_location: Option<String>,
    pub storage_class: Option<String>,
}

/// An object's (or upload's) additional checksum. `parts` is set for a composite
/// checksum (`<b64>-N`); unset it is a checksum of the full object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectChecksum {
    pub algorithm: ChecksumAlgorithm,
    pub value: Vec<u8>,
    pub parts: Option<u32>,
}

/// A piece of an object: one chunk, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectPart {
    pub hash: ChunkHash,
    pub location: ChunkLocation,
    pub size: u64,
    /// The part's MD5 for multipart objects (ETag of that part).
    pub md5: [u8; 16],
    /// The part's additional checksum, when the upload had an algorithm.
    pub checksum: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    pub size: u64,
    /// Unquoted: MD5 hex for a single PUT, `<hex>-N` for multipart.
    pub etag: String,
    pub last_modified_ms: i64,
    pub owner: String,
    pub headers: ObjectHeaders,
    pub user_metadata: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub checksum: Option<ObjectChecksum>,
    pub parts: Vec<ObjectPart>,
    /// Whether the object came from a multipart upload (`x-amz-mp-parts-count`).
    pub multipart: bool,
    /// The object's ACL; `None` is its owner's FULL_CONTROL alone.
    pub acl: Option<ObjectAcl>,
    /// Which version of its key this is. `None` for a write to a bucket never
    /// versioned: the `null` version, sorting by its modification time.
    pub version: Option<VersionStamp>,
    /// The version's retention and legal hold; `None` is unprotected.
    pub lock: Option<ObjectLock>,
    /// How the object is encrypted at rest; `None` is not encrypted.
    pub encryption: Option<ObjectEncryption>,
}

/// A version's place among the versions of its key, which is also its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionStamp {
    /// `u64::MAX` minus the write's time in microseconds, and always below the order of
    /// the version it succeeds (clocks step back, writes share a microsecond): a key's
    /// newest version sorts first.
    pub order: u64,
    /// Random and never zero for a version with an id; zero for the `null` version.
    pub nonce: u64,
    /// A delete marker: no data, and a key whose current version it is reads as absent.
    pub delete_marker: bool,
}

impl ObjectRecord {
    /// The version's id as S3 requests name it.
    pub fn version_id(&self) -> VersionId {
        match self.version {
            Some(v) if v.nonce != 0 => VersionId::Id {
                order: v.order,
                nonce: v.nonce,
            },
            _ => VersionId::Null,
        }
    }

    pub fn is_delete_marker(&self) -> bool {
        self.version.is_some_and(|v| v.delete_marker)
    }

    /// Where the version sorts among its key's versions (lower is newer).
    pub(crate) fn order(&self) -> u64 {
        match self.version {
            Some(v) => v.order,
            None => legacy_order(self.last_modified_ms),
        }
    }

    pub(crate) fn nonce(&self) -> u64 {
        self.version.map_or(0, |v| v.nonce)
    }

    pub(crate) fn spans(&self) -> Vec<(ChunkHash, ChunkLocation, u64)> {
        self.parts.iter().map(|p| (p.hash, p.location, p.size)).collect()
    }
}

/// An open multipart upload: what the final object will carry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UploadRecord {
    pub owner: String,
    pub initiated_ms: i64,
    pub headers: ObjectHeaders,
    pub user_metadata: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// `FULL_OBJECT` (CRCs combined) rather than the default `COMPOSITE`.
    pub checksum_full_object: bool,
    /// Bumped by every part commit, so that completion can tell whether the parts it
    /// scanned are still all the parts there are.
    pub generation: u64,
    /// The ACL the completed object will have.
    pub acl: Option<ObjectAcl>,
    /// The retention and legal hold the completed object will have.
    pub lock: Option<ObjectLock>,
    /// How the parts and the completed object are encrypted.
    pub encryption: Option<ObjectEncryption>,
}

/// What a completed upload answered, kept for a while after the completion so that a
/// client that lost the answer and retries is told the same instead of `NoSuchUpload`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompletedUpload {
    pub completed_ms: i64,
    /// The completion list (part number, unquoted lowercase ETag) a retry must repeat.
    pub list: Vec<(u16, String)>,
    pub size: u64,
    pub etag: String,
    pub checksum: Option<ObjectChecksum>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PartRecord {
    pub hash: ChunkHash,
    pub location: ChunkLocation,
    pub size: u64,
    pub md5: [u8; 16],
    pub last_modified_ms: i64,
    pub checksum: Option<(ChecksumAlgorithm, Vec<u8>)>,
}

impl PartRecord {
    /// A part made of one chunk; `checksum` is the upload's algorithm and the chunk's
    /// value for it, when the upload has one.
    pub fn of_chunk(
        hash: ChunkHash,
        location: ChunkLocation,
        digests: &ChunkDigests,
        checksum: Option<(ChecksumAlgorithm, Vec<u8>)>,
    ) -> Self {
        Self {
            hash,
            location,
            size: digests.size,
            md5: digests.md5,
            last_modified_ms: crate::ids::now_ms(),
            checksum,
        }
    }

    pub fn etag(&self) -> String {
        hex::encode(self.md5)
    }
}

/// A lifecycle rule as rules were stored before versioned lifecycle (under
/// [`crate::keys::LIFECYCLE`]); read back as a [`LifecycleRule`] without the later
/// actions and filters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyLifecycleRule {
    pub id: Option<String>,
    pub prefix: String,
    pub enabled: bool,
    pub abort_incomplete_after_days: Option<u32>,
    pub expiration_days: Option<u32>,
}

/// The parts of a bucket's lifecycle rule fastgate acts on, kept with the rest of the
/// rule so that Get returns what Put stored. Stored under its own key
/// ([`crate::keys::LIFECYCLE_RULES`]), so that rules stored before it read as they were.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    pub id: Option<String>,
    /// Filter: the key prefix.
    pub prefix: String,
    pub enabled: bool,
    pub abort_incomplete_after_days: Option<u32>,
    /// `Expiration` of the current version after these days (a delete marker on a
    /// versioned bucket).
    pub expiration_days: Option<u32>,
    /// Filter: tags a version must all carry.
    pub tags: Vec<(String, String)>,
    /// Filter: `ObjectSizeGreaterThan`, `ObjectSizeLessThan` (bytes, strict).
    pub size_greater_than: Option<u64>,
    pub size_less_than: Option<u64>,
    /// `ExpiredObjectDeleteMarker`: remove a delete marker that is its key's only version.
    pub expired_object_delete_marker: bool,
    /// `NoncurrentVersionExpiration`: remove a version this many days after it became
    /// noncurrent...
    pub noncurrent_days: Option<u32>,
    /// ...keeping the newest this many noncurrent versions whatever their age.
    pub newer_noncurrent_versions: Option<u32>,
}

impl From<LegacyLifecycleRule> for LifecycleRule {
    fn from(r: LegacyLifecycleRule) -> Self {
        Self {
            id: r.id,
            prefix: r.prefix,
            enabled: r.enabled,
            abort_incomplete_after_days: r.abort_incomplete_after_days,
            expiration_days: r.expiration_days,
            ..Self::default()
        }
    }
}

/// One rule of a bucket's CORS configuration, as PutBucketCors gave it (validated by the
/// gateway), so that GetBucketCors returns what was stored and preflights match on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    pub id: Option<String>,
    /// Origins, each with at most one `*` wildcard.
    pub allowed_origins: Vec<String>,
    /// Methods among GET, PUT, POST, DELETE and HEAD.
    pub allowed_methods: Vec<String>,
    /// Request headers a preflight may name, each with at most one `*` wildcard.
    pub allowed_headers: Vec<String>,
    /// Response headers a browser may let the page read.
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`BucketRecord`] as format 1 wrote it.
    #[derive(Serialize)]
    struct BucketRecordV1 {
        owner: String,
        created_ms: i64,
        region: String,
    }

    #[test]
    fn a_format_1_record_reads_with_its_new_fields_absent() {
        let old = BucketRecordV1 {
            owner: "alice".into(),
            created_ms: 7,
            region: "us-east-1".into(),
        };
        let mut bytes = vec![FORMAT_1];
        bytes.extend(postcard::to_stdvec(&old).unwrap());
        let rec: BucketRecord = decode(b"Bb", &bytes).unwrap();
        assert_eq!(
            (rec.owner.as_str(), rec.created_ms, rec.access.is_none()),
            ("alice", 7, true)
        );
        let again: BucketRecord = decode(b"Bb", &encode(&rec)).unwrap();
        assert_eq!(again.region, "us-east-1");
    }
}
