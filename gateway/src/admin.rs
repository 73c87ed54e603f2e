//! The admin surface under `/_fastgate/` (a path no bucket can have: bucket names
//! cannot contain `_`): metrics, garbage collection, upload expiry, the cluster's
//! storage nodes and the stored users (`user_admin`), for the root user only, and the dedup savings (`GET /_fastgate/dedup`)
//! for every user, each seeing what [`dedup_json`] allows. Requests are authenticated by
//! s3s like any other. Metrics for anyone
//! who can reach it are on the separate metrics listener (see [`serve_metrics`]),
//! loopback by default, as Prometheus exporters do.

use std::sync::Arc;

use fastgate_cluster::{ClusterChunks, GroupReport, NodeReport, NodeState, join};
use fastgate_model::Store;
use http::{Extensions, HeaderMap, Method, StatusCode, Uri};
use s3s::route::S3Route;
use s3s::{Body, S3Request, S3Response, S3Result};

use crate::metrics::Metrics;
use crate::s3::ApiError;

pub const PREFIX: &str = "/_fastgate/";

pub struct AdminRoute {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub root_access_key: String,
    /// The storage nodes, when this gateway has a `[cluster]`.
    pub cluster: Option<Arc<ClusterChunks>>,
    /// Users and access keys of the metadata store.
    pub users: Arc<crate::user_admin::UserAdmin>,
    /// The cluster secret, which signs a storage node's registration (`--join`).
    pub cluster_secret: Option<String>,
}

/// Renders the counters and the store gauges, and each storage node's state when the
/// gateway has a `[cluster]`. All are kept as writes happen (the nodes' by the
/// heartbeat), so a scrape costs the same whatever the store holds.
pub fn metrics_text(store: &Store, metrics: &Metrics, cluster: Option<&ClusterChunks>) -> String {
    let stats = store.gauges();
    let mut text = metrics.render(&[
        ("fastgate_chunks", "Chunks stored", stats.chunks),
        ("fastgate_chunk_bytes", "Bytes of stored chunks", stats.chunk_bytes),
        (
            "fastgate_unreferenced_chunks",
            "Chunks waiting for garbage collection",
            stats.unreferenced_chunks,
        ),
        (
            "fastgate_unreferenced_bytes",
            "Bytes waiting for garbage collection",
            stats.unreferenced_bytes,
        ),
        (
            "fastgate_meta_transaction_retries",
            "Metadata transactions run again since start because another gateway's conflicted with them",
            store.meta_conflicts(),
        ),
    ]);
    if let Some(c) = cluster {
        text.push_str(&cluster_metrics(&c.report()));
    }
    text
}

/// Each group and node, with the copies owed to each node from the store's records.
pub async fn cluster_report(store: &Arc<Store>, cluster: Option<&ClusterChunks>) -> S3Result<Vec<GroupReport>> {
    let Some(cluster) = cluster else {
        return Ok(Vec::new());
    };
    let owed = store.owed().await.map_err(crate::s3::to_s3)?;
    let mut groups = cluster.report();
    for (gi, g) in groups.iter_mut().enumerate() {
        for (ni, n) in g.nodes.iter_mut().enumerate() {
            let at = (
                u16::try_from(gi).unwrap_or(u16::MAX),
                u16::try_from(ni).unwrap_or(u16::MAX),
            );
            n.owed_chunks = Some(owed.get(&at).copied().unwrap_or(0));
        }
    }
    Ok(groups)
}

/// One gauge per storage node and figure, labelled with its group and URL.
fn cluster_metrics(groups: &[GroupReport]) -> String {
    type Figure = fn(&NodeReport) -> Option<u64>;
    let figures: [(&str, &str, Figure); 5] = [
        (
            "fastgate_cluster_node_state",
            "Storage node state: 2 active, 1 recovering (being repaired), 0 down",
            |n| {
                Some(match n.state {
                    NodeState::Active => 2,
                    NodeState::Recovering => 1,
                    NodeState::Down => 0,
                })
            },
        ),
        ("fastgate_cluster_node_chunks", "Chunks on the storage node", |n| {
            n.chunks
        }),
        (
            "fastgate_cluster_node_lacking_chunks",
            "Chunks of its group the storage node lacks, as its last repair found",
            |n| n.lacking_chunks,
        ),
        (
            "fastgate_cluster_node_free_bytes",
            "Free bytes of the storage node's store paths",
            |n| n.free_bytes,
        ),
        (
            "fastgate_cluster_node_last_contact_seconds",
            "Seconds since the storage node last answered",
            |n| n.last_contact_secs,
        ),
    ];
    let mut out = String::new();
    for (name, help, figure) in figures {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for g in groups {
            for n in &g.nodes {
                if let Some(v) = figure(n) {
                    out.push_str(&format!("{name}{{group=\"{}\",node=\"{}\"}} {v}\n", g.name, n.url));
                }
            }
        }
    }
    out
}

