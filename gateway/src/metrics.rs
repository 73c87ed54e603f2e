//! Counters the server exposes as Prometheus text on its metrics listener (and to the
//! root user at `/_fastgate/metrics`), and the admin CLI reads. Plain atomics: a handful of counters do not need a metrics framework.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

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
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
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
