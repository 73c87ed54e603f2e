//! [`ClusterChunks`]: the gateway's chunk layer over groups of storage nodes.

use std::collections::HashSet;
use std::io;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use fastgate_chunk::checksum::{ChecksumAlgorithm, Checksummer};
use fastgate_chunk::config::{PlacementConfig, StoreLookup};
use fastgate_chunk::{
    ChunkError, ChunkHash, ChunkLocation, ChunkSink, ChunkStore, ChunkWriter, ObjectReader, PublishBatch, SinkFuture,
    StagedChunk, TrunkId,
};
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use http_body_util::BodyExt as _;
use serde::Serialize;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::auth;
use crate::client::{ChunkPages, NodeClient, NodeStatus, Upload};
use crate::config::ClusterConfig;
use crate::error::ClusterError;

/// A node as the gateway sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Answers, and takes writes and reads.
    Active,
    /// Answers, but may lack chunks (it was down, or is new): it takes writes, is read
    /// from only after the active nodes, and becomes active once repair has copied
    /// every chunk its group's other nodes have and it lacks.
    Recovering,
    /// Did not answer its last call.
    Down,
}

struct Health {
    state: NodeState,
    status: Option<NodeStatus>,
    last_contact: Option<SystemTime>,
    /// A repair of this node is running.
    repairing: bool,
    /// Counts the times the node missed copies (went down, or failed one): a repair
    /// that started before the last of them cannot make the node active.
    misses: u64,
    /// Chunks of its group the node lacks, as its last repair pass found them (and
    /// counted down as it copied them): its under-replicated chunks.
    lacking: Option<u64>,
    /// When the lease of a node that joined at run time runs out (`None` for a node
    /// of the config).
    lease_until: Option<SystemTime>,
}

struct Node {
    client: NodeClient,
    health: Mutex<Health>,
}

impl Node {
    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_active(&self) -> bool {
        self.health().state == NodeState::Active
    }

    /// Whether new chunks go to this node: it answers (active or being repaired).
    fn takes_writes(&self) -> bool {
        self.health().state != NodeState::Down
    }

    fn went_down(&self, e: &ClusterError) {
        let mut h = self.health();
        if h.state != NodeState::Down {
            tracing::warn!(node = self.client.url(), error = %e, "storage node down");
        }
        h.state = NodeState::Down;
        h.misses += 1;
    }

    /// A node that answers is live; one that was down comes back recovering, until
    /// repair has run.
    fn answered(&self, status: Option<NodeStatus>) {
        let mut h = self.health();
        if h.state == NodeState::Down {
            tracing::info!(node = self.client.url(), "storage node answers again: recovering");
            h.state = NodeState::Recovering;
        }
        h.last_contact = Some(SystemTime::now());
        if status.is_some() {
            h.status = status;
        }
    }

    /// The node answers but failed to take a copy (a full disk, say): it lacks a chunk
    /// of its group until repair gives it.
    fn missed(&self) {
        let mut h = self.health();
        if h.state == NodeState::Active {
            tracing::warn!(node = self.client.url(), "storage node missed a copy: recovering");
            h.state = NodeState::Recovering;
        }
        h.misses += 1;
    }

    /// Records the outcome of a call: an unreachable node is down, an answer (even an
    /// error status) shows it alive.
    fn saw<T>(&self, r: &Result<T, ClusterError>) {
        match r {
            Err(e @ ClusterError::Unreachable { .. }) => self.went_down(e),
            _ => self.answered(None),
        }
    }
}

struct Group {
    name: String,
    /// The config's nodes, then those that joined at run time, in the order they first
    /// registered ([`ClusterChunks::add_node`]); never reordered, since a node's place
    /// is how owed copies name it.
    nodes: RwLock<Vec<Arc<Node>>>,
    min_copies: usize,
    /// Where the next read starts in `nodes`, to spread reads across the group.
    next_read: AtomicUsize,
}

