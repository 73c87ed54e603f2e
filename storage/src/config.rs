//! What the store is told at start: the chunk layer's configuration, the metadata
//! engine's, and the model's own settings (garbage collection, the dedup index).
//! Deserializable parts come from the gateway's TOML file as they are.

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use fastgate_chunk::config::{
    ChunkConfig, DEFAULT_WRITE_BUFFER_BUDGET, GroupConfig, PlacementConfig, ReservedSpace, StoreLookup,
    StorePathPolicy, parse_bytes,
};

use crate::dedup::DedupIndex;
use crate::meta::MetaEngine;

/// Everything `Store::open` needs: one part per layer.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    /// Where the metadata engine keeps its files.
    pub meta_dir: PathBuf,
    /// Which engine; a directory is always reopened with the one that wrote it.
    pub meta_engine: MetaEngine,
    /// The chunk layer: store paths, placement, how chunks are written.
    pub chunks: ChunkConfig,
    /// How long a chunk nobody references stays on disk before garbage collection may
    /// delete it, so that resumed and repeated uploads still find it.
    pub gc_grace: Duration,
    /// Which dedup proofs and lookups commits record (see `DedupIndex`).
    pub dedup_index: DedupIndex,
}

impl StorageConfig {
    /// One group with one store path under `data_dir`: the embedded default.
    pub fn single(data_dir: &Path) -> Self {
        Self {
            meta_dir: data_dir.join("meta"),
            meta_engine: MetaEngine::default(),
            chunks: ChunkConfig::single(data_dir),
            gc_grace: Duration::from_secs(24 * 3600),
            dedup_index: DedupIndex::default(),
        }
    }
}
