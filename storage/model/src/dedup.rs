//! Instant-upload lookups: is this content stored, and may this requester claim it?
//!
//! Knowing a hash must not hand out someone else's data, so a hit needs proof of
//! possession at the configured scope: the same owner (default) or the same bucket
//! stored these bytes before, or anybody did (`global`, opt in).

use std::ops::Bound;

use crate::config::DedupScope;
use crate::error::Result;
use crate::ids::ChunkHash;
use crate::keys;
use crate::meta::{MetaError, MetaStore, Txn, WriteBatch};
use crate::records::ChunkRecord;
use crate::store::Store;

impl Store {
    /// The stored chunk with this SHA-256, if `owner` writing to `bucket` may claim it
    /// under `scope`. Chunks waiting for garbage collection count: that is what keeps
    /// resumed uploads cheap.
    pub fn instant_lookup(
        &self,
        hash: &ChunkHash,
        scope: DedupScope,
        owner: &str,
        bucket: &str,
    ) -> Result<Option<ChunkRecord>> {
        let allowed = match scope {
            DedupScope::Global => true,
            DedupScope::Owner => self.meta.get(&keys::owner_has(owner, hash))?.is_some(),
            DedupScope::Bucket => self.meta.get(&keys::bucket_has(bucket, hash))?.is_some(),
        };
        if !allowed {
            return Ok(None);
        }
        self.chunk(hash)
    }

    /// The SHA-256 of the last chunk stored with this MD5 (for `trust_md5`).
    pub fn sha256_for_md5(&self, md5: &[u8; 16]) -> Result<Option<ChunkHash>> {
        Ok(self
            .meta
            .get(&keys::md5(md5))?
            .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
            .map(ChunkHash))
    }

    /// A checksum of a stored chunk that it was not written with, computed from disk
    /// (no network involved). Blocking.
    pub fn chunk_checksum(
        &self,
        rec: &ChunkRecord,
        hash: &ChunkHash,
        alg: crate::checksum::ChecksumAlgorithm,
    ) -> Result<Vec<u8>> {
        if let Some(v) = rec.digests.checksum(alg) {
            return Ok(v.to_vec());
        }
        match &rec.sealed {
            // The checksum is of the plaintext. A customer's key is not at hand here:
            // SSE-C chunks are never claimed by an instant upload, nor referenced by a
            // copy (see the gateway's `sse`), so only server keys reach this.
            Some(s) => {
                let key = self.keyring.unwrap(hash, s, None)?;
                Ok(self
                    .chunks
                    .checksum_sealed(hash, rec.location, rec.digests.size, alg, &key)?)
            }
            None => Ok(self.chunks.checksum(hash, rec.location, rec.digests.size, alg)?),
        }
    }
}

/// Deletes every proof of possession of the chunk `hash` (it is being collected).
pub(crate) fn forget_chunk_proofs(tx: &dyn Txn, hash: &ChunkHash) -> Result<(), MetaError> {
    let prefix = keys::has_by_chunk_prefix(hash);
    for k in tx.keys_with_prefix(&prefix)? {
        // `<scope> \0 <name>` after the prefix.
        let rest = &k[prefix.len()..];
        let name = String::from_utf8_lossy(rest.get(2..).unwrap_or_default());
        match rest.first() {
            Some(&keys::BY_OWNER) => tx.delete(&keys::owner_has(&name, hash))?,
            Some(&keys::BY_BUCKET) => tx.delete(&keys::bucket_has(&name, hash))?,
            _ => {}
        }
        tx.delete(&k)?;
    }
    Ok(())
}

/// Deletes every proof of possession of `bucket` (it is being deleted).
pub(crate) fn forget_bucket_proofs(tx: &dyn Txn, bucket: &str) -> Result<(), MetaError> {
    for k in tx.keys_with_prefix(&keys::bucket_has_prefix(bucket))? {
        if let Some(hash) = proof_hash(&k) {
            tx.delete(&keys::has_by_chunk(&hash, keys::BY_BUCKET, bucket))?;
        }
        tx.delete(&k)?;
    }
    Ok(())
}

