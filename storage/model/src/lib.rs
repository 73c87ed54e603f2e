//! fastgate's model (crate `fastgate-model`): buckets, objects as lists of chunks,
//! multipart sessions, the dedup and proof-of-possession index, reference counts and
//! garbage collection, over the metadata layer ([`meta`], crate `fastgate-meta`) and the
//! chunk layer ([`ChunkStore`], crate `fastgate-chunk`). No HTTP in here: the gateway
//! maps S3 onto this.
//!
//! The write path, in order: a [`ChunkWriter`] from the chunk layer streams bytes into
//! a temp file while hashing them and fsyncs it; a commit publishes the file (or drops
//! it when the content is already stored) and records the object in one transaction; a
//! group commit makes the transaction durable before the caller answers (see `commit`).

#![forbid(unsafe_code)]

mod buckets;
mod commit;
pub mod config;
mod dedup;
pub mod encryption;
pub mod error;
mod gauges;
mod gc;
pub mod ids;
mod keys;
pub mod lifecycle;
pub mod lock;
mod multipart;
pub mod nodes;
mod objects;
pub mod records;
mod store;
pub mod users;
mod versions;
pub mod write;

/// The metadata layer, under the name the model has always used for it.
pub use fastgate_meta as meta;

/// The chunk layer's digests, which records carry and the gateway checks.
pub use fastgate_chunk::checksum;
/// The chunk layer's sealing (encryption at rest): specs, keys, the format.
pub use fastgate_chunk::seal;
pub use fastgate_chunk::{ChunkError, ChunkStore, ChunkWriter, LocalChunks, ObjectReader, StagedChunk};

pub use config::{DedupIndex, DedupScope, StorageConfig};
pub use error::{Result, StorageError};
pub use gc::{GcReport, ReferenceAudit, StoreStats};
pub use ids::{ChunkHash, ChunkLocation, PartNumber, UploadId, VersionId};
pub use meta::MetaEngine;
pub use multipart::{ListedPart, MIN_PART_SIZE, UploadEntry, UploadPage};
pub use objects::{DeleteCondition, ListPage, WriteCondition, common_prefix};
pub use store::Store;
pub use versions::{Deleted, LockChange, VersionPage};
pub use write::Content;
