//! Issue 18's instant-upload probe, client side: before `cp` sends a whole object or a
//! part, it asks "do you have SHA-256 X of size N?" with one bodiless signed request (the
//! protocol is in the README, "The instant-upload probe (for client authors)"). A hit
//! completes the write on the server and the body is not sent; a miss changes nothing
//! and the body goes out as usual.
//!
//! Other S3 servers do not know the probe. They refuse it (its declared payload hash and
//! checksum do not match its empty body), and the first such answer turns probing off
//! for the rest of the run, so that `cp` against them costs one extra request in all
//! and is a plain multipart uploader. A probe that fails in transport is answered
//! [`Answer::Send`] without that conclusion: the upload itself will say what is wrong.

use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::s3::{Probed, S3};

/// The answer to one probe.
#[derive(Debug)]
pub enum Answer {
    /// Send the body as usual.
    Send,
    /// The server completed the write without a body; a part's ETag comes back for the
    /// completion.
    Stored { etag: String },
}

/// Asks the server whether it already has content.
pub struct Probe {
    s3: S3,
    /// Set at the first answer that only a server without the probe gives.
    unaware: AtomicBool,
}

impl Probe {
    pub fn new(s3: S3) -> Self {
        Self {
            s3,
            unaware: AtomicBool::new(false),
        }
    }

    /// Before a PutObject of `size` bytes whose SHA-256 is `sha_b64`.
    pub async fn object(&self, bucket: &str, key: &str, sha_b64: &str, size: u64) -> Answer {
        self.ask(&S3::object_target(bucket, key), sha_b64, size).await
    }

    /// Before UploadPart `part_number` of `upload_id`, `size` bytes hashing to `sha_b64`.
    pub async fn part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        sha_b64: &str,
        size: u64,
    ) -> Answer {
        let target = S3::part_target(bucket, key, upload_id, part_number);
        self.ask(&target, sha_b64, size).await
    }

    async fn ask(&self, target: &str, sha_b64: &str, size: u64) -> Answer {
        if self.unaware.load(Ordering::Relaxed) {
            return Answer::Send;
        }
        let Some(sha_hex) = B64.decode(sha_b64).ok().map(hex::encode) else {
            return Answer::Send;
        };
        match self.s3.probe(target, size, &sha_hex, sha_b64).await {
            Ok(Probed::Hit { etag }) => Answer::Stored { etag },
            Ok(Probed::Miss) => Answer::Send,
            Ok(Probed::Unknown(what)) => {
                if !self.unaware.swap(true, Ordering::Relaxed) {
                    tracing::info!(answer = %what, "the server does not know the instant-upload probe; not probing again");
                }
                Answer::Send
            }
            Err(e) => {
                tracing::debug!(error = %e, "instant-upload probe failed; sending the body");
                Answer::Send
            }
        }
    }
}
