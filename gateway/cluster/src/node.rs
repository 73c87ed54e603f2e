//! The storage node: this machine's chunk layer behind the internal HTTP API
//! (`fastgate storage`).
//!
//! - `PUT /v1/chunks`: a chunk, streamed; its body ends with its SHA-256 and an HMAC
//!   (see [`crate::auth::trailer`]). The node hashes the bytes as they arrive, fsyncs
//!   them, checks the hash against the trailer and only then renames the file into
//!   place: 201 (stored) or 200 (already here, nothing written: idempotent). A body
//!   whose hash or trailer does not check out leaves nothing behind (400).
//! - `GET /v1/chunks/<sha256>?start=S&end=E`: bytes `[S, E)` of a chunk, `E` capped at
//!   its size (404 if absent).
//! - `HEAD /v1/chunks/<sha256>`: whether the node has it (`x-fastgate-size`: its size;
//!   `x-fastgate-age-secs`: how long ago it was written).
//! - `DELETE /v1/chunks/<sha256>`: 204, or 404 when it was not here.
//! - `GET /v1/chunks?after=<sha256>&limit=N`: a page of the chunks the node has, in
//!   ascending order, one SHA-256 a line, at most `N` (and at most [`LIST_PAGE`]) after
//!   `after` (for repair and the orphan sweep). A page shorter than asked is the last.
//! - `GET /v1/status`: JSON: chunks, free and total bytes of the store paths.
//!
//! Every chunk is a file of its own on a node (see `LocalChunks::publish_file`): the
//! gateway names chunks by hash only, so a trunk slot, private to one node, could not
//! be named by it.

use std::io;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use fastgate_chunk::{ChunkHash, ChunkStore as _, LocalChunks};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::auth;
use crate::body::NodeBody;
use crate::client::NodeStatus;

/// What the size hint of a chunk upload is called.
pub const SIZE_HINT: &str = "x-fastgate-size-hint";
/// How long ago a chunk was written, in a `HEAD` answer.
pub const AGE: &str = "x-fastgate-age-secs";
/// A chunk's size, in a `HEAD` answer (hyper may rewrite `content-length` there).
pub const SIZE: &str = "x-fastgate-size";
/// The most chunks one listing page holds (and what a page without `limit` holds): a
/// node with millions of chunks is listed in bounded memory on both sides.
pub const LIST_PAGE: usize = 10_000;
/// Time a gateway has to send a request's headers (a dead one's connection is closed).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Temp files untouched this long belong to no live upload.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// A storage node's shared state.
pub struct Node {
    chunks: LocalChunks,
    secret: String,
    count: AtomicU64,
}

impl Node {
    /// Serves `chunks` (opened over this node's store paths) to gateways that know
    /// `secret`. Counts the chunks present once, here.
    pub fn new(chunks: LocalChunks, secret: String) -> io::Result<Arc<Self>> {
        let mut n = 0u64;
        chunks
            .list(&mut |_, _| {
                n += 1;
                ControlFlow::Continue(())
            })
            .map_err(io::Error::other)?;
        Ok(Arc::new(Self {
            chunks,
            secret,
            count: AtomicU64::new(n),
        }))
    }
}

