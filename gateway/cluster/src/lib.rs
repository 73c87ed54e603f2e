//! fastgate's storage groups across machines (crate `fastgate-cluster`).
//!
//! A **storage node** (`fastgate storage`, [`node`]) is the chunk layer of one machine
//! ([`fastgate_chunk::LocalChunks`]) behind an internal HTTP API: put a chunk (streamed,
//! verified against its SHA-256, fsynced before the answer), read a range, has, delete,
//! list, status. A **gateway** with a `[cluster]` section reaches the nodes through
//! [`ClusterChunks`], a [`fastgate_chunk::ChunkStore`]: each new chunk streams to every
//! live node of the group placement picks, at once, and is acknowledged only when
//! `min_copies` of them have it fsynced; reads go to a node of the chunk's group and
//! move on to the next one within the same request.
//!
//! Every internal request carries an HMAC-SHA256 of the request keyed by the cluster
//! secret ([`auth`]); a node refuses anything else with 403 and changes nothing. The
//! HTTP lives here, not in `storage/`, which stays free of it.

pub mod auth;
mod body;
pub mod client;
pub mod config;
pub mod error;
pub mod node;
mod store;

pub use client::{NodeClient, NodeStatus};
pub use config::{ClusterConfig, GroupConfig};
pub use error::ClusterError;
pub use store::{ClusterChunks, GroupReport, NodeReport, NodeState};
