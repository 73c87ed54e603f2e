//! How chunks are named and found: by the SHA-256 of their bytes, at a location
//! (group, store path, trunk slot) that never changes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A chunk's identity: the SHA-256 of its bytes. Dedup keys on this and never on MD5,
/// whose collisions are cheap to make.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChunkHash(pub [u8; 32]);

impl ChunkHash {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }

    /// Parses the base64 form used by `x-amz-checksum-sha256`.
    pub fn from_base64(s: &str) -> Option<Self> {
        use base64::Engine as _;
        let v = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
        Some(Self(v.try_into().ok()?))
    }
}

impl fmt::Debug for ChunkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChunkHash({})", self.to_hex())
    }
}

impl fmt::Display for ChunkHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Where a chunk lives: indexes of its group and of the store path inside that group,
/// and for a small chunk its slot in a trunk file. Chunks never move, so records that
/// point at a chunk carry this and a read needs no lookup to find the disk (as a
/// FastDFS file id does).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct ChunkLocation {
    pub group: u16,
    pub store_path: u16,
    pub slot: Option<TrunkSlot>,
}

/// A small chunk's place inside an append-only trunk file of its store path.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct TrunkSlot {
    pub trunk: u32,
    pub offset: u64,
}