impl Group {
    /// The group's nodes now (a node may join at any time).
    fn nodes(&self) -> Vec<Arc<Node>> {
        self.nodes.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn new_node(url: &str, secret: &str, timeout: Duration) -> Arc<Node> {
    Arc::new(Node {
        client: NodeClient::new(url, secret, timeout),
        // Recovering until a first repair pass shows it holds what its group's other
        // nodes hold (it may be new, or have been down).
        health: Mutex::new(Health {
            state: NodeState::Recovering,
            status: None,
            last_contact: None,
            repairing: false,
            misses: 0,
            lacking: None,
            lease_until: None,
        }),
    })
}

/// One node's line in `admin cluster`.
#[derive(Clone, Debug, Serialize)]
pub struct NodeReport {
    pub url: String,
    pub state: NodeState,
    pub chunks: Option<u64>,
    pub free_bytes: Option<u64>,
    pub total_bytes: Option<u64>,
    /// Chunks of its group the node lacked at its last repair pass, less those copied
    /// since (unknown before a first pass).
    pub lacking_chunks: Option<u64>,
    /// Copies recorded as owed to the node (see `StagedChunk::missed`), settled by its
    /// next repair. Filled in by the gateway, which keeps the records.
    pub owed_chunks: Option<u64>,
    /// Seconds since the node last answered, if it ever did.
    pub last_contact_secs: Option<u64>,
    /// Whether the node joined at run time (`fastgate storage --join`) rather than
    /// being listed in the config.
    pub joined: bool,
    /// For a node that joined: seconds until its lease runs out unless renewed (0 once
    /// it has; the node then stays in its group, shown so, until it is forgotten).
    pub lease_secs_left: Option<u64>,
}

/// One group in `admin cluster`.
#[derive(Clone, Debug, Serialize)]
pub struct GroupReport {
    pub name: String,
    pub min_copies: usize,
    /// Whether the group has the live nodes to take a new chunk.
    pub writable: bool,
    pub nodes: Vec<NodeReport>,
}

/// The chunk layer of a gateway over storage nodes (see the crate's doc).
pub struct ClusterChunks {
    groups: Vec<Group>,
    placement: PlacementConfig,
    fixed: Option<usize>,
    next_group: AtomicUsize,
    secret: String,
    timeout: Duration,
    /// For the trait's blocking calls (GC, checksums), which run on blocking threads.
    rt: Handle,
    /// Told (group, node position) when a node is repaired: what it was owed, it has.
    on_repaired: OnceLock<RepairedHook>,
}

/// See [`ClusterChunks::on_repaired`].
pub type RepairedHook = Box<dyn Fn(u16, u16) + Send + Sync>;

fn unavailable(msg: String) -> io::Error {
    io::Error::other(ChunkError::Unavailable(msg))
}

impl ClusterChunks {
    /// Connects to the nodes of `config` (lazily: a node down now is only marked so) and
    /// starts the heartbeat that keeps their state. Call it inside a tokio runtime.
    pub fn start(config: &ClusterConfig, placement: PlacementConfig) -> Result<Arc<Self>, ClusterError> {
        config.validate()?;
        let timeout = Duration::from_millis(config.timeout_ms.max(1));
        let groups: Vec<Group> = config
            .groups
            .iter()
            .map(|g| Group {
                name: g.name.clone(),
                nodes: RwLock::new(g.nodes.iter().map(|u| new_node(u, &config.secret, timeout)).collect()),
                min_copies: config.min_copies_of(g),
                next_read: AtomicUsize::new(0),
            })
            .collect();
        let fixed = match placement.store_lookup {
            StoreLookup::Fixed => {
                let name = placement
                    .store_group
                    .as_deref()
                    .ok_or_else(|| ClusterError::Config("store_lookup = \"fixed\" needs store_group".into()))?;
                Some(
                    groups
                        .iter()
                        .position(|g| g.name == name)
                        .ok_or_else(|| ClusterError::Config(format!("store_group {name} is not a cluster group")))?,
                )
            }
            _ => None,
        };
        let rt = Handle::try_current().map_err(|e| ClusterError::Config(format!("no runtime: {e}")))?;
        let this = Arc::new(Self {
            groups,
            placement,
            fixed,
            next_group: AtomicUsize::new(0),
            secret: config.secret.clone(),
            timeout,
            rt,
            on_repaired: OnceLock::new(),
        });
        let heartbeat = Duration::from_millis(config.heartbeat_ms.max(10));
        this.rt.spawn(beat(Arc::downgrade(&this), heartbeat));
        Ok(this)
    }

    /// Calls `hook` with (group, node position) each time a node is repaired: it then
    /// holds every chunk its group's other nodes held when the repair began, so the
    /// copies recorded as owed to it are settled. Set once; later calls are ignored.
    pub fn on_repaired(&self, hook: RepairedHook) {
        let _ = self.on_repaired.set(hook);
    }

    /// Whether this gateway has a group of that name.
    pub fn has_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g.name == group)
    }

