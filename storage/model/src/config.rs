//! What the store is told at start: the chunk layer's configuration, the metadata
//! engine's, and the model's own settings (garbage collection, the dedup index).
//! Deserializable parts come from the gateway's TOML file as they are.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use fastgate_chunk::config::{
    ChunkConfig, DEFAULT_WRITE_BUFFER_BUDGET, GroupConfig, PlacementConfig, ReservedSpace, StoreLookup,
    StorePathPolicy, parse_bytes,
};

use crate::meta::MetaEngine;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupScope {
    #[default]
    Owner,
    Bucket,
    Global,
}

/// Which proofs of possession and lookups a commit records for every new reference.
///
/// Each one is a metadata key written with every chunk an upload stores, so a server
/// records only what its instant-upload settings can use: the default (owner scope,
/// no `trust_md5`) needs the owner proof alone, and two keys fewer per small PUT is
/// about a tenth of its metadata work. A proof that was not recorded only makes a later
/// lookup miss, which is always safe: the client then sends the body, and that upload
/// records the proof. So changing the settings later needs no migration.
///
/// A proof is two keys: the one lookups read (`owner` or `bucket`, then the hash) and
/// its reverse by chunk, which is how garbage collection deletes a chunk's proofs with
/// the chunk. A proof that outlived its chunk would let its holder claim the same bytes
/// stored again later by someone else, and a deleted bucket's proofs would go to whoever
/// takes its name (see `dedup::forget_chunk_proofs`, `dedup::forget_bucket_proofs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DedupIndex {
    /// `owner` has stored these bytes (for [`DedupScope::Owner`]).
    pub owner: bool,
    /// `bucket` has held these bytes (for [`DedupScope::Bucket`]).
    pub bucket: bool,
    /// The MD5 of these bytes leads to their SHA-256 (for `trust_md5`).
    pub md5: bool,
}

impl Default for DedupIndex {
    /// Everything, for users of the library that look up in every way.
    fn default() -> Self {
        Self {
            owner: true,
            bucket: true,
            md5: true,
        }
    }
}

impl DedupIndex {
    /// What instant uploads under `scope` (and MD5 lookups, with `trust_md5`) will ask
    /// for; nothing when instant upload is off.
    pub fn for_lookups(enabled: bool, scope: DedupScope, trust_md5: bool) -> Self {
        Self {
            owner: enabled && scope == DedupScope::Owner,
            bucket: enabled && scope == DedupScope::Bucket,
            md5: enabled && trust_md5,
        }
    }
}

/// Everything `Store::open` needs: one part per layer.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    /// Where the metadata engine keeps its files.
    pub meta_dir: PathBuf,
    /// Which engine; a directory is always reopened with the one that wrote it.
    pub meta_engine: MetaEngine,
    /// The database of the postgres engine (unused by the embedded ones).
    pub meta_url: Option<String>,
    /// The chunk layer: store paths, placement, how chunks are written.
    pub chunks: ChunkConfig,
    /// How long a chunk nobody references stays on disk before garbage collection may
    /// delete it, so that resumed and repeated uploads still find it.
    pub gc_grace: Duration,
    /// Which dedup proofs and lookups commits record (see `DedupIndex`).
    pub dedup_index: DedupIndex,
    /// The operator's keys for encryption at rest (SSE-S3, SSE-KMS); empty without
    /// them. Never stored under the data dir.
    pub keyring: crate::encryption::Keyring,
}

impl StorageConfig {
    /// One group with one store path under `data_dir`: the embedded default.
    pub fn single(data_dir: &Path) -> Self {
        Self {
            meta_dir: data_dir.join("meta"),
            meta_engine: MetaEngine::default(),
            meta_url: None,
            chunks: ChunkConfig::single(data_dir),
            gc_grace: Duration::from_secs(24 * 3600),
            dedup_index: DedupIndex::default(),
            keyring: crate::encryption::Keyring::default(),
        }
    }
}
