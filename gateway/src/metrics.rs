//! Counters the server exposes as Prometheus text on its metrics listener (and to the
//! root user at `/_fastgate/metrics`), and the admin CLI reads. Plain atomics: a handful of counters do not need a metrics framework.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub request_body_bytes: AtomicU64,
    pub dedup_hits: AtomicU64,
    pub dedup_bytes_not_received: AtomicU64,
    pub dedup_bytes_not_stored: AtomicU64,
    pub objects_put: AtomicU64,
    pub gc_chunks_deleted: AtomicU64,
    pub gc_bytes_freed: AtomicU64,
    pub uploads_expired: AtomicU64,
    /// Each user's own instant uploads, for the console's dedup page (see
    /// [`Metrics::user_dedup`]). Few users, one short lock per hit.
    per_user: Mutex<HashMap<String, UserDedup>>,
}

/// One user's instant uploads since the server started.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct UserDedup {
    pub hits: u64,
    /// Bytes the user announced and never had to send (nor did the server store them).
    pub bytes_not_received: u64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// Counts an instant-upload hit of `size` bytes by `user`, server-wide and for them.
    pub fn instant_hit(&self, user: &str, size: u64) {
        Self::add(&self.dedup_hits, 1);
        Self::add(&self.dedup_bytes_not_received, size);
        Self::add(&self.dedup_bytes_not_stored, size);
        let mut users = self.per_user.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = users.entry(user.to_owned()).or_default();
        mine.hits += 1;
        mine.bytes_not_received += size;
    }

    /// `user`'s own instant uploads. Only these: the server-wide "not stored" counter
    /// also grows when a full upload turns out to be stored already, so watching it
    /// would tell a user whether *someone else* holds a file they guess (the classic
    /// side channel of cross-user dedup); a user's own hits tell them nothing new.
    pub fn user_dedup(&self, user: &str) -> UserDedup {
        let users = self.per_user.lock().unwrap_or_else(PoisonError::into_inner);
        users.get(user).copied().unwrap_or_default()
    }

    pub fn render(&self, extra: &[(&str, &str, u64)]) -> String {
        let mut out = String::new();
        let rows: [(&str, &str, &AtomicU64); 9] = [
            ("fastgate_requests_total", "S3 requests served", &self.requests),
            (
                "fastgate_request_body_bytes_total",
                "PUT and UploadPart body bytes read from the network",
                &self.request_body_bytes,
            ),
            (
                "fastgate_dedup_hits_total",
                "Instant uploads answered without reading the body",
                &self.dedup_hits,
            ),
            (
                "fastgate_dedup_bytes_not_received_total",
                "Body bytes clients announced but never had to send",
                &self.dedup_bytes_not_received,
            ),
            (
                "fastgate_dedup_bytes_not_stored_total",
                "Bytes not written to disk because the content was already stored",
                &self.dedup_bytes_not_stored,
            ),
            (
                "fastgate_objects_put_total",
                "Objects and parts written",
                &self.objects_put,
            ),
            (
                "fastgate_gc_chunks_deleted_total",
                "Chunks deleted by garbage collection",
                &self.gc_chunks_deleted,
            ),
            (
                "fastgate_gc_bytes_freed_total",
                "Bytes freed by garbage collection",
                &self.gc_bytes_freed,
            ),
            (
                "fastgate_uploads_expired_total",
                "Incomplete multipart uploads aborted by expiry",
                &self.uploads_expired,
            ),
        ];
        for (name, help, c) in rows {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                c.load(Relaxed)
            );
        }
        for (name, help, v) in extra {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        out
    }
}
