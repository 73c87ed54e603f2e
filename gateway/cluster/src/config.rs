//! `[cluster]` of the gateway's TOML file: the groups of storage nodes it writes to.

use serde::Deserialize;

use crate::error::ClusterError;

/// Copies a chunk must have, fsynced, before a write is acknowledged, unless set.
pub const DEFAULT_MIN_COPIES: usize = 2;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// The group's name: the first element of its chunks' file ids.
    pub name: String,
    /// Its storage nodes, `http://HOST:PORT`: each holds a copy of every chunk of the group.
    pub nodes: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The secret shared with every storage node (their `--cluster-secret`).
    pub secret: String,
    /// Copies fsynced before a write is acknowledged: 2 by default, or the group's
    /// size if smaller; 1 only when set.
    #[serde(default)]
    pub min_copies: Option<usize>,
    /// Milliseconds a node has to answer a call (or to take the next piece of a
    /// chunk) before the gateway moves on without it.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Milliseconds between status calls to every node (liveness, free space).
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    pub groups: Vec<GroupConfig>,
}

fn default_timeout_ms() -> u64 {
    5000
}

fn default_heartbeat_ms() -> u64 {
    1000
}

impl ClusterConfig {
    /// The copies a write to `group` waits for.
    pub fn min_copies_of(&self, group: &GroupConfig) -> usize {
        match self.min_copies {
            Some(n) => n,
            None => DEFAULT_MIN_COPIES.min(group.nodes.len()),
        }
    }

    /// Refuses a configuration under which the cluster could not work: a short
    /// secret, no groups, a group with no nodes or fewer than `min_copies`, a node
    /// URL that is not `http://`.
    pub fn validate(&self) -> Result<(), ClusterError> {
        if self.secret.len() < 16 {
            return Err(ClusterError::Config(
                "the cluster secret needs at least 16 characters".into(),
            ));
        }
        if self.groups.is_empty() {
            return Err(ClusterError::Config(
                "[cluster] needs at least one [[cluster.groups]]".into(),
            ));
        }
        if self.min_copies == Some(0) {
            return Err(ClusterError::Config("min_copies must be at least 1".into()));
        }
        for (i, g) in self.groups.iter().enumerate() {
            if g.nodes.is_empty() {
                return Err(ClusterError::Config(format!("group {} has no nodes", g.name)));
            }
            if self.groups[..i].iter().any(|x| x.name == g.name) {
                return Err(ClusterError::Config(format!("group {} is declared twice", g.name)));
            }
            if self.min_copies_of(g) > g.nodes.len() {
                return Err(ClusterError::Config(format!(
                    "group {} has {} nodes, fewer than min_copies = {}: it could never take a write",
                    g.name,
                    g.nodes.len(),
                    self.min_copies_of(g)
                )));
            }
            for n in &g.nodes {
                if !n.starts_with("http://") {
                    return Err(ClusterError::Config(format!("node {n}: expected http://HOST:PORT")));
                }
            }
        }
        Ok(())
    }
}
