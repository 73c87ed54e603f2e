//! The memory that large uploads' write buffers may take, all uploads together.
//!
//! A large body is copied into fixed-size aligned buffers that then wait for the
//! upload's writer thread, the disk, and the hash engines. Each upload's own queues are
//! short, but without a shared bound the server's resident size grows with the number of
//! uploads whenever the receiving side outruns the hashing and the disk: 64 concurrent
//! uploads held about 80 MiB more than with the default budget of 16 MiB. With a budget, a new buffer is only
//! handed out when one has been written and hashed, so a burst of uploads slows the
//! receiving of bodies (TCP pushes back on the clients) instead of growing memory.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::direct_io::AlignedBuf;

/// Hands out write buffers within a fixed number of bytes.
#[derive(Clone, Debug)]
pub(crate) struct BufferBudget {
    permits: Arc<Semaphore>,
    buffer_size: usize,
}

impl BufferBudget {
    /// A budget of `bytes` for buffers of `buffer_size` bytes, and at least enough for
    /// four buffers, so that one upload always moves.
    pub fn new(bytes: usize, buffer_size: usize) -> Self {
        let buffers = (bytes / buffer_size.max(1)).max(4);
        Self {
            permits: Arc::new(Semaphore::new(buffers)),
            buffer_size,
        }
    }

    /// An empty buffer, once the budget has room for it. Its room comes back when the
    /// buffer (and every `Bytes` made from it) is dropped.
    pub async fn buffer(&self) -> BudgetedBuf {
        // The semaphore is never closed; were it, a buffer outside the budget would be
        // better than a failed upload.
        let permit = self.permits.clone().acquire_owned().await.ok();
        BudgetedBuf {
            buf: AlignedBuf::with_capacity(self.buffer_size),
            _permit: permit,
        }
    }
}

/// A write buffer that holds its room in the [`BufferBudget`] until dropped.
pub(crate) struct BudgetedBuf {
    buf: AlignedBuf,
    _permit: Option<OwnedSemaphorePermit>,
}

impl BudgetedBuf {
    pub fn fill_from(&mut self, data: &[u8]) -> usize {
        self.buf.fill_from(data)
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.buf.is_full()
    }
}

impl AsRef<[u8]> for BudgetedBuf {
    fn as_ref(&self) -> &[u8] {
        self.buf.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_buffer_waits_for_room_and_gets_it_when_one_is_dropped() {
        let budget = BufferBudget::new(4 * 4096, 4096);
        let mut held: Vec<BudgetedBuf> = take(&budget, 4).await;
        let next = tokio::time::timeout(std::time::Duration::from_millis(50), budget.buffer()).await;
        assert!(next.is_err(), "a fifth buffer is over the budget");
        let bytes = bytes::Bytes::from_owner(held.pop().unwrap());
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.buffer().await.is_empty() }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "room comes back only when the bytes are dropped"
        );
        drop(bytes);
        assert!(waiting.await.unwrap());
        drop(held);
    }

    async fn take(budget: &BufferBudget, n: usize) -> Vec<BudgetedBuf> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(budget.buffer().await);
        }
        v
    }
}
