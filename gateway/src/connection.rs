//! Limits on what a client's connection may hold: the server would otherwise keep a
//! connection open for as long as the client likes, and a few thousand clients that
//! open connections and never finish a request use up the process's file descriptors.
//!
//! - At most `max_connections` are served at once; the accept loop waits for a free
//!   slot, so further clients wait in the kernel's listen backlog instead of taking a
//!   descriptor each.
//! - A connection with no request in progress is closed after `idle_timeout`, counted
//!   from its start or from the end of its last response: this covers the idle
//!   keep-alive connection and the client that never sends (or never finishes) its
//!   headers alike. hyper's own header-read timeout bounds the headers once they start.
//! - A request in progress is never cut: from the moment hyper hands it to the service
//!   until its response body is fully sent (a long upload or download), the connection
//!   is busy, whatever the pace of its bytes.
//! - Accept errors (out of descriptors, say) back off instead of spinning and logging
//!   thousands of warnings a second.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// Requests in progress on one connection, and since when it has had none.
pub struct Activity {
    start: Instant,
    in_progress: AtomicUsize,
    /// Milliseconds after `start` at which `in_progress` last dropped to zero.
    idle_since_ms: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            in_progress: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        })
    }

    /// Marks a request in progress until the returned guard drops (with its response
    /// body, or with the request if it fails).
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.in_progress.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// How long the connection has had no request in progress, or `None` while it has.
    fn idle_for(&self) -> Option<Duration> {
        if self.in_progress.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = self.idle_since_ms.load(Ordering::SeqCst);
        Some(Duration::from_millis(self.elapsed_ms().saturating_sub(since)))
    }
}

/// One request in progress on a connection.
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.idle_since_ms.store(self.0.elapsed_ms(), Ordering::SeqCst);
        self.0.in_progress.fetch_sub(1, Ordering::SeqCst);
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted as in progress until it is sent.
    pub struct BusyBody<B> {
        #[pin]
        inner: B,
        busy: Option<Busy>,
    }
}

impl<B> BusyBody<B> {
    pub fn new(inner: B, busy: Busy) -> Self {
        Self {
            inner,
            busy: Some(busy),
        }
    }
}

impl<B: Body<Data = Bytes>> Body for BusyBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let out = this.inner.poll_frame(cx);
        if matches!(out, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            this.busy.take();
        }
        out
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Drives `conn` to its end, or drops it (closing the socket) once it has had no
/// request in progress for `idle`.
pub async fn serve_until_idle<F>(conn: F, activity: Arc<Activity>, idle: Duration)
where
    F: Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>>,
{
    let mut conn = std::pin::pin!(conn);
    // Checked a few times per timeout: a connection outlives it by a quarter at most.
    let every = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    loop {
        tokio::select! {
            res = &mut conn => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep(every) => {
                if activity.idle_for().is_some_and(|d| d >= idle) {
                    tracing::debug!("closing a connection idle for {idle:?}");
                    return;
                }
            }
        }
    }
}

/// The pause after a failed accept: doubling from 10 ms up to one second while accepts
/// keep failing, so that a process out of descriptors neither spins nor floods the log
/// (one line per pause: about one a second at worst).
pub struct AcceptBackoff {
    next: Duration,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    pub fn new() -> Self {
        Self { next: Self::FIRST }
    }

    /// After a successful accept.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    /// Logs the error and waits.
    pub async fn wait(&mut self, e: &std::io::Error) {
        tracing::warn!(error = %e, pause = ?self.next, "accept failed");
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(Self::MAX);
    }
}
