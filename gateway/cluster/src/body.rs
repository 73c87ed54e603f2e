//! HTTP bodies of the internal API: a chunk streamed from a channel, an object reader,
//! a whole buffer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use fastgate_chunk::ObjectReader;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// The bodies the node answers with and the client sends.
pub enum NodeBody {
    Full(Option<Bytes>),
    /// Pieces as they arrive; the body ends when the sender is dropped.
    Channel(mpsc::Receiver<Bytes>),
    /// A chunk range read from the store paths, of a known length.
    Reader(ObjectReader, u64),
}

impl NodeBody {
    /// No body.
    pub fn empty() -> Self {
        Self::Full(None)
    }

    /// A body of these bytes.
    pub fn full(b: impl Into<Bytes>) -> Self {
        Self::Full(Some(b.into()))
    }
}

impl Body for NodeBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            Self::Full(b) => Poll::Ready(b.take().filter(|b| !b.is_empty()).map(|b| Ok(Frame::data(b)))),
            Self::Channel(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
            Self::Reader(r, _) => r.poll_next(cx).map(|o| o.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Self::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Channel(_) => SizeHint::default(),
            Self::Reader(_, n) => SizeHint::with_exact(*n),
        }
    }
}
