//! A gateway's client of one storage node: every call signed with the cluster secret
//! and bounded by a timeout, so that a dead or stalled node costs a request time, never
//! a hang.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use fastgate_chunk::ChunkHash;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::auth;
use crate::body::NodeBody;
use crate::error::ClusterError;
use crate::node::{AGE, LIST_PAGE, SIZE, SIZE_HINT};

/// What `GET /v1/status` answers.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct NodeStatus {
    pub chunks: u64,
    pub free_bytes: u64,
    pub total_bytes: u64,
    /// The node's clock, Unix seconds.
    pub time_secs: u64,
}

/// One storage node, as a gateway (or `admin`) calls it.
#[derive(Clone)]
pub struct NodeClient {
    url: String,
    secret: String,
    timeout: Duration,
    http: Client<HttpConnector, NodeBody>,
}

/// A chunk upload in progress: feed its pieces to `tx`, then the trailer, then drop it;
/// `answer` resolves with the node's verdict.
pub struct Upload {
    pub tx: mpsc::Sender<Bytes>,
    /// The request's signature, which the body's trailer is bound to.
    pub auth: String,
    pub answer: tokio::task::JoinHandle<Result<(), ClusterError>>,
}

impl NodeClient {
    /// A client of the node at `url` (`http://HOST:PORT`); `timeout` bounds connecting
    /// and each call's answer.
    pub fn new(url: &str, secret: &str, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(hyper_util::rt::TokioTimer::new())
            // Well below the node's header timeout (30 s), which may close an idle
            // connection: the pool drops it first.
            .pool_idle_timeout(Duration::from_secs(15))
            .build(connector);
        Self {
            url: url.trim_end_matches('/').to_owned(),
            secret: secret.to_owned(),
            timeout,
            http,
        }
    }

