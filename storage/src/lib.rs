//! fastgate's storage layer: content-addressed chunks spread over groups and store
//! paths by a tracker-like placement policy, a catalog of buckets, objects and
//! multipart uploads on a pluggable metadata engine, reference counting and garbage
//! collection. No HTTP in here: the gateway maps S3 onto this.
//!
//! The write path, in order: a [`ChunkWriter`] streams bytes into a temp file while
//! hashing them (MD5 for the ETag, SHA-256 for identity, plus any S3 checksum asked
//! for) and fsyncs it; a commit publishes the file (or drops it when the content is
//! already stored) and records the object in one transaction; a group commit makes the
//! transaction durable before the caller answers.

mod buckets;
mod buffer_budget;
pub mod checksum;
mod chunk_io;
mod commit;
pub mod config;
mod dedup;
mod direct_io;
pub mod error;
mod gauges;
mod gc;
pub mod ids;
mod keys;
mod lanes;
pub mod meta;
mod multipart;
mod objects;
mod placement;
mod read_ahead;
pub mod records;
mod room;
mod store;
mod store_path;
mod trunk;

pub use chunk_io::{ChunkWriter, ObjectReader, StagedChunk};
pub use config::StorageConfig;
pub use dedup::{DedupIndex, DedupScope};
pub use error::{Result, StorageError};
pub use gc::{GcReport, StoreStats};
pub use ids::{ChunkHash, ChunkLocation, PartNumber, UploadId};
pub use meta::MetaEngine;
pub use multipart::{MIN_PART_SIZE, UploadEntry, UploadPage};
pub use objects::{DeleteCondition, ListPage, WriteCondition, common_prefix};
pub use store::Store;
