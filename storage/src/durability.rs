//! Group commit: every request waits until its metadata is on disk, but concurrent
//! requests share one flush instead of paying for one each.

use std::sync::Arc;

use tokio::sync::{Mutex, Notify};

use crate::meta::{MetaError, MetaStore};

#[derive(Default)]
struct State {
    /// Bumped by every caller that needs a flush.
    requested: u64,
    /// Every request numbered up to here is durable.
    flushed: u64,
    flushing: bool,
}

pub struct GroupCommit {
    meta: Arc<dyn MetaStore>,
    state: Mutex<State>,
    done: Notify,
}

impl GroupCommit {
    pub fn new(meta: Arc<dyn MetaStore>) -> Self {
        Self {
            meta,
            state: Mutex::new(State::default()),
            done: Notify::new(),
        }
    }

    /// Returns once everything committed before this call is durable.
    pub async fn sync(&self) -> Result<(), MetaError> {
        let ticket = {
            let mut s = self.state.lock().await;
            s.requested += 1;
            s.requested
        };
        loop {
            let mut s = self.state.lock().await;
            if s.flushed >= ticket {
                return Ok(());
            }
            if !s.flushing {
                // Lead a flush that covers every ticket handed out so far.
                s.flushing = true;
                let target = s.requested;
                drop(s);
                let meta = self.meta.clone();
                let res = tokio::task::spawn_blocking(move || meta.flush())
                    .await
                    .map_err(|e| MetaError(e.to_string()))
                    .and_then(|r| r);
                let mut s = self.state.lock().await;
                s.flushing = false;
                if res.is_ok() {
                    s.flushed = s.flushed.max(target);
                }
                self.done.notify_waiters();
                return res;
            }
            // Follow the flush in progress; the next loop checks whether it covered us.
            let notified = self.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            drop(s);
            notified.await;
        }
    }
}