    /// The node's URL, as configured (without a trailing `/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn unreachable(&self, reason: impl std::fmt::Display) -> ClusterError {
        ClusterError::Unreachable {
            node: self.url.clone(),
            reason: reason.to_string(),
        }
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        query: &str,
        content: &str,
        body: NodeBody,
    ) -> Result<(Request<NodeBody>, String), ClusterError> {
        let uri = if query.is_empty() {
            format!("{}{path}", self.url)
        } else {
            format!("{}{path}?{query}", self.url)
        };
        let mut b = Request::builder().method(method.clone()).uri(uri);
        let mut signature = String::new();
        for (k, v) in auth::sign(&self.secret, method.as_str(), path, query, content) {
            if k == auth::AUTH {
                signature.clone_from(&v);
            }
            b = b.header(k, v);
        }
        let req = b
            .body(body)
            .map_err(|e| ClusterError::Config(format!("node url {}: {e}", self.url)))?;
        Ok((req, signature))
    }

    /// Sends a bodiless call and waits (bounded) for its answer's head.
    async fn call(&self, method: Method, path: &str, query: &str) -> Result<Response<Incoming>, ClusterError> {
        let (req, _) = self.request(method, path, query, &auth::empty_sha256(), NodeBody::empty())?;
        match tokio::time::timeout(self.timeout, self.http.request(req)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(self.unreachable(e)),
            Err(_) => Err(self.unreachable("timed out")),
        }
    }

    /// A bodiless call and its whole (small) answer, bounded by the timeout.
    pub async fn call_text(
        &self,
        method: Method,
        path: &str,
        query: &str,
    ) -> Result<(StatusCode, Bytes), ClusterError> {
        let resp = self.call(method, path, query).await?;
        self.text(resp).await
    }

    /// A whole (small) answer body, bounded by the timeout too.
    async fn text(&self, resp: Response<Incoming>) -> Result<(StatusCode, Bytes), ClusterError> {
        let status = resp.status();
        match tokio::time::timeout(self.timeout, resp.into_body().collect()).await {
            Ok(Ok(b)) => Ok((status, b.to_bytes())),
            Ok(Err(e)) => Err(self.unreachable(e)),
            Err(_) => Err(self.unreachable("timed out")),
        }
    }

    fn status_error(&self, status: StatusCode, body: &[u8]) -> ClusterError {
        ClusterError::Status {
            node: self.url.clone(),
            status,
            body: String::from_utf8_lossy(body).trim().to_owned(),
        }
    }

    /// The node's chunk count, space and clock.
    pub async fn status(&self) -> Result<NodeStatus, ClusterError> {
        let resp = self.call(Method::GET, "/v1/status", "").await?;
        let (status, body) = self.text(resp).await?;
        if status != StatusCode::OK {
            return Err(self.status_error(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| self.unreachable(format!("bad status answer: {e}")))
    }

    /// Starts a chunk upload of about `size_hint` bytes (see [`Upload`]).
    pub fn upload(&self, size_hint: u64) -> Result<Upload, ClusterError> {
        // A few pieces of slack: the copies move together, each at its own pace.
        let (tx, rx) = mpsc::channel(4);
        let (mut req, signature) = self.request(
            Method::PUT,
            "/v1/chunks",
            "",
            auth::STREAMING_CHUNK,
            NodeBody::Channel(rx),
        )?;
        req.headers_mut().insert(SIZE_HINT, size_hint.into());
        let client = self.clone();
        let answer = tokio::spawn(async move {
            // No timeout on the whole call: a large chunk takes as long as it takes. The
            // sender bounds each piece, and the answer after the last one is bounded below.
            let resp = client.http.request(req).await.map_err(|e| client.unreachable(e))?;
            let (status, body) = client.text(resp).await?;
            if status.is_success() {
                Ok(())
            } else {
                Err(client.status_error(status, &body))
            }
        });
        Ok(Upload {
            tx,
            auth: signature,
            answer,
        })
    }

    /// The body of bytes `[start, end)` of a chunk, or `None` when the node lacks it.
    pub async fn read(&self, hash: &ChunkHash, start: u64, end: u64) -> Result<Option<Incoming>, ClusterError> {
        let path = format!("/v1/chunks/{}", hash.to_hex());
        let resp = self
            .call(Method::GET, &path, &format!("start={start}&end={end}"))
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(Some(resp.into_body())),
            StatusCode::NOT_FOUND => Ok(None),
            _ => {
                let (status, body) = self.text(resp).await?;
                Err(self.status_error(status, &body))
            }
        }
    }

    /// The size and age of a chunk on the node, or `None` when it lacks it.
    pub async fn head(&self, hash: &ChunkHash) -> Result<Option<(u64, Duration)>, ClusterError> {
        let path = format!("/v1/chunks/{}", hash.to_hex());
        let resp = self.call(Method::HEAD, &path, "").await?;
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &http::HeaderValue| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        match resp.status() {
            StatusCode::OK => Ok(Some((
                header(SIZE).unwrap_or(0),
                Duration::from_secs(header(AGE).unwrap_or(0)),
            ))),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(self.status_error(s, b"")),
        }
    }

    /// Deletes a chunk; `false` when the node did not have it.
    pub async fn delete(&self, hash: &ChunkHash) -> Result<bool, ClusterError> {
        let path = format!("/v1/chunks/{}", hash.to_hex());
        let resp = self.call(Method::DELETE, &path, "").await?;
        let (status, body) = self.text(resp).await?;
        match status {
            StatusCode::NO_CONTENT => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(self.status_error(s, &body)),
        }
    }

    /// One page of the chunks the node has, in ascending order: at most `limit` (the
    /// node caps it at [`LIST_PAGE`]) after `after`. A page shorter than `limit` is the
    /// last.
    pub async fn list_page(&self, after: Option<&ChunkHash>, limit: usize) -> Result<Vec<ChunkHash>, ClusterError> {
        let query = match after {
            Some(a) => format!("after={}&limit={limit}", a.to_hex()),
            None => format!("limit={limit}"),
        };
        let resp = self.call(Method::GET, "/v1/chunks", &query).await?;
        let (status, body) = self.text(resp).await?;
        if status != StatusCode::OK {
            return Err(self.status_error(status, &body));
        }
        Ok(String::from_utf8_lossy(&body)
            .lines()
            .filter_map(ChunkHash::from_hex)
            .collect())
    }

    /// Every chunk the node has, in ascending order, fetched a page at a time.
    pub fn chunks(&self) -> ChunkPages<'_> {
        ChunkPages {
            client: self,
            page: VecDeque::new(),
            after: None,
            done: false,
            limit: LIST_PAGE,
        }
    }
}

/// A node's chunks in ascending order, a page at a time (see [`NodeClient::chunks`]):
/// at most one page is held, and several of these merge in step (repair's set
/// difference, the union of a group's lists).
pub struct ChunkPages<'a> {
    client: &'a NodeClient,
    page: VecDeque<ChunkHash>,
    after: Option<ChunkHash>,
    done: bool,
    limit: usize,
}

impl<'a> ChunkPages<'a> {
    /// A list with nothing in it (a node's, left out of a merge).
    pub fn empty(client: &'a NodeClient) -> Self {
        Self {
            client,
            page: VecDeque::new(),
            after: None,
            done: true,
            limit: LIST_PAGE,
        }
    }

    /// Fetches pages of at most `limit` chunks (at most [`LIST_PAGE`]).
    #[must_use]
    pub fn pages_of(mut self, limit: usize) -> Self {
        self.limit = limit.clamp(1, LIST_PAGE);
        self
    }

    /// The next chunk, without taking it.
    pub async fn peek(&mut self) -> Result<Option<ChunkHash>, ClusterError> {
        if self.page.is_empty() && !self.done {
            let page = self.client.list_page(self.after.as_ref(), self.limit).await?;
            self.done = page.len() < self.limit;
            self.after = page.last().copied();
            self.page = page.into();
        }
        Ok(self.page.front().copied())
    }

    /// Takes the next chunk.
    pub async fn next(&mut self) -> Result<Option<ChunkHash>, ClusterError> {
        self.peek().await?;
        Ok(self.page.pop_front())
    }
}
