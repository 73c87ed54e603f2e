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

/// Deletes objects older than their bucket's `Expiration` rule.
async fn expire_objects(store: &Arc<Store>) -> fastgate_model::Result<()> {
    let now = now_ms();
    for (bucket, _) in store.list_buckets().await? {
        let b = bucket.clone();
        let Some(rules) = store.point(move |s| s.lifecycle(&b)).await? else {
            continue;
        };
        for rule in rules.iter().filter(|r| r.enabled) {
            let Some(days) = rule.expiration_days else { continue };
            let cutoff = now - i64::from(days) * 86_400_000;
            let mut after: Option<String> = None;
            loop {
                let page = store
                    .list_objects(&bucket, &rule.prefix, None, after.as_deref(), 1000)
                    .await?;
                for (key, rec) in &page.objects {
                    if rec.last_modified_ms <= cutoff {
                        store.delete_object(&bucket, key).await?;
                    }
                }
                if !page.truncated {
                    break;
                }
                after = page.last;
            }
        }
    }
    Ok(())
}
