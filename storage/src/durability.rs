//! Group commit: every request waits until its metadata is on disk, but concurrent
//! requests share one flush instead of paying for one each.
//!
//! Blocking by design: callers are already on a blocking thread (the one that ran their
//! transaction), so waiting there costs no extra hand-off between threads.

use std::sync::{Arc, Condvar, Mutex};

use crate::meta::{MetaError, MetaStore};

#[derive(Default)]
struct State {
    /// Bumped by every caller that needs a flush.
    requested: u64,
    /// Every request numbered up to here is durable.
    flushed: u64,
    flushing: bool,
    /// The last flush failed: its waiters must not be told they are durable.
    failed_upto: u64,
}

pub struct GroupCommit {
    meta: Arc<dyn MetaStore>,
    state: Mutex<State>,
    done: Condvar,
}

impl GroupCommit {
    pub fn new(meta: Arc<dyn MetaStore>) -> Self {
        Self {
            meta,
            state: Mutex::new(State::default()),
            done: Condvar::new(),
        }
    }

    /// Returns once everything committed before this call is durable. Blocking.
    pub fn sync(&self) -> Result<(), MetaError> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.requested += 1;
        let ticket = s.requested;
        loop {
            if s.flushed >= ticket {
                return Ok(());
            }
            if s.failed_upto >= ticket {
                return Err(MetaError("metadata flush failed".into()));
            }
            if !s.flushing {
                // Lead a flush that covers every ticket handed out so far.
                s.flushing = true;
                let target = s.requested;
                drop(s);
                let res = self.meta.flush();
                let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
                s.flushing = false;
                match &res {
                    Ok(()) => s.flushed = s.flushed.max(target),
                    Err(_) => s.failed_upto = s.failed_upto.max(target),
                }
                self.done.notify_all();
                return res;
            }
            // Follow the flush in progress; the loop checks whether it covered us.
            s = self.done.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }
}
