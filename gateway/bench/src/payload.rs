//! Object bodies for the benchmark, built so the client spends (almost) no CPU per request.
//!
//! # Content choice
//! Client and server share the same cores, so per-request hashing or byte generation in the client would
//! steal CPU from the server being measured. At the same time, uploading the *same* bytes under every key
//! lets a deduplicating server (fastgate) skip work that a peer has to do, which would distort a put
//! benchmark. The compromise:
//!
//! * one shared **base** buffer of `min(size, 64MiB)` random (or `--fixed` pattern) bytes is generated once;
//! * an object of `size` bytes is the base repeated (only objects > 64MiB repeat it) followed by a unique
//!   **tail** of up to 32 bytes (run nonce + object index), so every object has a distinct SHA-256 and a
//!   whole-object dedup never hits;
//! * the SHA-256 state after the shared prefix is computed once; each object's hash is then
//!   `clone(state) + update(tail)`, i.e. O(32 bytes) instead of O(size);
//! * a body is a list of [`Bytes`] handles to the shared buffer: cloning is a refcount bump, no copy.
//!
//! A server doing chunk-level (sub-object) dedup could still share the prefix between objects; fastgate and
//! the peers compared in `bench/matrix.sh` dedup whole objects at most, so this is documented, not avoided.
//! `--same-content` drops the tail uniqueness (every object identical) to measure dedup on purpose.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use rand::{RngCore, SeedableRng, rngs::StdRng};
use sha2::{Digest, Sha256};

/// Largest base buffer; larger objects repeat it.
pub const BASE_MAX: u64 = 64 << 20;
/// Bytes at the end of each object that make it unique.
const TAIL_LEN: u64 = 32;

/// Generates the shared base buffer: random bytes from `seed`, or a fixed repeating pattern.
pub fn make_base(len: u64, seed: u64, fixed: bool) -> Bytes {
    let mut buf = vec![0u8; len as usize];
    if fixed {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
    } else {
        StdRng::seed_from_u64(seed).fill_bytes(&mut buf);
    }
    Bytes::from(buf)
}

/// Produces payloads of one fixed length that share a base buffer (see module docs).
#[derive(Clone)]
pub struct ContentPool {
    /// Prefix bytes as handles into the base buffer, in order.
    prefix: Vec<Bytes>,
    /// SHA-256 state after hashing the prefix.
    prefix_state: Sha256,
    /// Tail template (the base bytes the tail replaces), used for `--same-content`.
    tail_template: Bytes,
    len: u64,
    nonce: u64,
    same_content: bool,
}

impl ContentPool {
    /// Builds a pool for objects of `len` bytes over `base` (which must be non-empty unless `len == 0`).
    /// Costs one SHA-256 pass over `len - 32` bytes, done once.
    pub fn new(base: &Bytes, len: u64, nonce: u64, same_content: bool) -> Self {
        let tail_len = TAIL_LEN.min(len);
        let prefix_len = len - tail_len;
        let mut prefix = Vec::new();
        let mut state = Sha256::new();
        let mut left = prefix_len;
        while left > 0 {
            let n = left.min(base.len() as u64) as usize;
            let chunk = base.slice(..n);
            state.update(&chunk);
            prefix.push(chunk);
            left -= n as u64;
        }
        // The tail template continues the base where the prefix stopped, so `--same-content` is just the base.
        let off = (prefix_len % base.len().max(1) as u64) as usize;
        let tail_template = if tail_len == 0 {
            Bytes::new()
        } else {
            let end = (off + tail_len as usize).min(base.len());
            let mut t = base.slice(off..end).to_vec();
            t.resize(tail_len as usize, 0);
            Bytes::from(t)
        };
        Self {
            prefix,
            prefix_state: state,
            tail_template,
            len,
            nonce,
            same_content,
        }
    }

    /// The payload for object number `index`: unique per (nonce, index) unless `--same-content`.
    pub fn payload(&self, index: u64) -> Payload {
        let tail = if self.same_content {
            self.tail_template.clone()
        } else {
            self.unique_tail(index)
        };
        let mut state = self.prefix_state.clone();
        state.update(&tail);
        let sha256 = hex::encode(state.finalize());
        let mut chunks = self.prefix.clone();
        if !tail.is_empty() {
            chunks.push(tail);
        }
        Payload {
            chunks,
            len: self.len,
            sha256,
        }
    }

    fn unique_tail(&self, index: u64) -> Bytes {
        let mut t = self.tail_template.to_vec();
        let mut stamp = [0u8; 16];
        stamp[..8].copy_from_slice(&self.nonce.to_le_bytes());
        stamp[8..].copy_from_slice(&index.to_le_bytes());
        // XOR so short tails (objects < 32 bytes) still differ as much as they can.
        let n = t.len().max(1);
        for (i, b) in stamp.iter().enumerate() {
            if let Some(slot) = t.get_mut(i % n) {
                *slot ^= b;
            }
        }
        Bytes::from(t)
    }
}

/// One object's bytes (as shared chunks) plus its precomputed SHA-256 (hex).
#[derive(Clone, Debug)]
pub struct Payload {
    pub chunks: Vec<Bytes>,
    pub len: u64,
    pub sha256: String,
}

impl Payload {
    /// A request body streaming the chunks without copying them.
    pub fn body(&self) -> ChunkBody {
        ChunkBody::new(self.chunks.iter().cloned().collect(), self.len)
    }

    /// An empty body (GET/HEAD/DELETE...).
    pub fn empty() -> Self {
        Payload {
            chunks: Vec::new(),
            len: 0,
            sha256: EMPTY_SHA256.to_string(),
        }
    }

    /// A small in-memory body (XML requests), hashing it since it is tiny.
    pub fn from_bytes(b: Bytes) -> Self {
        let sha256 = hex::encode(Sha256::digest(&b));
        Payload {
            len: b.len() as u64,
            chunks: vec![b],
            sha256,
        }
    }
}

/// SHA-256 of the empty string.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A request body made of pre-existing [`Bytes`]; reports its exact length so hyper sends `Content-Length`.
pub struct ChunkBody {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl ChunkBody {
    pub fn new(chunks: VecDeque<Bytes>, len: u64) -> Self {
        Self { chunks, remaining: len }
    }
}

impl Body for ChunkBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.chunks.pop_front() {
            Some(c) => {
                self.remaining = self.remaining.saturating_sub(c.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(c))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(p: &Payload) -> Vec<u8> {
        p.chunks.iter().flat_map(|c| c.iter().copied()).collect()
    }

    #[test]
    fn payload_hash_matches_bytes_and_is_unique() {
        let base = make_base(1000, 7, false);
        for len in [0u64, 5, 32, 33, 1000, 2500] {
            let pool = ContentPool::new(&base, len, 42, false);
            let a = pool.payload(1);
            let b = pool.payload(2);
            assert_eq!(flat(&a).len() as u64, len);
            assert_eq!(hex::encode(Sha256::digest(flat(&a))), a.sha256);
            assert_eq!(hex::encode(Sha256::digest(flat(&b))), b.sha256);
            if len > 0 {
                assert_ne!(a.sha256, b.sha256, "len {len}");
            }
        }
    }

    #[test]
    fn same_content_is_identical() {
        let base = make_base(100, 1, true);
        let pool = ContentPool::new(&base, 250, 9, true);
        let (a, b) = (pool.payload(1), pool.payload(2));
        assert_eq!(a.sha256, b.sha256);
        assert_eq!(flat(&a), flat(&b));
        assert_eq!(hex::encode(Sha256::digest(flat(&a))), a.sha256);
    }
}