    /// Adds node `url` to group `group` (a node that joined at run time), unless the
    /// group has it already, and records its lease. It starts `recovering`: the next
    /// heartbeat repairs it, then it serves reads. `Ok(true)` when it was new here.
    pub fn add_node(&self, group: &str, url: &str, lease_until: SystemTime) -> Result<bool, ClusterError> {
        let g = self
            .groups
            .iter()
            .find(|g| g.name == group)
            .ok_or_else(|| ClusterError::Config(format!("no group {group} in this gateway's [cluster]")))?;
        let url = url.trim_end_matches('/');
        let mut nodes = g.nodes.write().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = nodes.iter().find(|n| n.client.url().trim_end_matches('/') == url) {
            let mut h = n.health();
            // A config node has no lease to keep.
            if h.lease_until.is_some() {
                h.lease_until = Some(lease_until);
            }
            return Ok(false);
        }
        if nodes.len() >= usize::from(u16::MAX) {
            return Err(ClusterError::Config(format!("group {group} is full")));
        }
        let node = new_node(url, &self.secret, self.timeout);
        node.health().lease_until = Some(lease_until);
        nodes.push(node);
        tracing::info!(group, node = url, "storage node joined: recovering");
        Ok(true)
    }

    /// Asks every node for its status now, and starts the repair of every recovering
    /// node that answers.
    async fn check_all(self: &Arc<Self>) {
        let snapshot: Vec<Vec<Arc<Node>>> = self.groups.iter().map(Group::nodes).collect();
        let calls = snapshot.iter().enumerate().flat_map(|(gi, nodes)| {
            nodes.iter().enumerate().map(move |(ni, n)| async move {
                match n.client.status().await {
                    Ok(s) => {
                        n.answered(Some(s));
                        let start = {
                            let mut h = n.health();
                            let start = h.state == NodeState::Recovering && !h.repairing;
                            h.repairing |= start;
                            start
                        };
                        if start {
                            self.rt.spawn(Arc::clone(self).repair(gi, ni));
                        }
                    }
                    Err(e) => n.went_down(&e),
                }
            })
        });
        futures::future::join_all(calls).await;
    }

    /// Repairs node `ni` of group `gi`: copies to it every chunk another live node of
    /// its group has and it lacks (chunks are immutable and named by their SHA-256, so
    /// this is a set difference, never a merge), each verified by its SHA-256 on
    /// arrival, then marks it active. Chunks written meanwhile reach it as to any live
    /// node. A chunk that garbage collection deleted while the node was down is on no
    /// other node, so it is not copied back; the node's own stale copy has no record
    /// and goes with the next orphan sweep.
    async fn repair(self: Arc<Self>, gi: usize, ni: usize) {
        let g = &self.groups[gi];
        let Some(target) = g.nodes().get(ni).cloned() else {
            return;
        };
        let target = &target;
        let misses = target.health().misses;
        let outcome = self.repair_pass(g, target).await;
        let mut h = target.health();
        h.repairing = false;
        match outcome {
            // Missed nothing since the pass began: it has all its group has.
            Ok(copied) if h.state == NodeState::Recovering && h.misses == misses => {
                tracing::info!(node = target.client.url(), copied, "storage node repaired: active");
                h.state = NodeState::Active;
                drop(h);
                if let Some(hook) = self.on_repaired.get() {
                    hook(
                        u16::try_from(gi).unwrap_or(u16::MAX),
                        u16::try_from(ni).unwrap_or(u16::MAX),
                    );
                }
            }
            Ok(_) => {}
            // Left recovering: the next heartbeat tries again.
            Err(e) => tracing::warn!(node = target.client.url(), error = %e, "repair failed"),
        }
    }

    async fn repair_pass(&self, g: &Group, target: &Arc<Node>) -> Result<u64, ClusterError> {
        // Every other node that answers (recovering ones too: a node new to a group
        // starts recovering like the others).
        let nodes = g.nodes();
        let sources: Vec<&Arc<Node>> = nodes
            .iter()
            .filter(|n| !Arc::ptr_eq(n, target) && n.takes_writes())
            .collect();
        // The sorted lists merge a page at a time, so a node with millions of chunks is
        // repaired in bounded memory: first to count what the node lacks (its
        // under-replicated chunks, for `admin cluster`), then to copy each.
        let lacking = || Lacking {
            target: target.client.chunks(),
            sources: Merged::strict(&sources),
        };
        let mut pass = lacking();
        let mut left = 0u64;
        while pass.next().await?.is_some() {
            left += 1;
        }
        target.health().lacking = Some(left);
        let mut copied = 0u64;
        let mut pass = lacking();
        while let Some((hash, source)) = pass.next().await? {
            // Written there meanwhile (by a PUT), or collected at the source: skip.
            if target.client.head(&hash).await?.is_none() {
                self.copy_chunk(&hash, source, target).await?;
                copied += 1;
            }
            left = left.saturating_sub(1);
            target.health().lacking = Some(left);
        }
        // It has what its group had when the pass began.
        target.health().lacking = Some(0);
        Ok(copied)
    }