/// Connections the metrics listener serves at once: scrapers are few.
const METRICS_CONNECTIONS: usize = 16;
/// How long a metrics connection may stay open, idle or not: a scrape takes
/// milliseconds, and a scraper that keeps its connection simply opens another.
const METRICS_CONNECTION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(60);

/// Serves `GET /metrics` (and `/_fastgate/metrics`, the S3 port's path) on its own
/// listener, without authentication: whoever can reach the listener may read the
/// counters, so it is on loopback unless configured otherwise. Its connections are
/// few and short-lived, so that it cannot be used to hold descriptors either.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    cluster: Option<Arc<ClusterChunks>>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(10));
    let mut backoff = crate::connection::AcceptBackoff::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(METRICS_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                backoff.wait(&e).await;
                continue;
            }
        };
        backoff.reset();
        let (store, metrics, cluster) = (store.clone(), metrics.clone(), cluster.clone());
        let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
            let resp = match (req.method(), req.uri().path()) {
                (&Method::GET, "/metrics" | "/_fastgate/metrics") => http::Response::builder()
                    .header(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")
                    .body(http_body_util::Full::new(bytes::Bytes::from(metrics_text(
                        &store,
                        &metrics,
                        cluster.as_deref(),
                    )))),
                _ => http::Response::builder()
                    .status(StatusCode::NOT_FOUND)
                    .body(http_body_util::Full::new(bytes::Bytes::from_static(b"not found\n"))),
            };
            std::future::ready(resp)
        });
        let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
        tokio::spawn(async move {
            if let Ok(Err(e)) = tokio::time::timeout(METRICS_CONNECTION_LIFETIME, conn).await {
                tracing::debug!(error = %e, "metrics connection ended with an error");
            }
            drop(slot);
        });
    }
}

/// The path of the dedup savings, for any authenticated user.
const DEDUP: &str = "/_fastgate/dedup";

/// The dedup savings as the console's dedup page reads them (JSON). The root user sees
/// the server's: every instant upload, every byte not stored (instant uploads and full
/// uploads of content already stored alike), bytes received, and what the store holds.
/// Any other user sees their own instant uploads only: the server-wide figures move
/// when *another* user's data matches an upload, which would answer "does anyone here
/// hold this file?" for any file one can guess (see [`Metrics::user_dedup`]).
pub fn dedup_json(store: &Store, metrics: &Metrics, user: &str, root: bool) -> String {
    use std::sync::atomic::Ordering::Relaxed;
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let json = if root {
        let gauges = store.gauges();
        serde_json::json!({
            "scope": "server",
            "at_ms": at_ms,
            "hits": metrics.dedup_hits.load(Relaxed),
            "bytes_received": metrics.request_body_bytes.load(Relaxed),
            "bytes_not_received": metrics.dedup_bytes_not_received.load(Relaxed),
            "bytes_not_stored": metrics.dedup_bytes_not_stored.load(Relaxed),
            "stored_bytes": gauges.chunk_bytes,
            "stored_chunks": gauges.chunks,
        })
    } else {
        let mine = metrics.user_dedup(user);
        serde_json::json!({
            "scope": "user",
            "at_ms": at_ms,
            "hits": mine.hits,
            // A hit stores nothing: what was not received was not stored either.
            "bytes_not_received": mine.bytes_not_received,
            "bytes_not_stored": mine.bytes_not_received,
        })
    };
    json.to_string()
}

fn text(status: StatusCode, body: String) -> S3Response<Body> {
    let mut resp = S3Response::new(Body::from(body));
    resp.status = Some(status);
    resp.headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    resp
}

