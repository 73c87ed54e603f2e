//! The memory that large uploads' full write buffers may take, all uploads together.
//!
//! A large body is copied into fixed-size aligned buffers; a full one then waits for the
//! upload's writer thread, the disk, and the hash engines. Each upload's own queues are
//! short, but without a shared bound the server's resident size grows with the number of
//! uploads whenever the receiving side outruns the hashing and the disk: 64 concurrent
//! uploads held about 80 MiB more than with the default budget of 16 MiB. With a budget,
//! a full buffer is only passed on when earlier ones have been written and hashed, so a
//! burst of uploads slows the receiving of bodies (TCP pushes back on the clients)
//! instead of growing memory.
//!
//! Only full buffers count: they leave the budget as the server writes and hashes them,
//! which it always does. The one buffer each upload is filling stays outside it, or a
//! few clients sending slowly could hold the whole budget and stall every other upload.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::direct_io::AlignedBuf;

/// Admits full write buffers within a fixed number of bytes.
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

    /// An empty buffer of the budget's size, not counted until it is [`admit`]ted.
    ///
    /// [`admit`]: Self::admit
    pub fn buffer(&self) -> AlignedBuf {
        AlignedBuf::with_capacity(self.buffer_size)
    }

    /// `buf`, once the budget has room for it. Its room comes back when the returned
    /// buffer (and every `Bytes` made from it) is dropped.
    pub async fn admit(&self, buf: AlignedBuf) -> BudgetedBuf {
        // The semaphore is never closed; were it, a buffer outside the budget would be
        // better than a failed upload.
        let permit = self.permits.clone().acquire_owned().await.ok();
        BudgetedBuf { buf, _permit: permit }
    }
}

/// A full write buffer that holds its room in the [`BufferBudget`] until dropped.
pub(crate) struct BudgetedBuf {
    buf: AlignedBuf,
    _permit: Option<OwnedSemaphorePermit>,
}

impl AsRef<[u8]> for BudgetedBuf {
    fn as_ref(&self) -> &[u8] {
        self.buf.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_buffer_waits_for_room_and_gets_it_when_one_is_dropped() {
        let budget = BufferBudget::new(4 * 4096, 4096);
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(budget.admit(budget.buffer()).await);
        }
        let fifth = tokio::time::timeout(Duration::from_millis(50), budget.admit(budget.buffer())).await;
        assert!(fifth.is_err(), "a fifth buffer is over the budget");
        let bytes = bytes::Bytes::from_owner(held.pop().unwrap());
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.admit(budget.buffer()).await.as_ref().is_empty() }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !waiting.is_finished(),
            "room comes back only when the bytes are dropped"
        );
        drop(bytes);
        assert!(waiting.await.unwrap());
        drop(held);
    }
}