/// Serves the node on `listener` until `shutdown` completes.
pub async fn serve(node: Arc<Node>, listener: TcpListener, shutdown: impl std::future::Future<Output = ()>) {
    let sweeper = Arc::clone(&node);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(STALE_TMP).await;
            let n = Arc::clone(&sweeper);
            let _ = tokio::task::spawn_blocking(move || n.chunks.sweep_temps(STALE_TMP)).await;
        }
    });
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let _ = stream.set_nodelay(true);
        let node = Arc::clone(&node);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let node = Arc::clone(&node);
                async move { Ok::<_, std::convert::Infallible>(handle(&node, req, peer).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
}

fn answer(status: StatusCode, body: impl Into<Bytes>) -> Response<NodeBody> {
    let mut r = Response::new(NodeBody::full(body));
    *r.status_mut() = status;
    r
}

async fn handle(node: &Arc<Node>, req: Request<Incoming>, peer: SocketAddr) -> Response<NodeBody> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    if let Err(why) = auth::verify(&node.secret, method.as_str(), &path, &query, req.headers()) {
        tracing::warn!(%peer, %method, %path, why, "refused an unauthenticated request");
        return answer(StatusCode::FORBIDDEN, "the cluster secret is missing or wrong\n");
    }
    let content = req
        .headers()
        .get(auth::CONTENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let streaming = content == auth::STREAMING_CHUNK;
    // Only a chunk upload has a body, and its own MAC at its end: any other body would
    // be unauthenticated.
    if streaming != (method == Method::PUT) || (!streaming && content != auth::empty_sha256()) {
        return answer(StatusCode::BAD_REQUEST, "unexpected body\n");
    }
    let result = match (&method, path.as_str()) {
        (&Method::PUT, "/v1/chunks") => put(node, req).await,
        (&Method::GET, "/v1/chunks") => list(node, &query).await,
        (&Method::GET, "/v1/status") => status(node).await,
        (m, p) => match p.strip_prefix("/v1/chunks/").and_then(ChunkHash::from_hex) {
            Some(hash) if *m == Method::GET => read(node, hash, &query).await,
            Some(hash) if *m == Method::HEAD => head(node, hash).await,
            Some(hash) if *m == Method::DELETE => delete(node, hash).await,
            _ => Ok(answer(StatusCode::NOT_FOUND, "no such route\n")),
        },
    };
    result.unwrap_or_else(|e| {
        tracing::error!(%method, %path, error = %e, "storage node request failed");
        let status = if fastgate_chunk::error::is_no_space(&e) {
            StatusCode::INSUFFICIENT_STORAGE
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        answer(status, format!("{e}\n"))
    })
}

/// Runs chunk-layer work on the blocking pool.
async fn blocking<T: Send + 'static>(
    node: &Arc<Node>,
    f: impl FnOnce(&Node) -> fastgate_chunk::Result<T> + Send + 'static,
) -> io::Result<T> {
    let node = Arc::clone(node);
    tokio::task::spawn_blocking(move || f(&node))
        .await
        .map_err(io::Error::other)?
        .map_err(|e| match e {
            fastgate_chunk::ChunkError::Io(e) => e,
            fastgate_chunk::ChunkError::NoSpace => io::Error::from(io::ErrorKind::StorageFull),
            e => io::Error::other(e),
        })
}

async fn put(node: &Arc<Node>, req: Request<Incoming>) -> io::Result<Response<NodeBody>> {
    let request_auth = req
        .headers()
        .get(auth::AUTH)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let hint = req
        .headers()
        .get(SIZE_HINT)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0u64);
    let mut writer = match node.chunks.writer(hint, &[]) {
        Ok(w) => w,
        Err(fastgate_chunk::ChunkError::NoSpace) => {
            return Ok(answer(StatusCode::INSUFFICIENT_STORAGE, "no store path has room\n"));
        }
        Err(e) => return Err(io::Error::other(e)),
    };
    // The last TRAILER_LEN bytes seen are held back: they may be the trailer.
    let mut tail = BytesMut::new();
    let mut body = req.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(io::Error::other)?;
        let Ok(data) = frame.into_data() else { continue };
        tail.extend_from_slice(&data);
        if tail.len() > auth::TRAILER_LEN {
            let piece = tail.split_to(tail.len() - auth::TRAILER_LEN).freeze();
            writer.write(piece).await?;
        }
    }
    let Some(sha256) = auth::open_trailer(&node.secret, &request_auth, &tail) else {
        return Ok(answer(
            StatusCode::BAD_REQUEST,
            "the chunk's trailer does not authenticate it\n",
        ));
    };
    // Hashed and, if large, fsynced in its temp file; dropped (and deleted) on a mismatch.
    let mut staged = writer.finish().await?;
    if staged.hash().0 != sha256 {
        return Ok(answer(
            StatusCode::BAD_REQUEST,
            "the chunk's bytes do not match its SHA-256\n",
        ));
    }
    let stored = blocking(node, move |n| {
        if n.chunks.find(&staged.hash())?.is_some() {
            return Ok(false);
        }
        n.chunks.publish_file(&mut staged)?;
        Ok(true)
    })
    .await?;
    if stored {
        node.count.fetch_add(1, Ordering::Relaxed);
        Ok(answer(StatusCode::CREATED, ""))
    } else {
        Ok(answer(StatusCode::OK, ""))
    }
}

