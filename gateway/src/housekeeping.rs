//! Background tasks: garbage collection, expiry of incomplete uploads, and lifecycle
//! expiration of objects.

use std::sync::Arc;
use std::time::Duration;

use fastgate_model::Store;
use fastgate_model::ids::now_ms;

use crate::metrics::Metrics;

pub fn spawn(
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    gc_every: Duration,
    expire_every: Duration,
    max_age: Option<Duration>,
) {
    let (s, m) = (store.clone(), metrics.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(gc_every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let st = s.clone();
            match tokio::task::spawn_blocking(move || st.collect_garbage()).await {
                Ok(Ok(r)) => {
                    Metrics::add(&m.gc_chunks_deleted, r.chunks_deleted);
                    Metrics::add(&m.gc_bytes_freed, r.bytes_freed);
                    if r.chunks_deleted + r.orphans_deleted + r.temps_deleted > 0 {
                        tracing::info!(?r, "garbage collection");
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "garbage collection failed"),
                Err(e) => tracing::warn!(error = %e, "garbage collection task failed"),
            }
        }
    });
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(expire_every);
        loop {
            tick.tick().await;
            let max_age_ms = max_age.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            match store.expire_uploads(max_age_ms).await {
                Ok(n) if n > 0 => {
                    Metrics::add(&metrics.uploads_expired, n as u64);
                    tracing::info!(aborted = n, "expired incomplete multipart uploads");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "upload expiry failed"),
            }
            if let Err(e) = expire_objects(&store).await {
                tracing::warn!(error = %e, "lifecycle expiration failed");
            }
        }
    });
}

/// Applies the buckets' lifecycle rules (see `Store::apply_lifecycle`: expiration
/// writes delete markers on a versioned bucket, and no rule removes a version object
/// lock keeps).
async fn expire_objects(store: &Arc<Store>) -> fastgate_model::Result<()> {
    let n = store.apply_lifecycle(now_ms()).await?;
    if n > 0 {
        tracing::info!(expired = n, "lifecycle expiration");
    }
    Ok(())
}
