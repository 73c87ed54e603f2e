//! What the chunk layer is told at start: its groups and store paths, the placement
//! policy, and how chunks are written. Deserializable so that the gateway's TOML
//! file can carry it as is.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// The group's name, the first element of a file id (`group1/M00/...`).
    pub name: String,
    /// Directories, one per disk: `M00`, `M01`, ... in this order.
    pub store_paths: Vec<PathBuf>,
}

/// How the tracker picks a group for a new chunk (FastDFS `store_lookup`).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StoreLookup {
    #[default]
    RoundRobin,
    MostFree,
    /// Always the group named by `store_group`.
    Fixed,
}

/// How a group picks one of its store paths (FastDFS `store_path`).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StorePathPolicy {
    #[default]
    RoundRobin,
    MostFree,
}

/// Free space a store path keeps in reserve: it takes no new chunks below it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReservedSpace {
    Bytes(u64),
    Percent(f64),
}

impl Default for ReservedSpace {
    fn default() -> Self {
        ReservedSpace::Percent(1.0)
    }
}

impl ReservedSpace {
    /// Parses `"10%"`, `"512MiB"`, `"2GB"`, `"1048576"`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let p: f64 = p.trim().parse().ok()?;
            return (0.0..=100.0).contains(&p).then_some(Self::Percent(p));
        }
        parse_bytes(s).map(Self::Bytes)
    }

    pub fn bytes_of(self, total: u64) -> u64 {
        match self {
            Self::Bytes(b) => b,
            // Truncation is fine: a reserve is approximate by nature.
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            Self::Percent(p) => (total as f64 * p / 100.0) as u64,
        }
    }
}

impl<'de> Deserialize<'de> for ReservedSpace {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Self::Bytes(n)),
            Raw::S(s) => Self::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("bad reserved space {s:?}"))),
        }
    }
}

/// Parses a byte size with an optional unit: `4096`, `4KiB`, `64MiB`, `1GiB`, `2GB`.
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlacementConfig {
    pub store_lookup: StoreLookup,
    /// The group for `store_lookup = "fixed"`.
    pub store_group: Option<String>,
    pub store_path: StorePathPolicy,
    pub reserved_space: ReservedSpace,
}

/// The default [`ChunkConfig::write_buffer_budget`].
pub const DEFAULT_WRITE_BUFFER_BUDGET: usize = 16 << 20;

/// Everything the chunk layer of one node needs: where its store paths are, how new
/// chunks are placed among them, and how they are written.
#[derive(Clone, Debug)]
pub struct ChunkConfig {
    pub groups: Vec<GroupConfig>,
    pub placement: PlacementConfig,
    /// Write large chunks around the page cache (`O_DIRECT`, see `direct_io`): less CPU
    /// per uploaded byte, and uploads do not push read-cached data out of memory.
    pub direct_writes: bool,
    /// Bytes of body that large uploads may hold in full write buffers, all together
    /// (see `buffer_budget`; each upload also fills one 256 KiB buffer of its own): the
    /// part of the server's memory that would otherwise grow with concurrent uploads.
    /// The default, 16 MiB, is more than four uploads at full speed use (3 MiB each).
    pub write_buffer_budget: usize,
}

impl ChunkConfig {
    /// One group with one store path, `M00` under `data_dir`.
    pub fn single(data_dir: &std::path::Path) -> Self {
        Self {
            groups: vec![GroupConfig {
                name: "group1".into(),
                store_paths: vec![data_dir.join("M00")],
            }],
            placement: PlacementConfig::default(),
            direct_writes: true,
            write_buffer_budget: DEFAULT_WRITE_BUFFER_BUDGET,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("4KiB"), Some(4096));
        assert_eq!(parse_bytes("64MiB"), Some(64 << 20));
        assert_eq!(parse_bytes("12"), Some(12));
        assert_eq!(parse_bytes("1x"), None);
        assert_eq!(ReservedSpace::parse("10%"), Some(ReservedSpace::Percent(10.0)));
        assert_eq!(ReservedSpace::parse("1GiB"), Some(ReservedSpace::Bytes(1 << 30)));
    }
}
