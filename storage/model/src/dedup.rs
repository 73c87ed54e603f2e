//! Instant-upload lookups: is this content stored, and may this requester claim it?
//!
//! Knowing a hash must not hand out someone else's data, so a hit needs proof of
//! possession at the configured scope: the same owner (default) or the same bucket
//! stored these bytes before, or anybody did (`global`, opt in).

use crate::config::DedupScope;
use crate::error::Result;
use crate::ids::ChunkHash;
use crate::keys;
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
        Ok(self.chunks.checksum(hash, rec.location, rec.digests.size, alg)?)
    }
}
