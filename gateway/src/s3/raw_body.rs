//! Large upload bodies handed to fastgate's own hashing instead of s3s's.
//!
//! For a SigV4 single-chunk payload (`x-amz-content-sha256: <hex>`), s3s wraps the body
//! in a stream that hashes every byte with SHA-256 as the handler reads it, and fails the
//! stream at its end on a mismatch. PutObject and UploadPart need that SHA-256 anyway
//! (it is the chunk's identity for dedup), and the storage layer computes it for large
//! bodies on its SHA-256 engine, four uploads interleaved, for about a fifth less CPU
//! than s3s's one stream at a time on the task that also receives the bytes.
//!
//! [`split`] parks the hyper body of every large signed PUT in a [`Slot`] (a request
//! extension, which s3s passes to the handler) and gives s3s a stand-in that reads from
//! the slot on first poll. A handler that hashes the body itself [`claim`]s it; s3s's
//! hashing stream is then never polled. Any other operation (an XML body, a copy) reads
//! the stand-in, which streams the same body, checked by s3s as before. The handler
//! that claims a body must compare its SHA-256 with the signed header before it commits
//! ([`super::checksums::Declared::verify`] does).

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use s3s::dto::StreamingBlob;

/// Bodies below this size stay with s3s: hashing them anywhere costs little, and a
/// small body is read whole by the handler (or is an XML document).
const MIN_LEN: u64 = 1 << 20;

/// A request body that the handler may take before s3s reads it.
#[derive(Clone)]
pub struct Slot(Arc<Mutex<Option<Incoming>>>);

impl Slot {
    fn take(&self) -> Option<Incoming> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// The request s3s sees: a large signed PUT's body parked in a [`Slot`], any other body
/// as it came.
pub fn split(req: http::Request<Incoming>) -> http::Request<s3s::Body> {
    let (mut parts, body) = req.into_parts();
    let signed_hash = parts
        .headers
        .get("x-amz-content-sha256")
        .is_some_and(|v| v.len() == 64 && v.as_bytes().iter().all(u8::is_ascii_hexdigit));
    let len = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = match len {
        Some(len) if parts.method == http::Method::PUT && signed_hash && len >= MIN_LEN => {
            let slot = Slot(Arc::new(Mutex::new(Some(body))));
            parts.extensions.insert(slot.clone());
            s3s::Body::http_body(StandIn { slot, body: None, len })
        }
        _ => s3s::Body::from(body),
    };
    http::Request::from_parts(parts, body)
}

/// The parked body, unless s3s has started reading it (then it is not the handler's).
pub fn claim(extensions: &http::Extensions) -> Option<StreamingBlob> {
    let body = extensions.get::<Slot>()?.take()?;
    Some(StreamingBlob::from(s3s::Body::from(body)))
}

/// What s3s reads in place of a parked body: the body itself, taken from the slot on
/// first poll; nothing if the handler claimed it first.
struct StandIn {
    slot: Slot,
    body: Option<Incoming>,
    len: u64,
}

impl http_body::Body for StandIn {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if self.body.is_none() {
            self.body = self.slot.take();
        }
        match &mut self.body {
            Some(b) => Pin::new(b).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.body {
            Some(b) => b.size_hint(),
            None => SizeHint::with_exact(self.len),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_some_and(Incoming::is_end_stream)
    }
}
