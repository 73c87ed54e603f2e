//! fastgate's chunk layer (crate `fastgate-chunk`): content-addressed chunks on this
//! node's store paths. What a storage node runs, and all of it: store paths, chunk
//! files and trunks, the hash engines, node-local placement, direct I/O and read-ahead.
//! It knows nothing of buckets, keys, S3 or metadata; the model reaches it through
//! [`ChunkStore`], implemented in process by [`LocalChunks`].
//!
//! The write path, in order: a [`ChunkWriter`] streams bytes into a temp file (or, for
//! a small body, into memory) while hashing them (MD5 for the ETag, SHA-256 for
//! identity, plus any S3 checksum asked for) and fsyncs it; [`ChunkStore::publish`] then
//! renames it into place or appends it to a trunk, or drops it when the content is
//! already stored, and [`ChunkStore::sync`] makes a batch of trunk appends durable.

mod buffer_budget;
pub mod checksum;
mod chunk_io;
mod chunks;
pub mod config;
mod dir;
mod direct_io;
pub mod error;
pub mod ids;
// The hash kernels are SIMD intrinsics and raw block loads: the crate's only unsafe
// code besides `chunk_io::start_writeback`, each block with its SAFETY comment.
#[allow(unsafe_code)]
mod lanes;
mod placement;
mod read_ahead;
mod room;
pub mod seal;
mod store_path;
mod trunk;

pub use chunk_io::{ChunkSink, ChunkWriter, ObjectReader, SMALL_CHUNK, SinkFuture, StagedChunk};
pub use chunks::{ChunkStore, LocalChunks, PublishBatch, TrunkId};
pub use config::ChunkConfig;
pub use error::{ChunkError, Result};
pub use ids::{ChunkHash, ChunkLocation, TrunkSlot};
pub use placement::{Group, Tracker};
pub use store_path::StorePath;
