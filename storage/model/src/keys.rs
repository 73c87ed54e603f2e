//! Key layout of the one ordered keyspace. Each table has a one-byte tag; names are
//! separated by NUL (bucket names cannot contain it, and S3 keys in XML cannot
//! either), so a bucket's objects are one contiguous range and listing is a scan.

use crate::ids::{ChunkHash, PartNumber, UploadId};

pub const BUCKET: u8 = b'B';
pub const OBJECT: u8 = b'O';
pub const CHUNK: u8 = b'C';
/// Chunks whose reference count is zero, by hash: what garbage collection walks.
/// `Z <hash>` holds when the count reached zero; `Z <hash> <writer>` (big-endian u64)
/// is a candidate left by a writer over a shared database that dropped a reference
/// without knowing the total (see [`REF_DELTA`]), holding when it did.
pub const ZERO: u8 = b'Z';
/// A writer's change to a chunk's reference count, `r <hash> <writer>` (big-endian
/// u64) -> i64 (big-endian), on an engine several writers share: the count is the
/// chunk record's `refs` plus every writer's delta, so that writers referencing the
/// same chunk at once each write a row of their own. Garbage collection folds them
/// into the record.
pub const REF_DELTA: u8 = b'r';
pub const UPLOAD: u8 = b'U';
pub const PART: u8 = b'P';
/// Proof of possession for instant upload: owner (or bucket) has stored this chunk.
pub const OWNER_HAS: u8 = b'H';
pub const BUCKET_HAS: u8 = b'h';
/// The same proofs by chunk, `R <hash> \0 <scope> \0 <name>`: how garbage collection
/// finds a chunk's proofs, to delete them with it, without a full scan.
pub const HAS_BY_CHUNK: u8 = b'R';
/// The `<scope>` of a [`HAS_BY_CHUNK`] key: an owner's proof, or a bucket's.
pub const BY_OWNER: u8 = b'o';
pub const BY_BUCKET: u8 = b'b';
/// Markers of one-time migrations done on this keyspace.
pub const MARKER: u8 = b'X';
/// MD5 -> SHA-256, for `trust_md5`.
pub const MD5: u8 = b'M';
/// A bucket's lifecycle rules as stored before versioned lifecycle (read, never written).
pub const LIFECYCLE: u8 = b'L';
/// A bucket's lifecycle rules ([`crate::records::LifecycleRule`]).
pub const LIFECYCLE_RULES: u8 = b'l';
/// A bucket's CORS rules, read by every preflight and by every request with an `Origin`.
pub const CORS: u8 = b'c';
/// Uploads completed lately, so that a retried completion gets the first answer.
pub const COMPLETED: u8 = b'D';
/// Noncurrent versions of objects, `V <bucket> \0 <key> \0 <order><nonce>` (both
/// big-endian u64, see [`crate::records::VersionStamp`]): a key's versions newest first,
/// one point read from a version id. The current version of a key stays in [`OBJECT`],
/// so that reading and listing current objects cost what they cost without versioning.
pub const VERSION: u8 = b'V';
/// The bytes after a key's name in a [`VERSION`] key: NUL, order, nonce.
pub const VERSION_SUFFIX: usize = 17;
/// Copies owed to a cluster's storage node: group and node position (big-endian), then
/// the chunk, so that one node's debts are one range.
pub const OWED: u8 = b'W';
/// Storage nodes that registered at run time, `n <group> \0 <url>`.
pub const NODE: u8 = b'n';
/// Users of the metadata store, by name.
pub const USER: u8 = b'I';
/// Access keys of those users, by access key: what a signature check reads.
pub const ACCESS_KEY: u8 = b'K';
/// The same keys by user, `k <user> \0 <access key>`: a user's keys are one range.
pub const USER_KEY: u8 = b'k';
/// Those users by lowercased email, for ACL grants by email.
pub const USER_EMAIL: u8 = b'e';
/// Keys that wrap data keys of sealed chunks, by name (`E <name>`): what the server
/// must have to read what it stores, checked at start without a scan of the chunks.
/// Kept conservatively: an entry stays after the last chunk under its key is collected,
/// and goes only with a rotation away from that key.
pub const SEALED_BY: u8 = b'E';

