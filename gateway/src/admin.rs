//! The admin surface under `/_fastgate/` (a path no bucket can have: bucket names
//! cannot contain `_`): metrics for anyone, garbage collection and stats for the root
//! user. Requests are authenticated by s3s like any other.

use std::sync::Arc;

use fastgate_model::Store;
use http::{Extensions, HeaderMap, Method, StatusCode, Uri};
use s3s::route::S3Route;
use s3s::{Body, S3Request, S3Response, S3Result, s3_error};

use crate::metrics::Metrics;

pub const PREFIX: &str = "/_fastgate/";

pub struct AdminRoute {
    pub store: Arc<Store>,
    pub metrics: Arc<Metrics>,
    pub root_access_key: String,
}

impl AdminRoute {
    /// Renders the counters and the store gauges. The gauges scan the chunk table, which
    /// is blocking work: it runs on a blocking thread, not on the async runtime.
    async fn metrics_text(&self) -> String {
        let store = self.store.clone();
        let stats = tokio::task::spawn_blocking(move || store.stats())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        self.metrics.render(&[
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
        ])
    }
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

#[async_trait::async_trait]
impl S3Route for AdminRoute {
    fn is_match(&self, _method: &Method, uri: &Uri, _headers: &HeaderMap, _ext: &mut Extensions) -> bool {
        uri.path().starts_with(PREFIX)
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        if req.uri.path() == "/_fastgate/metrics" && req.method == Method::GET {
            return Ok(());
        }
        match &req.credentials {
            Some(c) if c.access_key == self.root_access_key => Ok(()),
            _ => Err(s3_error!(AccessDenied, "Access Denied")),
        }
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        match (req.method.clone(), req.uri.path()) {
            (Method::GET, "/_fastgate/metrics") => Ok(text(StatusCode::OK, self.metrics_text().await)),
            (Method::POST, "/_fastgate/gc") => {
                let store = self.store.clone();
                let report = tokio::task::spawn_blocking(move || store.collect_garbage())
                    .await
                    .map_err(|e| s3_error!(InternalError, "gc task: {e}"))?
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
            (Method::POST, "/_fastgate/expire-uploads") => {
                let n = self.store.expire_uploads(None).await.map_err(crate::s3::to_s3)?;
                Metrics::add(&self.metrics.uploads_expired, n as u64);
                Ok(text(StatusCode::OK, format!("uploads_expired {n}\n")))
            }
            _ => Err(s3_error!(MethodNotAllowed, "No such admin operation")),
        }
    }
}