    /// Streams one chunk from `source` to `target`, which verifies it against `hash`.
    async fn copy_chunk(&self, hash: &ChunkHash, source: &Node, target: &Node) -> Result<(), ClusterError> {
        let gone = |reason: &str| ClusterError::Unreachable {
            node: target.client.url().to_owned(),
            reason: reason.to_owned(),
        };
        // The source lost it meanwhile (collected): nothing to copy.
        let Some(mut body) = source.client.read(hash, 0, u64::MAX).await? else {
            return Ok(());
        };
        // Already on the runtime: the upload's task spawns where it should.
        let upload = target.client.upload(0)?;
        while let Some(frame) = tokio::time::timeout(self.timeout, body.frame())
            .await
            .map_err(|_| gone("the source stalled"))?
        {
            let frame = frame.map_err(|e| gone(&format!("the source failed: {e}")))?;
            let Ok(data) = frame.into_data() else { continue };
            tokio::time::timeout(self.timeout, upload.tx.send(data))
                .await
                .map_err(|_| gone("stalled"))?
                .map_err(|_| gone("stopped taking the chunk"))?;
        }
        let trailer = Bytes::copy_from_slice(&auth::trailer(&self.secret, &upload.auth, &hash.0));
        tokio::time::timeout(self.timeout, upload.tx.send(trailer))
            .await
            .map_err(|_| gone("stalled"))?
            .map_err(|_| gone("stopped taking the chunk"))?;
        drop(upload.tx);
        match tokio::time::timeout(self.timeout, upload.answer).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(gone(&e.to_string())),
            Err(_) => Err(gone("no answer in time")),
        }
    }

    /// Each group and node, as `admin cluster` shows them.
    pub fn report(&self) -> Vec<GroupReport> {
        let now = SystemTime::now();
        self.groups
            .iter()
            .map(|g| (g, g.nodes()))
            .map(|(g, nodes)| GroupReport {
                name: g.name.clone(),
                min_copies: g.min_copies,
                writable: nodes.iter().filter(|n| n.takes_writes()).count() >= g.min_copies,
                nodes: nodes
                    .iter()
                    .map(|n| {
                        let h = n.health();
                        NodeReport {
                            url: n.client.url().to_owned(),
                            state: h.state,
                            chunks: h.status.map(|s| s.chunks),
                            free_bytes: h.status.map(|s| s.free_bytes),
                            total_bytes: h.status.map(|s| s.total_bytes),
                            lacking_chunks: h.lacking,
                            owed_chunks: None,
                            last_contact_secs: h
                                .last_contact
                                .map(|t| now.duration_since(t).unwrap_or_default().as_secs()),
                            joined: h.lease_until.is_some(),
                            lease_secs_left: h
                                .lease_until
                                .map(|t| t.duration_since(now).unwrap_or_default().as_secs()),
                        }
                    })
                    .collect(),
            })
            .collect()
    }

    /// The group index a location names, checked.
    fn group(&self, loc: ChunkLocation) -> fastgate_chunk::Result<&Group> {
        self.groups
            .get(usize::from(loc.group))
            .ok_or_else(|| ChunkError::Config(format!("no cluster group for location {loc:?}: was it removed?")))
    }

    /// The nodes of `g` in the order to read from: active ones first, starting at a
    /// rotating place to spread the load, then the others (a recovering node may lack
    /// the chunk, a down one may be back).
    fn read_order(g: &Group) -> Vec<Arc<Node>> {
        let nodes = g.nodes();
        let n = nodes.len();
        let start = g.next_read.fetch_add(1, Ordering::Relaxed);
        let rotated: Vec<Arc<Node>> = (0..n).map(|k| Arc::clone(&nodes[(start + k) % n])).collect();
        let (mut active, down): (Vec<_>, Vec<_>) = rotated.into_iter().partition(|n| n.is_active());
        active.extend(down);
        active
    }

    /// Groups in the order placement tries them for a new chunk of `need` bytes.
    fn placement_order(&self, need: u64) -> Vec<usize> {
        let n = self.groups.len();
        match (self.fixed, self.placement.store_lookup) {
            (Some(g), _) => vec![g],
            (None, StoreLookup::MostFree) => {
                let mut v: Vec<(u64, usize)> = (0..n)
                    .map(|i| {
                        // A group has the room of its fullest live node: every node takes a copy.
                        let room = self.groups[i]
                            .nodes()
                            .iter()
                            .filter(|x| x.takes_writes())
                            .filter_map(|x| x.health().status.map(|s| s.free_bytes))
                            .min()
                            .unwrap_or(0);
                        (room, i)
                    })
                    .collect();
                v.sort_by(|a, b| b.cmp(a));
                v.into_iter()
                    .filter(|(room, _)| *room >= need)
                    .map(|(_, i)| i)
                    .collect()
            }
            _ => {
                let start = self.next_group.fetch_add(1, Ordering::Relaxed);
                (0..n).map(|k| (start + k) % n).collect()
            }
        }
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

async fn beat(this: Weak<ClusterChunks>, every: Duration) {
    loop {
        match this.upgrade() {
            Some(c) => c.check_all().await,
            None => return,
        }
        tokio::time::sleep(every).await;
    }
}

/// One copy of a chunk being written.
struct Copy {
    node: Arc<Node>,
    /// The node's position in its group.
    position: u16,
    upload: Option<Upload>,
}

/// Streams a chunk to every live node of a group at once (see [`ChunkSink`]).
struct FanOut {
    group: String,
    /// Nodes in the group, live or not: every one without a copy is owed it.
    nodes: u16,
    copies: Vec<Copy>,
    need: usize,
    secret: String,
    timeout: Duration,
    /// Where the copies still under way after the acknowledgement are awaited.
    rt: Handle,
}

impl FanOut {
    fn live(&self) -> usize {
        self.copies.iter().filter(|c| c.upload.is_some()).count()
    }

    fn short(&self) -> io::Error {
        unavailable(format!(
            "group {}: {} of {} copies left, {} needed",
            self.group,
            self.live(),
            self.copies.len(),
            self.need
        ))
    }
}

impl Drop for FanOut {
    /// Abandoned (the client went away, or the body failed a check): every request is
    /// cut, so no node stores the chunk.
    fn drop(&mut self) {
        for c in &mut self.copies {
            if let Some(u) = c.upload.take() {
                u.answer.abort();
            }
        }
    }
}

impl ChunkSink for FanOut {
    fn send(&mut self, data: Bytes) -> SinkFuture<'_, ()> {
        Box::pin(async move {
            for c in &mut self.copies {
                let Some(u) = &c.upload else { continue };
                let sent = tokio::time::timeout(self.timeout, u.tx.send(data.clone())).await;
                if !matches!(sent, Ok(Ok(()))) {
                    // The request ended early (the node failed or refused) or stalled.
                    if let Some(u) = c.upload.take() {
                        u.answer.abort();
                        let e = ClusterError::Unreachable {
                            node: c.node.client.url().to_owned(),
                            reason: "stopped taking the chunk".into(),
                        };
                        c.node.went_down(&e);
                    }
                }
            }
            if self.live() < self.need {
                return Err(self.short());
            }
            Ok(())
        })
    }

    fn finish(mut self: Box<Self>, sha256: [u8; 32]) -> SinkFuture<'static, Vec<u16>> {
        Box::pin(async move {
            let mut answers = Vec::new();
            for c in &mut self.copies {
                let Some(u) = c.upload.take() else { continue };
                let trailer = Bytes::copy_from_slice(&auth::trailer(&self.secret, &u.auth, &sha256));
                let sent = tokio::time::timeout(self.timeout, u.tx.send(trailer)).await;
                // Dropping the sender ends the body.
                drop(u.tx);
                if matches!(sent, Ok(Ok(()))) {
                    answers.push((Arc::clone(&c.node), c.position, u.answer));
                } else {
                    u.answer.abort();
                }
            }
            // Every copy's answer, at once: each node fsyncs before it answers. The write
            // is acknowledged as soon as `need` of them did, so that one slow node does
            // not set every write's latency.
            let timeout = self.timeout;
            let mut under_way: HashSet<u16> = answers.iter().map(|(_, position, _)| *position).collect();
            let mut pending: FuturesUnordered<_> = answers
                .into_iter()
                .map(|(node, position, answer)| copy_answer(node, position, answer, timeout))
                .collect();
            let mut made = HashSet::new();
            while made.len() < self.need {
                let Some((position, ok)) = pending.next().await else {
                    break;
                };
                under_way.remove(&position);
                if ok {
                    made.insert(position);
                }
            }
            if made.len() < self.need {
                return Err(unavailable(format!(
                    "group {}: {} copies made, {} needed",
                    self.group,
                    made.len(),
                    self.need
                )));
            }
            // The other copies finish on their own, each bounded by the timeout. One
            // that fails then is not recorded as owed (the object's transaction may be
            // committed by then): its node is marked as having missed a copy, so it is
            // `recovering` until repair has given it its group's set difference, which
            // includes this chunk.
            if !pending.is_empty() {
                self.rt.spawn(async move { while pending.next().await.is_some() {} });
            }
            // Owed: the nodes with no copy made and none under way.
            Ok((0..self.nodes)
                .filter(|p| !made.contains(p) && !under_way.contains(p))
                .collect())
        })
    }
}

