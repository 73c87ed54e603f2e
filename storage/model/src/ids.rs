//! Small value types whose constructors enforce their invariants. A chunk's own ids
//! belong to the chunk layer and are re-exported here, where records use them.

use std::fmt;

use serde::{Deserialize, Serialize};

pub use fastgate_chunk::ids::{ChunkHash, ChunkLocation, TrunkSlot};

/// An S3 part number: 1..=10000.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct PartNumber(u16);

impl PartNumber {
    pub const MAX: u16 = 10_000;

    pub fn new(n: i64) -> Option<Self> {
        u16::try_from(n).ok().filter(|n| (1..=Self::MAX).contains(n)).map(Self)
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for PartNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A multipart upload id: 128 random bits in hex, so ids cannot be guessed or collide.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct UploadId(String);

impl UploadId {
    pub fn generate() -> Self {
        Self(hex::encode(rand::random::<[u8; 16]>()))
    }

    /// Accepts only the shape `generate` produces, so that a client-supplied id can
    /// be used in a metadata key without escaping.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
            .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A version of a key, as S3 requests name it: the `null` version (written while the
/// bucket was unversioned or suspended), or one written while versioning was enabled.
/// An id is where the version sorts among its key's versions (see
/// [`crate::records::VersionStamp`]), so that it locates its record with one point read;
/// clients see it as 32 opaque hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum VersionId {
    Null,
    Id { order: u64, nonce: u64 },
}

impl VersionId {
    /// Accepts `null` and the shape `Display` writes (32 lowercase hex digits, a
    /// nonce other than zero, which is the `null` version's); `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        if s == "null" {
            return Some(Self::Null);
        }
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return None;
        }
        let order = u64::from_str_radix(&s[..16], 16).ok()?;
        let nonce = u64::from_str_radix(&s[16..], 16).ok()?;
        (nonce != 0).then_some(Self::Id { order, nonce })
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Id { order, nonce } => write!(f, "{order:016x}{nonce:016x}"),
        }
    }
}

/// Milliseconds since the Unix epoch, the one clock format in records.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_numbers_are_bounded() {
        assert!(PartNumber::new(0).is_none());
        assert!(PartNumber::new(10_001).is_none());
        assert!(PartNumber::new(-1).is_none());
        assert_eq!(PartNumber::new(10_000).map(PartNumber::get), Some(10_000));
    }

    #[test]
    fn version_ids_round_trip_and_reject_junk() {
        let id = VersionId::Id { order: 7, nonce: 9 };
        assert_eq!(VersionId::parse(&id.to_string()), Some(id));
        assert_eq!(VersionId::parse("null"), Some(VersionId::Null));
        assert!(VersionId::parse(&"0".repeat(32)).is_none());
        assert!(VersionId::parse(&"A".repeat(32)).is_none());
        assert!(VersionId::parse("3sL4kqtJlcpXroDTDmJ.rmSpXd3dIbrH").is_none());
    }

    #[test]
    fn upload_ids_round_trip_and_reject_junk() {
        let id = UploadId::generate();
        assert_eq!(UploadId::parse(id.as_str()), Some(id));
        assert!(UploadId::parse("../../etc/passwd").is_none());
        assert!(UploadId::parse(&"A".repeat(32)).is_none());
    }
}