fn join(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    k.push(tag);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p);
    }
    k
}

pub fn node(group: &str, url: &str) -> Vec<u8> {
    join(NODE, &[group.as_bytes(), url.as_bytes()])
}

pub fn user(name: &str) -> Vec<u8> {
    join(USER, &[name.as_bytes()])
}

pub fn user_email(email: &str) -> Vec<u8> {
    join(USER_EMAIL, &[email.to_ascii_lowercase().as_bytes()])
}

pub fn access_key(access_key: &str) -> Vec<u8> {
    join(ACCESS_KEY, &[access_key.as_bytes()])
}

pub fn user_key(user: &str, access_key: &str) -> Vec<u8> {
    join(USER_KEY, &[user.as_bytes(), access_key.as_bytes()])
}

/// Where the gateway's seal probe for stored secrets is kept (see `users`).
pub fn user_seal_probe() -> Vec<u8> {
    join(MARKER, &[b"user-seal-probe"])
}

/// The prefix of every [`user_key`] of `user`.
pub fn user_key_prefix(user: &str) -> Vec<u8> {
    let mut k = join(USER_KEY, &[user.as_bytes()]);
    k.push(0);
    k
}

/// The access key a [`user_key`] names: what follows its last NUL.
pub fn user_key_access_key(key: &[u8]) -> &str {
    let at = key.iter().rposition(|&b| b == 0).map_or(key.len(), |i| i + 1);
    std::str::from_utf8(&key[at..]).unwrap_or_default()
}

pub fn bucket(name: &str) -> Vec<u8> {
    join(BUCKET, &[name.as_bytes()])
}

pub fn lifecycle(name: &str) -> Vec<u8> {
    join(LIFECYCLE, &[name.as_bytes()])
}

pub fn lifecycle_rules(name: &str) -> Vec<u8> {
    join(LIFECYCLE_RULES, &[name.as_bytes()])
}

pub fn cors(name: &str) -> Vec<u8> {
    join(CORS, &[name.as_bytes()])
}

/// The prefix every object key of `bucket` starts with.
pub fn object_prefix(bucket: &str) -> Vec<u8> {
    let mut k = join(OBJECT, &[bucket.as_bytes()]);
    k.push(0);
    k
}

pub fn object(bucket: &str, key: &str) -> Vec<u8> {
    join(OBJECT, &[bucket.as_bytes(), key.as_bytes()])
}

/// The prefix of every noncurrent version of `bucket`.
pub fn version_prefix(bucket: &str) -> Vec<u8> {
    let mut k = join(VERSION, &[bucket.as_bytes()]);
    k.push(0);
    k
}

/// The prefix of every noncurrent version of `bucket/key` (no other key's: keys hold
/// no NUL).
pub fn versions_of(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = join(VERSION, &[bucket.as_bytes(), key.as_bytes()]);
    k.push(0);
    k
}

pub fn version(bucket: &str, key: &str, order: u64, nonce: u64) -> Vec<u8> {
    let mut k = versions_of(bucket, key);
    k.extend_from_slice(&order.to_be_bytes());
    k.extend_from_slice(&nonce.to_be_bytes());
    k
}

pub fn sealed_by(key_id: &str) -> Vec<u8> {
    join(SEALED_BY, &[key_id.as_bytes()])
}

pub fn chunk(hash: &ChunkHash) -> Vec<u8> {
    join(CHUNK, &[&hash.0])
}

pub fn zero(hash: &ChunkHash) -> Vec<u8> {
    join(ZERO, &[&hash.0])
}

/// A writer's candidate zero marker (see [`ZERO`]).
pub fn zero_by(hash: &ChunkHash, writer: u64) -> Vec<u8> {
    let mut k = zero(hash);
    k.extend_from_slice(&writer.to_be_bytes());
    k
}

/// A writer's delta of a chunk's reference count (see [`REF_DELTA`]).
pub fn ref_delta(hash: &ChunkHash, writer: u64) -> Vec<u8> {
    let mut k = ref_deltas(hash);
    k.extend_from_slice(&writer.to_be_bytes());
    k
}