/// Waits (bounded) for one copy's answer, and records it in its node's health: a copy
/// that failed makes its node lack a chunk of its group until repair. `(position, made)`.
async fn copy_answer(
    node: Arc<Node>,
    position: u16,
    answer: tokio::task::JoinHandle<Result<(), ClusterError>>,
    timeout: Duration,
) -> (u16, bool) {
    let abort = answer.abort_handle();
    let r = match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(ClusterError::Unreachable {
            node: node.client.url().to_owned(),
            reason: e.to_string(),
        }),
        Err(_) => {
            abort.abort();
            Err(ClusterError::Unreachable {
                node: node.client.url().to_owned(),
                reason: "no answer in time".into(),
            })
        }
    };
    node.saw(&r);
    if let Err(e) = &r {
        tracing::warn!(error = %e, "a copy of a chunk failed");
        node.missed();
    }
    (position, r.is_ok())
}

impl ChunkStore for ClusterChunks {
    fn writer(&self, size_hint: u64, extras: &[ChecksumAlgorithm]) -> fastgate_chunk::Result<ChunkWriter> {
        for gi in self.placement_order(size_hint) {
            let g = &self.groups[gi];
            let nodes = g.nodes();
            let live: Vec<(usize, &Arc<Node>)> = nodes.iter().enumerate().filter(|(_, n)| n.takes_writes()).collect();
            if live.len() < g.min_copies {
                continue;
            }
            let mut copies = Vec::with_capacity(live.len());
            // Spawning the uploads needs the runtime's context, which a caller on a
            // plain thread lacks.
            let _rt = self.rt.enter();
            for (position, node) in live {
                match node.client.upload(size_hint) {
                    Ok(u) => copies.push(Copy {
                        node: Arc::clone(node),
                        position: u16::try_from(position).unwrap_or(u16::MAX),
                        upload: Some(u),
                    }),
                    Err(e) => tracing::warn!(error = %e, "cannot start a copy"),
                }
            }
            if copies.len() < g.min_copies {
                continue;
            }
            let location = ChunkLocation {
                group: u16::try_from(gi).map_err(|_| ChunkError::Config("too many groups".into()))?,
                store_path: 0,
                slot: None,
            };
            let sink = FanOut {
                group: g.name.clone(),
                nodes: u16::try_from(nodes.len()).unwrap_or(u16::MAX),
                copies,
                need: g.min_copies,
                secret: self.secret.clone(),
                timeout: self.timeout,
                rt: self.rt.clone(),
            };
            return Ok(ChunkWriter::remote(location, extras, Box::new(sink)));
        }
        Err(ChunkError::Unavailable(
            "no group has enough live storage nodes for a new chunk".into(),
        ))
    }