fn range(query: &str, size: u64) -> Option<(u64, u64)> {
    let (mut start, mut end) = (0, size);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=')? {
            ("start", v) => start = v.parse().ok()?,
            ("end", v) => end = v.parse().ok()?,
            _ => return None,
        }
    }
    let end = end.min(size);
    (start <= end).then_some((start, end))
}

async fn read(node: &Arc<Node>, hash: ChunkHash, query: &str) -> io::Result<Response<NodeBody>> {
    let Some((location, size)) = blocking(node, move |n| n.chunks.find(&hash)).await? else {
        return Ok(answer(StatusCode::NOT_FOUND, "no such chunk\n"));
    };
    let Some((start, end)) = range(query, size) else {
        return Ok(answer(StatusCode::RANGE_NOT_SATISFIABLE, "bad range\n"));
    };
    let reader = node
        .chunks
        .read(&[(hash, location, size)], start, end)
        .map_err(io::Error::other)?;
    Ok(Response::new(NodeBody::Reader(reader, end - start)))
}

async fn head(node: &Arc<Node>, hash: ChunkHash) -> io::Result<Response<NodeBody>> {
    let found = blocking(node, move |n| {
        Ok(n.chunks
            .find(&hash)?
            .map(|(loc, size)| (size, n.chunks.age(&hash, loc))))
    })
    .await?;
    let Some((size, age)) = found else {
        return Ok(answer(StatusCode::NOT_FOUND, ""));
    };
    let mut r = Response::new(NodeBody::empty());
    let h = r.headers_mut();
    h.insert(SIZE, size.into());
    h.insert(AGE, age.unwrap_or_default().as_secs().into());
    Ok(r)
}

async fn delete(node: &Arc<Node>, hash: ChunkHash) -> io::Result<Response<NodeBody>> {
    let deleted = blocking(node, move |n| match n.chunks.find(&hash)? {
        Some((loc, _)) => n.chunks.delete(&hash, loc),
        None => Ok(false),
    })
    .await?;
    if deleted {
        node.count.fetch_sub(1, Ordering::Relaxed);
        Ok(answer(StatusCode::NO_CONTENT, ""))
    } else {
        Ok(answer(StatusCode::NOT_FOUND, ""))
    }
}

/// `after` and `limit` of a listing's query.
fn page_query(query: &str) -> Option<(Option<ChunkHash>, usize)> {
    let (mut after, mut limit) = (None, LIST_PAGE);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=')? {
            ("after", v) => after = Some(ChunkHash::from_hex(v)?),
            ("limit", v) => limit = v.parse::<usize>().ok()?.min(LIST_PAGE),
            _ => return None,
        }
    }
    Some((after, limit))
}

async fn list(node: &Arc<Node>, query: &str) -> io::Result<Response<NodeBody>> {
    let Some((after, limit)) = page_query(query) else {
        return Ok(answer(StatusCode::BAD_REQUEST, "bad listing query\n"));
    };
    let text = blocking(node, move |n| {
        let page = n.chunks.list_page(after.as_ref(), limit)?;
        let mut out = String::with_capacity(page.len() * 65);
        for hash in page {
            out.push_str(&hash.to_hex());
            out.push('\n');
        }
        Ok(out)
    })
    .await?;
    Ok(answer(StatusCode::OK, text))
}

async fn status(node: &Arc<Node>) -> io::Result<Response<NodeBody>> {
    let (free_bytes, total_bytes) = blocking(node, |n| {
        let (mut free, mut total) = (0u64, 0u64);
        for g in n.chunks.tracker().groups() {
            for p in &g.paths {
                let (f, t) = p.space()?;
                free += f;
                total += t;
            }
        }
        Ok((free, total))
    })
    .await?;
    let s = NodeStatus {
        chunks: node.count.load(Ordering::Relaxed),
        free_bytes,
        total_bytes,
        time_secs: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    Ok(answer(
        StatusCode::OK,
        serde_json::to_vec(&s).map_err(io::Error::other)?,
    ))
}
