//! Large upload bodies handed to fastgate's own hashing instead of s3s's.
//!
//! For a SigV4 single-chunk payload (`x-amz-content-sha256: <hex>`), s3s wraps the body
//! in a stream that hashes every byte with SHA-256 as the handler reads it, and fails the
//! stream at its end on a mismatch. PutObject and UploadPart need that SHA-256 anyway
//! (it is the chunk's identity for dedup), and the storage layer computes it for large
//! bodies on its SHA-256 engine, four uploads interleaved, for about a fifth less CPU
//! than s3s's one stream at a time on the task that also receives the bytes.
//!
//! [`split`] parks the hyper body of every large signed PUT that is not an XML document
//! in a [`Slot`] (a request extension, which s3s passes to the handler) and gives s3s a
//! stand-in that reads from the slot on first poll. A handler that hashes the body
//! itself [`claim`]s it; s3s's hashing stream is then never polled. A request that ends
//! before its handler claims the body (a refused one, say) reads the stand-in, which
//! streams the same body, checked by s3s as before. The handler
//! that claims a body must compare its SHA-256 with the signed header before it commits
//! ([`super::checksums::Declared::verify`] does).
//!
//! A PUT of object data with `Transfer-Encoding: chunked` and no `Content-Length` is
//! parked the same way, whatever its payload hash: s3s would refuse it for want of a
//! length, and S3 stores it. The handler's writer hashes it and
//! [`super::checksums::Declared::verify`] checks a signed hash, as for a large body;
//! [`super::body::receive`] bounds its size.
//!
//! The bodies s3s reads whole (the XML documents of POSTs and of PUTs of a subresource
//! such as `?tagging`) get the opposite treatment: s3s checks their payload hash too, but
//! answers a mismatch with 500 InternalError, where S3 says 400
//! XAmzContentSHA256Mismatch. [`split`] hashes such a body on its way to s3s as well
//! ([`PayloadCheck`]; they are small), and the server puts the right error in place of
//! s3s's when the hashes differed.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use s3s::dto::StreamingBlob;
use sha2::{Digest as _, Sha256};

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

/// The request s3s sees: a large signed upload's body parked in a [`Slot`], a signed XML
/// document watched by a [`PayloadCheck`], any other body as it came.
pub fn split(req: http::Request<Incoming>) -> http::Request<s3s::Body> {
    let (mut parts, body) = req.into_parts();
    let signed_hash = parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(v, &mut out).ok().map(|()| out)
        });
    let len = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if len.is_none() && is_chunked_object_put(&parts) {
        // s3s refuses a body of unknown length (MissingContentLength); S3 stores it.
        // Parked, it reaches the handler, which streams and hashes it as any other.
        let slot = Slot(Arc::new(Mutex::new(Some(body))));
        parts.extensions.insert(slot.clone());
        let stand_in = StandIn {
            slot,
            body: None,
            len: 0,
        };
        return http::Request::from_parts(parts, s3s::Body::http_body(stand_in));
    }
    let Some(signed) = signed_hash else {
        return http::Request::from_parts(parts, s3s::Body::from(body));
    };
    let body = if read_whole(&parts.method, &parts.uri) {
        let check = PayloadCheck::default();
        parts.extensions.insert(check.clone());
        s3s::Body::http_body(Checked {
            body,
            hasher: Some(Sha256::new()),
            signed,
            check,
        })
    } else {
        match len {
            Some(len) if parts.method == http::Method::PUT && len >= MIN_LEN => {
                let slot = Slot(Arc::new(Mutex::new(Some(body))));
                parts.extensions.insert(slot.clone());
                s3s::Body::http_body(StandIn { slot, body: None, len })
            }
            _ => s3s::Body::from(body),
        }
    };
    http::Request::from_parts(parts, body)
}

/// A PutObject or UploadPart sent with `Transfer-Encoding: chunked` and no length: not
/// aws-chunked (which announces its decoded length), not an XML subresource, and
/// path-style with a key (`/bucket/key`), so that a CreateBucket body is never taken.
fn is_chunked_object_put(parts: &http::request::Parts) -> bool {
    let chunked = parts
        .headers
        .get(http::header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let has_key = parts
        .uri
        .path()
        .trim_start_matches('/')
        .split_once('/')
        .is_some_and(|(bucket, key)| !bucket.is_empty() && !key.is_empty());
    parts.method == http::Method::PUT
        && chunked
        && has_key
        && !parts.headers.contains_key("x-amz-decoded-content-length")
        && !read_whole(&parts.method, &parts.uri)
}

/// Subresources whose PUT carries an XML document (not object data).
const XML_SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "lifecycle",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "retention",
    "tagging",
    "versioning",
    "website",
];

/// Whether s3s reads this request's body whole, as an XML document: every POST that
/// has a body (DeleteObjects, CompleteMultipartUpload, ...), and a PUT of a subresource.
fn read_whole(method: &http::Method, uri: &http::Uri) -> bool {
    if *method == http::Method::POST {
        return true;
    }
    *method == http::Method::PUT
        && uri.query().is_some_and(|q| {
            q.split('&')
                .map(|p| p.split_once('=').map_or(p, |(k, _)| k))
                .any(|k| XML_SUBRESOURCES.contains(&k))
        })
}

/// Whether a watched body's SHA-256 differed from its signed one; see [`Checked`].
#[derive(Clone, Default)]
pub struct PayloadCheck(Arc<AtomicBool>);

impl PayloadCheck {
    /// The response to send instead of `resp`: S3's answer to a payload hash mismatch
    /// where s3s gave its 500 for the same failure.
    pub fn correct(&self, resp: http::Response<s3s::Body>) -> http::Response<s3s::Body> {
        if !self.0.load(Ordering::Acquire) || resp.status() != http::StatusCode::INTERNAL_SERVER_ERROR {
            return resp;
        }
        super::error::sha256_mismatch()
            .to_http_response()
            .map_or(resp, |r| r.map(s3s::Body::from))
    }
}

/// A signed body hashed on its way to s3s, its [`PayloadCheck`] set at the end when the
/// hash is not the signed one.
struct Checked {
    body: Incoming,
    hasher: Option<Sha256>,
    signed: [u8; 32],
    check: PayloadCheck,
}

impl Checked {
    fn finish(&mut self) {
        if let Some(h) = self.hasher.take()
            && <[u8; 32]>::from(h.finalize()) != self.signed
        {
            self.check.0.store(true, Ordering::Release);
        }
    }
}

impl http_body::Body for Checked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(h), Some(data)) = (self.hasher.as_mut(), frame.data_ref()) {
                    h.update(data);
                }
                // s3s stops at the announced length and may not poll for the end.
                if self.body.is_end_stream() {
                    self.finish();
                }
            }
            Poll::Ready(None) => self.finish(),
            _ => {}
        }
        polled
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }
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