/// The prefix of every writer's delta of a chunk's reference count.
pub fn ref_deltas(hash: &ChunkHash) -> Vec<u8> {
    join(REF_DELTA, &[&hash.0])
}

/// The chunk a [`ZERO`] or [`REF_DELTA`] key is about.
pub fn hash_of(key: &[u8]) -> Option<ChunkHash> {
    key.get(1..33).and_then(|h| <[u8; 32]>::try_from(h).ok()).map(ChunkHash)
}

pub fn owed_group_prefix(group: u16) -> Vec<u8> {
    let mut k = vec![OWED];
    k.extend_from_slice(&group.to_be_bytes());
    k
}

pub fn owed_prefix(group: u16, node: u16) -> Vec<u8> {
    let mut k = owed_group_prefix(group);
    k.extend_from_slice(&node.to_be_bytes());
    k
}

pub fn owed(group: u16, node: u16, hash: &ChunkHash) -> Vec<u8> {
    let mut k = owed_prefix(group, node);
    k.extend_from_slice(&hash.0);
    k
}

pub fn upload_prefix(bucket: &str) -> Vec<u8> {
    let mut k = join(UPLOAD, &[bucket.as_bytes()]);
    k.push(0);
    k
}

pub fn upload(bucket: &str, key: &str, id: &UploadId) -> Vec<u8> {
    join(UPLOAD, &[bucket.as_bytes(), key.as_bytes(), id.as_str().as_bytes()])
}

pub fn completed(bucket: &str, key: &str, id: &UploadId) -> Vec<u8> {
    join(COMPLETED, &[bucket.as_bytes(), key.as_bytes(), id.as_str().as_bytes()])
}

pub fn part_prefix(id: &UploadId) -> Vec<u8> {
    let mut k = join(PART, &[id.as_str().as_bytes()]);
    k.push(0);
    k
}

pub fn part(id: &UploadId, n: PartNumber) -> Vec<u8> {
    let mut k = part_prefix(id);
    k.extend_from_slice(&n.get().to_be_bytes());
    k
}

pub fn owner_has(owner: &str, hash: &ChunkHash) -> Vec<u8> {
    join(OWNER_HAS, &[owner.as_bytes(), &hash.0])
}

pub fn bucket_has(bucket: &str, hash: &ChunkHash) -> Vec<u8> {
    join(BUCKET_HAS, &[bucket.as_bytes(), &hash.0])
}

/// The prefix of every proof of `bucket`.
pub fn bucket_has_prefix(bucket: &str) -> Vec<u8> {
    let mut k = join(BUCKET_HAS, &[bucket.as_bytes()]);
    k.push(0);
    k
}

pub fn has_by_chunk(hash: &ChunkHash, scope: u8, name: &str) -> Vec<u8> {
    join(HAS_BY_CHUNK, &[&hash.0, &[scope], name.as_bytes()])
}

/// The prefix of every proof of the chunk `hash`.
pub fn has_by_chunk_prefix(hash: &ChunkHash) -> Vec<u8> {
    let mut k = join(HAS_BY_CHUNK, &[&hash.0]);
    k.push(0);
    k
}

pub fn marker(name: &str) -> Vec<u8> {
    join(MARKER, &[name.as_bytes()])
}

pub fn md5(md5: &[u8; 16]) -> Vec<u8> {
    join(MD5, &[md5])
}

/// The first key after every key that starts with a prefix (the metadata layer's).
pub use crate::meta::prefix_end;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_of_a_bucket_do_not_mix_with_a_longer_bucket_name() {
        let p = object_prefix("ab");
        assert!(object("ab", "x").starts_with(&p));
        assert!(!object("abc", "x").starts_with(&p));
    }

    #[test]
    fn versions_of_a_key_sort_with_their_key_and_newest_first() {
        let (a, ab) = (version("b", "a", 5, 1), version("b", "a/b", 1, 1));
        assert!(version("b", "a", 4, 9) < a && a < ab);
        assert!(a.starts_with(&versions_of("b", "a")) && !ab.starts_with(&versions_of("b", "a")));
        assert_eq!(a.len() - versions_of("b", "a").len() + 1, VERSION_SUFFIX);
    }
}
