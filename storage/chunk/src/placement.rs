//! The tracker: picks the group and store path for each new chunk, as FastDFS's
//! `store_lookup` and `store_path` settings do, and keeps every store path's reserve
//! free.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::{GroupConfig, PlacementConfig, StoreLookup, StorePathPolicy};
use crate::error::{ChunkError, Result};
use crate::ids::ChunkLocation;
use crate::store_path::StorePath;

pub struct Group {
    pub name: String,
    pub paths: Vec<StorePath>,
    next_path: AtomicUsize,
}

pub struct Tracker {
    groups: Vec<Group>,
    policy: PlacementConfig,
    next_group: AtomicUsize,
    fixed: Option<usize>,
}

impl Tracker {
    pub fn open(configs: &[GroupConfig], policy: PlacementConfig) -> Result<Self> {
        if configs.is_empty() {
            return Err(ChunkError::Config("at least one group is needed".into()));
        }
        let mut groups = Vec::with_capacity(configs.len());
        for (gi, g) in configs.iter().enumerate() {
            if g.store_paths.is_empty() {
                return Err(ChunkError::Config(format!("group {} has no store paths", g.name)));
            }
            if groups.iter().any(|x: &Group| x.name == g.name) {
                return Err(ChunkError::Config(format!("group {} is declared twice", g.name)));
            }
            let mut paths = Vec::with_capacity(g.store_paths.len());
            for (pi, p) in g.store_paths.iter().enumerate() {
                let location = ChunkLocation {
                    group: u16::try_from(gi).map_err(|_| ChunkError::Config("too many groups".into()))?,
                    store_path: u16::try_from(pi).map_err(|_| ChunkError::Config("too many store paths".into()))?,
                    slot: None,
                };
                paths.push(StorePath::open(location, p.clone())?);
            }
            groups.push(Group {
                name: g.name.clone(),
                paths,
                next_path: AtomicUsize::new(0),
            });
        }
        let fixed = match policy.store_lookup {
            StoreLookup::Fixed => {
                let name = policy
                    .store_group
                    .as_deref()
                    .ok_or_else(|| ChunkError::Config("store_lookup = \"fixed\" needs store_group".into()))?;
                Some(
                    groups
                        .iter()
                        .position(|g| g.name == name)
                        .ok_or_else(|| ChunkError::Config(format!("store_group {name} is not a declared group")))?,
                )
            }
            _ => None,
        };
        Ok(Self {
            groups,
            policy,
            next_group: AtomicUsize::new(0),
            fixed,
        })
    }

    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The store path a chunk at `loc` lives in. Locations come from our own records,
    /// so an unknown one means the configuration lost a store path.
    pub fn path(&self, loc: ChunkLocation) -> Result<&StorePath> {
        self.groups
            .get(usize::from(loc.group))
            .and_then(|g| g.paths.get(usize::from(loc.store_path)))
            .ok_or_else(|| ChunkError::Config(format!("no store path for location {loc:?}: was it removed?")))
    }

    /// Room left in a store path above its reserve, or `None` when it cannot be read.
    fn room(&self, p: &StorePath) -> Option<u64> {
        let (free, total) = p.space().ok()?;
        Some(free.saturating_sub(self.policy.reserved_space.bytes_of(total)))
    }

    /// Picks where a new chunk of (about) `need` bytes goes.
    pub fn pick(&self, need: u64) -> Result<&StorePath> {
        let n = self.groups.len();
        let order: Vec<usize> = match (self.fixed, self.policy.store_lookup) {
            (Some(g), _) => vec![g],
            (None, StoreLookup::MostFree) => {
                let mut v: Vec<(u64, usize)> = (0..n)
                    .map(|i| {
                        (
                            self.groups[i]
                                .paths
                                .iter()
                                .filter_map(|p| self.room(p))
                                .max()
                                .unwrap_or(0),
                            i,
                        )
                    })
                    .collect();
                v.sort_by(|a, b| b.cmp(a));
                v.into_iter().map(|(_, i)| i).collect()
            }
            _ => {
                let start = self.next_group.fetch_add(1, Ordering::Relaxed);
                (0..n).map(|k| (start + k) % n).collect()
            }
        };
        for gi in order {
            if let Some(p) = self.pick_in_group(&self.groups[gi], need) {
                return Ok(p);
            }
        }
        Err(ChunkError::NoSpace)
    }

    fn pick_in_group<'a>(&self, g: &'a Group, need: u64) -> Option<&'a StorePath> {
        let n = g.paths.len();
        match self.policy.store_path {
            StorePathPolicy::MostFree => g
                .paths
                .iter()
                .filter_map(|p| self.room(p).map(|r| (r, p)))
                .filter(|(r, _)| *r >= need.max(1))
                .max_by_key(|(r, _)| *r)
                .map(|(_, p)| p),
            StorePathPolicy::RoundRobin => {
                let start = g.next_path.fetch_add(1, Ordering::Relaxed);
                (0..n)
                    .map(|k| &g.paths[(start + k) % n])
                    .find(|p| self.room(p).is_some_and(|r| r >= need.max(1)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ReservedSpace;

    fn groups(dir: &std::path::Path, n: usize, m: usize) -> Vec<GroupConfig> {
        (0..n)
            .map(|g| GroupConfig {
                name: format!("group{}", g + 1),
                store_paths: (0..m).map(|p| dir.join(format!("g{g}p{p}"))).collect(),
            })
            .collect()
    }

    #[test]
    fn round_robin_visits_every_group_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tracker::open(&groups(dir.path(), 2, 2), PlacementConfig::default()).unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..8 {
            let p = t.pick(1).unwrap();
            seen.insert((p.location.group, p.location.store_path));
        }
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn fixed_group_is_honoured() {
        let dir = tempfile::tempdir().unwrap();
        let policy = PlacementConfig {
            store_lookup: StoreLookup::Fixed,
            store_group: Some("group2".into()),
            ..PlacementConfig::default()
        };
        let t = Tracker::open(&groups(dir.path(), 2, 1), policy).unwrap();
        for _ in 0..4 {
            assert_eq!(t.pick(1).unwrap().location.group, 1);
        }
    }

    #[test]
    fn a_full_reserve_refuses_new_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let policy = PlacementConfig {
            reserved_space: ReservedSpace::Percent(100.0),
            ..PlacementConfig::default()
        };
        let t = Tracker::open(&groups(dir.path(), 1, 2), policy).unwrap();
        assert!(matches!(t.pick(1), Err(ChunkError::NoSpace)));
    }
}
