//! The write path's use cases: store a single-chunk object's body, store a part's body.
//! Both take the body as [`Content`] (a chunk already stored and claimed, or one just
//! received and staged) and build what they write from it, so that the front end never
//! names a chunk location: the committer decides where a chunk is (a copy stored
//! meanwhile wins over the staged one, a trunk slot is known only once published).

use std::sync::Arc;

use fastgate_chunk::StagedChunk;

use crate::checksum::{ChecksumAlgorithm, ChunkDigests};
use crate::error::Result;
use crate::ids::{ChunkHash, ChunkLocation, PartNumber, UploadId};
use crate::objects::WriteCondition;
use crate::records::{ChunkRecord, ObjectPart, ObjectRecord, PartRecord};
use crate::store::Store;

/// The bytes of a new object or part.
pub enum Content {
    /// A chunk already stored: an instant-upload claim (see `instant_lookup`) or a
    /// source chunk of a copy. Committing adds a reference and fails with `ChunkGone` if
    /// garbage collection took the chunk meanwhile; an instant upload then reads the body.
    Stored { hash: ChunkHash, chunk: ChunkRecord },
    /// A body just received into a temp place, made durable and verified by the caller;
    /// committing publishes it (or drops it for a copy already stored).
    Staged(StagedChunk),
}

impl Content {
    pub fn hash(&self) -> ChunkHash {
        match self {
            Self::Stored { hash, .. } => *hash,
            Self::Staged(s) => s.hash(),
        }
    }

    pub fn digests(&self) -> &ChunkDigests {
        match self {
            Self::Stored { chunk, .. } => &chunk.digests,
            Self::Staged(s) => &s.digests,
        }
    }

    /// Where the chunk was when the content was made; the commit records where it is.
    fn location(&self) -> ChunkLocation {
        match self {
            Self::Stored { chunk, .. } => chunk.location,
            Self::Staged(s) => s.location,
        }
    }

    fn into_staged(self) -> Option<StagedChunk> {
        match self {
            Self::Stored { .. } => None,
            Self::Staged(s) => Some(s),
        }
    }
}

impl Store {
    /// Stores an object made of one chunk (PutObject): `record` carries what the request
    /// said (owner, headers, metadata, tags, additional checksum); its size, ETag and
    /// part list come from `content`. Returns the record as written.
    pub async fn store_object(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        mut record: ObjectRecord,
        content: Content,
        cond: WriteCondition,
    ) -> Result<ObjectRecord> {
        let d = content.digests();
        record.size = d.size;
        record.etag = hex::encode(d.md5);
        record.multipart = false;
        record.parts = vec![ObjectPart {
            hash: content.hash(),
            location: content.location(),
            size: d.size,
            md5: d.md5,
            checksum: None,
        }];
        let staged = content.into_staged().into_iter().collect();
        self.put_object(bucket, key, record, staged, cond).await
    }

    /// Stores part `number` of an upload (UploadPart, UploadPartCopy). `algorithm` is the
    /// upload's additional checksum: the part records the chunk's value for it, read back
    /// from disk (off the async workers) when the chunk was not written with it. Returns
    /// the part as written.
    pub async fn store_part(
        self: &Arc<Self>,
        bucket: &str,
        key: &str,
        id: &UploadId,
        number: PartNumber,
        content: Content,
        algorithm: Option<ChecksumAlgorithm>,
    ) -> Result<PartRecord> {
        let checksum = match (algorithm, &content) {
            (None, _) => None,
            // The caller asks the writer for the upload's algorithm, so a staged chunk
            // has it.
            (Some(a), Content::Staged(s)) => s.digests.checksum(a).map(|v| (a, v.to_vec())),
            (Some(a), Content::Stored { hash, chunk }) => Some((a, self.stored_checksum(*hash, chunk, a).await?)),
        };
        let part = PartRecord::of_chunk(content.hash(), content.location(), content.digests(), checksum);
        self.put_part(bucket, key, id, number, part.clone(), content.into_staged())
            .await?;
        Ok(part)
    }

    /// A stored chunk's checksum of `alg`: from its record, or read back from disk (no
    /// network) on the blocking pool when it was not written with that algorithm.
    pub async fn stored_checksum(
        self: &Arc<Self>,
        hash: ChunkHash,
        chunk: &ChunkRecord,
        alg: ChecksumAlgorithm,
    ) -> Result<Vec<u8>> {
        if let Some(v) = chunk.digests.checksum(alg) {
            return Ok(v.to_vec());
        }
        let chunk = chunk.clone();
        self.off_worker(move |s| s.chunk_checksum(&chunk, &hash, alg)).await
    }
}
