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
//!
//! Decisions, and where they depart from the design (`DESIGN.md`, "Scale-out"):
//! - Copies are made while the body streams, before the metadata commit, so the
//!   committer's publish is a no-op here and never waits on the network. A write that
//!   fails after its copies were made (a refused condition) leaves copies with no
//!   record: the orphan sweep of garbage collection deletes them from every node. They
//!   cannot be deleted on the spot: the same content may be another object's.
//! - The gateway answers once `min_copies` copies are fsynced; the others go on
//!   streaming and are awaited in the background (each bounded by the timeout), so one
//!   slow node does not set every write's latency. A copy that fails after the answer
//!   is not recorded as owed (the object's transaction may be committed by then): its
//!   node is marked as having missed a copy, and repair (below) gives it the chunk.
//!   While the body streams, each piece still waits (up to the timeout) for every copy
//!   to take it, since memory stays bounded: a node that stalls that long is dropped
//!   from the write and owed the chunk.
//! - Copies a write could not make are recorded as owed in the object's transaction
//!   (`StagedChunk::missed`, written by the model's committer), for `admin cluster`;
//!   repair does not work from them but from the node's state: a node that misses a
//!   copy (or was down, or is new: every node at the gateway's start) is `recovering`
//!   until repair has given it the set difference between its group's other nodes and
//!   itself, which also covers a new or replaced disk; then its debts are settled
//!   ([`ClusterChunks::on_repaired`]).
//! - A node keeps every chunk as a file of its own, named by its SHA-256: trunk slots
//!   are private to a node and the gateway names chunks by hash only (a node-local
//!   trunk index is left for later).

pub mod auth;
mod body;
pub mod client;
pub mod config;
pub mod error;
pub mod join;
pub mod node;
mod store;

pub use client::{NodeClient, NodeStatus};
pub use config::{ClusterConfig, GroupConfig};
pub use error::ClusterError;
pub use store::{ClusterChunks, GroupReport, NodeReport, NodeState, RepairedHook};