/// The chunk of a forward proof key (`H|h <name> \0 <hash>`): its last 32 bytes.
fn proof_hash(k: &[u8]) -> Option<ChunkHash> {
    let at = k.len().checked_sub(32)?;
    <[u8; 32]>::try_from(&k[at..]).ok().map(ChunkHash)
}

/// Proofs written before they were indexed by chunk get their reverse entries, once:
/// without them garbage collection could not find them. Proofs of chunks already
/// collected (which earlier versions left behind) are deleted instead. Runs at open,
/// before anything else writes.
pub(crate) fn index_proofs_by_chunk(meta: &dyn MetaStore) -> Result<()> {
    let marker = keys::marker("has_by_chunk");
    if meta.get(&marker)?.is_some() {
        return Ok(());
    }
    let mut batch = WriteBatch::default();
    let mut n = 0usize;
    for (tag, scope) in [(keys::OWNER_HAS, keys::BY_OWNER), (keys::BUCKET_HAS, keys::BY_BUCKET)] {
        for kv in meta.range(Bound::Included(&[tag][..]), Bound::Excluded(&[tag + 1][..])) {
            let (k, _) = kv?;
            let Some(hash) = proof_hash(&k) else { continue };
            // `<tag> <name> \0 <hash>`
            let name = k
                .len()
                .checked_sub(33)
                .and_then(|end| k.get(1..end))
                .unwrap_or_default();
            let name = String::from_utf8_lossy(name).into_owned();
            if meta.get(&keys::chunk(&hash))?.is_some() {
                batch.put(&keys::has_by_chunk(&hash, scope, &name), &[]);
            } else {
                batch.delete(&k);
            }
            n += 1;
            if n.is_multiple_of(10_000) {
                meta.apply(std::mem::take(&mut batch))?;
            }
        }
    }
    batch.put(&marker, &[]);
    meta.apply(batch)?;
    meta.flush()?;
    if n > 0 {
        tracing::info!(proofs = n, "indexed proofs of possession by chunk");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::MetaEngine;

    #[test]
    fn proofs_from_before_the_index_are_indexed_once_and_stale_ones_dropped() {
        for engine in MetaEngine::ALL {
            let dir = tempfile::tempdir().unwrap();
            let meta = crate::meta::open(engine, dir.path()).unwrap();
            let (live, gone) = (ChunkHash([1; 32]), ChunkHash([2; 32]));
            let mut old = WriteBatch::default();
            old.put(&keys::chunk(&live), b"record");
            old.put(&keys::owner_has("alice", &live), &[]);
            old.put(&keys::bucket_has("photos", &live), &[]);
            old.put(&keys::owner_has("alice", &gone), &[]);
            meta.apply(old).unwrap();

            index_proofs_by_chunk(&*meta).unwrap();
            let has = |k: &[u8]| meta.get(k).unwrap().is_some();
            assert!(has(&keys::has_by_chunk(&live, keys::BY_OWNER, "alice")));
            assert!(has(&keys::has_by_chunk(&live, keys::BY_BUCKET, "photos")));
            assert!(
                !has(&keys::owner_has("alice", &gone)),
                "a proof of a collected chunk stayed"
            );
            assert!(has(&keys::marker("has_by_chunk")));

            // Once only: a proof without its reverse entry now is not this migration's.
            let mut forget = WriteBatch::default();
            forget.delete(&keys::has_by_chunk(&live, keys::BY_OWNER, "alice"));
            meta.apply(forget).unwrap();
            index_proofs_by_chunk(&*meta).unwrap();
            assert!(!has(&keys::has_by_chunk(&live, keys::BY_OWNER, "alice")));
        }
    }
}