    /// A cluster chunk is in place on its nodes once its writer finished: nothing to do.
    /// A copy of content stored elsewhere meanwhile stays until the orphan sweep.
    fn publish(
        &self,
        _chunk: &mut StagedChunk,
        _stored: bool,
        _batch: &mut PublishBatch,
    ) -> fastgate_chunk::Result<()> {
        Ok(())
    }

    fn sync(&self, _batch: &PublishBatch) -> fastgate_chunk::Result<()> {
        Ok(())
    }

    fn read(
        &self,
        parts: &[(ChunkHash, ChunkLocation, u64)],
        start: u64,
        end: u64,
    ) -> fastgate_chunk::Result<ObjectReader> {
        // Each chunk's byte range, with the nodes to try for it.
        let mut spans = Vec::new();
        let mut pos = 0u64;
        for (hash, loc, size) in parts {
            let (cs, ce) = (pos, pos + size);
            pos = ce;
            if ce <= start || cs >= end {
                continue;
            }
            let g = self.group(*loc)?;
            spans.push((*hash, start.max(cs) - cs, end.min(ce) - cs, Self::read_order(g)));
        }
        let (tx, rx) = mpsc::channel(2);
        let timeout = self.timeout;
        self.rt.spawn(async move {
            for (hash, from, to, nodes) in spans {
                match read_span(&hash, from, to, &nodes, timeout, &tx).await {
                    Ok(true) => {}
                    // The reader went away.
                    Ok(false) => return,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
        });
        Ok(ObjectReader::from_channel(rx))
    }

    fn checksum(
        &self,
        hash: &ChunkHash,
        location: ChunkLocation,
        size: u64,
        alg: ChecksumAlgorithm,
    ) -> fastgate_chunk::Result<Vec<u8>> {
        let mut reader = self.read(&[(*hash, location, size)], 0, size)?;
        self.block_on(async move {
            let mut h = Checksummer::new(alg);
            while let Some(b) = reader.next().await {
                h.update(&b?);
            }
            Ok(h.finish())
        })
    }

    fn has(&self, hash: &ChunkHash, location: ChunkLocation, size: u64) -> fastgate_chunk::Result<bool> {
        let nodes = self.group(location)?.nodes();
        Ok(self.block_on(async {
            for n in &nodes {
                let r = n.client.head(hash).await;
                n.saw(&r);
                if let Ok(Some((len, _))) = r
                    && len >= size
                {
                    return true;
                }
            }
            false
        }))
    }

    /// Deletes a chunk on every node of its group. A node that cannot be reached keeps
    /// its copy until the orphan sweep finds it there (that copy has no record).
    fn delete(&self, hash: &ChunkHash, location: ChunkLocation) -> fastgate_chunk::Result<bool> {
        let nodes = self.group(location)?.nodes();
        Ok(self.block_on(async {
            let calls = nodes.iter().map(|n| async move {
                let r = n.client.delete(hash).await;
                n.saw(&r);
                match r {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(error = %e, chunk = %hash, "a copy was not deleted");
                        false
                    }
                }
            });
            futures::future::join_all(calls).await.into_iter().any(|d| d)
        }))
    }

    /// Every chunk of every group, each once (the union of its nodes' lists).
    fn list(&self, visit: &mut dyn FnMut(ChunkHash, ChunkLocation) -> ControlFlow<()>) -> fastgate_chunk::Result<()> {
        for (gi, g) in self.groups.iter().enumerate() {
            let location = ChunkLocation {
                group: u16::try_from(gi).map_err(|_| ChunkError::Config("too many groups".into()))?,
                store_path: 0,
                slot: None,
            };
            // The union of the nodes' sorted lists, a page of each at a time; a node
            // that fails is left out, as the orphan sweep can wait for its next run.
            let nodes = g.nodes();
            let mut all = Merged::tolerant(&nodes);
            while let Some((hash, _)) = self
                .block_on(all.next())
                .map_err(|e| ChunkError::Unavailable(e.to_string()))?
            {
                if visit(hash, location).is_break() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The youngest copy's age: a chunk just written on one node may still be on its
    /// way to its record.
    fn age(&self, hash: &ChunkHash, location: ChunkLocation) -> Option<Duration> {
        let nodes = self.group(location).ok()?.nodes();
        self.block_on(async {
            let mut youngest: Option<Duration> = None;
            for n in &nodes {
                let r = n.client.head(hash).await;
                n.saw(&r);
                if let Ok(Some((_, age))) = r {
                    youngest = Some(youngest.map_or(age, |y| y.min(age)));
                }
            }
            youngest
        })
    }

    /// Each node sweeps its own temp files.
    fn sweep_temps(&self, _older_than: Duration) -> fastgate_chunk::Result<u64> {
        Ok(0)
    }

    /// Nodes keep every chunk as a file of its own: no trunks.
    fn seal_trunks(&self, _live: &HashSet<TrunkId>) -> fastgate_chunk::Result<()> {
        Ok(())
    }

    fn idle_trunks(&self) -> fastgate_chunk::Result<Vec<TrunkId>> {
        Ok(Vec::new())
    }

    fn delete_trunk(&self, _id: TrunkId) -> fastgate_chunk::Result<bool> {
        Ok(false)
    }

    fn file_id(&self, hash: &ChunkHash, location: ChunkLocation) -> fastgate_chunk::Result<String> {
        let g = self.group(location)?;
        let hex = hash.to_hex();
        Ok(format!("{}/M00/{}/{}/{}", g.name, &hex[0..2], &hex[2..4], hex))
    }
}

/// Several nodes' chunk lists merged in ascending order, each hash once, with a node
/// that has it; at most a page of each list is held.
struct Merged<'a> {
    lists: Vec<(ChunkPages<'a>, &'a Arc<Node>)>,
    /// Whether a node whose list fails is left out (else the merge fails).
    tolerant: bool,
}

impl<'a> Merged<'a> {
    fn strict(nodes: &[&'a Arc<Node>]) -> Self {
        Self {
            lists: nodes.iter().map(|n| (n.client.chunks(), *n)).collect(),
            tolerant: false,
        }
    }

    fn tolerant(nodes: &'a [Arc<Node>]) -> Self {
        Self {
            lists: nodes.iter().map(|n| (n.client.chunks(), n)).collect(),
            tolerant: true,
        }
    }

    /// The next list's head, by position; a failed list is left out when tolerant.
    async fn peek(&mut self, i: usize) -> Result<Option<ChunkHash>, ClusterError> {
        let (list, node) = &mut self.lists[i];
        let r = list.peek().await;
        // Only a failure is news: most peeks fetch nothing, and answers reach the
        // heartbeat anyway.
        if r.is_err() {
            node.saw(&r);
        }
        match r {
            Err(e) if self.tolerant => {
                tracing::warn!(error = %e, "a node's chunk list is left out");
                let node: &'a Arc<Node> = self.lists[i].1;
                self.lists[i].0 = ChunkPages::empty(&node.client);
                Ok(None)
            }
            r => r,
        }
    }

    async fn next(&mut self) -> Result<Option<(ChunkHash, &'a Arc<Node>)>, ClusterError> {
        let mut min: Option<(ChunkHash, &'a Arc<Node>)> = None;
        for i in 0..self.lists.len() {
            if let Some(h) = self.peek(i).await?
                && min.is_none_or(|(m, _)| h < m)
            {
                min = Some((h, self.lists[i].1));
            }
        }
        if let Some((hash, _)) = min {
            for i in 0..self.lists.len() {
                if self.peek(i).await? == Some(hash) {
                    self.lists[i].0.next().await?;
                }
            }
        }
        Ok(min)
    }
}

/// The chunks some source has and the target lacks, in ascending order (repair's set
/// difference), each with a source that has it.
struct Lacking<'a> {
    target: ChunkPages<'a>,
    sources: Merged<'a>,
}

impl<'a> Lacking<'a> {
    async fn next(&mut self) -> Result<Option<(ChunkHash, &'a Arc<Node>)>, ClusterError> {
        while let Some((hash, source)) = self.sources.next().await? {
            let has = loop {
                match self.target.peek().await? {
                    Some(t) if t < hash => {
                        self.target.next().await?;
                    }
                    Some(t) => break t == hash,
                    None => break false,
                }
            };
            if !has {
                return Ok(Some((hash, source)));
            }
        }
        Ok(None)
    }
}

/// Streams `[from, to)` of one chunk into `tx`, from the first node that serves it, and
/// from the next one, where the last stopped, when a node fails, stalls or lacks it.
/// `Ok(false)` when the reader went away.
async fn read_span(
    hash: &ChunkHash,
    from: u64,
    to: u64,
    nodes: &[Arc<Node>],
    timeout: Duration,
    tx: &mpsc::Sender<io::Result<Bytes>>,
) -> io::Result<bool> {
    let mut pos = from;
    for node in nodes {
        if pos >= to {
            break;
        }
        let r = node.client.read(hash, pos, to).await;
        node.saw(&r);
        let mut body = match r {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, chunk = %hash, "read failed over to the next node");
                continue;
            }
        };
        while pos < to {
            match tokio::time::timeout(timeout, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else { continue };
                    let len = data.len() as u64;
                    // Never past the range asked for, whatever the node sends.
                    let data = if pos + len > to {
                        data.slice(..usize::try_from(to - pos).unwrap_or(0))
                    } else {
                        data
                    };
                    pos += data.len() as u64;
                    if tx.send(Ok(data)).await.is_err() {
                        return Ok(false);
                    }
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    node.went_down(&ClusterError::Unreachable {
                        node: node.client.url().to_owned(),
                        reason: e.to_string(),
                    });
                    break;
                }
                Err(_) => {
                    node.went_down(&ClusterError::Unreachable {
                        node: node.client.url().to_owned(),
                        reason: "read stalled".into(),
                    });
                    break;
                }
            }
        }
    }
    if pos < to {
        return Err(unavailable(format!("no storage node could serve chunk {hash}")));
    }
    Ok(true)
}