impl AdminRoute {
    /// A storage node's registration or lease renewal (see `fastgate_cluster::join`):
    /// recorded in the metadata, for every gateway, and taken into this gateway's group
    /// at once.
    async fn register_node(&self, query: &str) -> S3Result<S3Response<Body>> {
        let cluster = self
            .cluster
            .as_ref()
            .ok_or(ApiError::InvalidRequest("This gateway has no [cluster]"))?;
        let (group, url) = join::parse_query(query).ok_or(ApiError::InvalidArgument("group and url are needed"))?;
        if let Err(why) = join::check_url(&url) {
            tracing::warn!(reason = why, "a node registration was refused");
            return Err(ApiError::InvalidArgument("A node's URL is http://HOST:PORT").into());
        }
        if !cluster.has_group(&group) {
            return Err(ApiError::InvalidArgument("No such group in this gateway's [cluster]").into());
        }
        let rec = self
            .store
            .renew_node(&group, &url, join::LEASE)
            .await
            .map_err(crate::s3::to_s3)?;
        let until =
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(rec.lease_until_ms).unwrap_or(0));
        cluster
            .add_node(&group, &url, until)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Ok(text(StatusCode::OK, format!("lease_secs {}\n", join::LEASE.as_secs())))
    }
}

/// Keeps this gateway's groups up to date with the storage nodes that registered with
/// any gateway over the same metadata: every few seconds, each registered node this
/// gateway does not have yet joins its group here, in the order they first registered.
/// Holds the store weakly: it ends when the server does.
pub async fn follow_registered_nodes(store: std::sync::Weak<Store>, cluster: Arc<ClusterChunks>) {
    let mut warned = std::collections::HashSet::new();
    loop {
        let Some(store) = store.upgrade() else { return };
        let nodes = store.registered_nodes().await;
        drop(store);
        match nodes {
            Ok(nodes) => {
                for n in nodes {
                    let until = std::time::UNIX_EPOCH
                        + std::time::Duration::from_millis(u64::try_from(n.lease_until_ms).unwrap_or(0));
                    if let Err(e) = cluster.add_node(&n.group, &n.url, until)
                        && warned.insert((n.group.clone(), n.url.clone()))
                    {
                        tracing::warn!(group = n.group, node = n.url, error = %e, "a registered node is left out");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the registered nodes"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

#[async_trait::async_trait]
impl S3Route for AdminRoute {
    fn is_match(&self, _method: &Method, uri: &Uri, _headers: &HeaderMap, _ext: &mut Extensions) -> bool {
        uri.path().starts_with(PREFIX)
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        // A storage node's registration is signed with the cluster secret, not SigV4.
        if req.uri.path() == join::PATH && req.method == Method::POST {
            let secret = self.cluster_secret.as_deref().ok_or(ApiError::AccessDenied)?;
            let query = req.uri.query().unwrap_or("");
            return fastgate_cluster::auth::verify(secret, "POST", join::PATH, query, &req.headers).map_err(|why| {
                tracing::warn!(reason = why, "a node registration was refused");
                ApiError::AccessDenied.into()
            });
        }
        match &req.credentials {
            Some(c) if c.access_key == self.root_access_key => Ok(()),
            // Every user may read their own dedup savings.
            Some(_) if req.uri.path() == DEDUP && req.method == Method::GET => Ok(()),
            _ => Err(ApiError::AccessDenied.into()),
        }
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        match (req.method.clone(), req.uri.path()) {
            (Method::GET, "/_fastgate/metrics") => Ok(text(
                StatusCode::OK,
                metrics_text(&self.store, &self.metrics, self.cluster.as_deref()),
            )),
            (Method::GET, DEDUP) => {
                let key = req
                    .credentials
                    .as_ref()
                    .map(|c| c.access_key.as_str())
                    .unwrap_or_default();
                let root = key == self.root_access_key;
                // Hits are counted by user id: a stored user's is its name, not its key.
                let ak = key.to_owned();
                let user = match self
                    .store
                    .point(move |s| s.access_key(&ak))
                    .await
                    .map_err(crate::s3::to_s3)?
                {
                    Some(rec) => rec.user,
                    None => key.to_owned(),
                };
                let mut resp = S3Response::new(Body::from(dedup_json(&self.store, &self.metrics, &user, root)));
                resp.headers.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                resp.headers
                    .insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
                Ok(resp)
            }
            (Method::POST, "/_fastgate/gc") => {
                let store = self.store.clone();
                let report = tokio::task::spawn_blocking(move || store.collect_garbage())
                    .await
                    .map_err(|e| ApiError::Internal(format!("gc task: {e}")))?
                    .map_err(crate::s3::to_s3)?;
                Metrics::add(&self.metrics.gc_chunks_deleted, report.chunks_deleted);
                Metrics::add(&self.metrics.gc_bytes_freed, report.bytes_freed);
                Ok(text(
                    StatusCode::OK,
                    format!(
                        "chunks_deleted {}\nbytes_freed {}\norphans_deleted {}\ntemps_deleted {}\n",
                        report.chunks_deleted, report.bytes_freed, report.orphans_deleted, report.temps_deleted
                    ),
                ))
            }
            (Method::GET, "/_fastgate/cluster") => {
                let groups = cluster_report(&self.store, self.cluster.as_deref()).await?;
                let json =
                    serde_json::to_string(&groups).map_err(|e| ApiError::Internal(format!("cluster report: {e}")))?;
                let mut resp = text(StatusCode::OK, json);
                resp.headers.insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                Ok(resp)
            }
            (Method::POST, "/_fastgate/rotate-key") => {
                // `?from=<key>&to=<key>`: key names are plain (letters, digits, `._-`).
                let query = req.uri.query().unwrap_or_default();
                let arg = |name: &str| {
                    query
                        .split('&')
                        .find_map(|p| p.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v.to_owned()))
                };
                let (Some(from), Some(to)) = (arg("from"), arg("to")) else {
                    return Err(ApiError::InvalidArgument("rotate-key takes ?from=<key>&to=<key>").into());
                };
                let n = self.store.rotate_key(&from, &to).await.map_err(crate::s3::to_s3)?;
                tracing::info!(from, to, rewrapped = n, "encryption key rotated");
                Ok(text(StatusCode::OK, format!("rewrapped {n}\n")))
            }
            (Method::GET, "/_fastgate/references") => {
                // A recount of every chunk's references (see `Store::recount_references`):
                // `chunks`, `references`, then one `mismatch <hash> <stored> <counted>`
                // line per chunk whose count is wrong.
                let store = self.store.clone();
                let audit = tokio::task::spawn_blocking(move || store.recount_references())
                    .await
                    .map_err(|e| ApiError::Internal(format!("recount task: {e}")))?
                    .map_err(crate::s3::to_s3)?;
                let mut out = format!("chunks {}\nreferences {}\n", audit.chunks, audit.references);
                for (hash, stored, counted) in &audit.mismatches {
                    out.push_str(&format!("mismatch {hash} {stored} {counted}\n"));
                }
                Ok(text(StatusCode::OK, out))
            }
            (Method::POST, "/_fastgate/expire-uploads") => {
                let n = self.store.expire_uploads(None).await.map_err(crate::s3::to_s3)?;
                Metrics::add(&self.metrics.uploads_expired, n as u64);
                Ok(text(StatusCode::OK, format!("uploads_expired {n}\n")))
            }
            (_, crate::user_admin::USERS | crate::user_admin::KEYS) => self.users.call(&req).await,
            (Method::POST, join::PATH) => self.register_node(req.uri.query().unwrap_or("")).await,
            (Method::DELETE, join::PATH) => {
                let (group, url) = join::parse_query(req.uri.query().unwrap_or(""))
                    .ok_or(ApiError::InvalidArgument("group and url are needed"))?;
                let known = self.store.forget_node(&group, &url).await.map_err(crate::s3::to_s3)?;
                if !known {
                    return Err(ApiError::InvalidArgument("no such registered node").into());
                }
                tracing::info!(group, node = url, "registered node forgotten");
                Ok(text(
                    StatusCode::OK,
                    "forgotten: gateways drop it from their groups at their next start\n".into(),
                ))
            }
            _ => Err(ApiError::NoSuchAdminOperation.into()),
        }
    }
}
