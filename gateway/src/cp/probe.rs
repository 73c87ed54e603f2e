//! Where issue 18's probe slots in: before `cp` sends a whole object or a part, it asks
//! "do you have SHA-256 X of size N?". The server side does not exist yet, and other S3
//! servers never will have it, so today every question is answered [`Answer::Send`] and
//! `cp` is a plain multipart uploader. When the probe lands, only this file changes: a
//! bodiless signed request per question, and [`Answer::Stored`] when the server completed
//! the write from content it already had (same proof-of-possession scope as instant upload).

use super::s3::S3;

/// The answer to one probe.
#[derive(Debug)]
pub enum Answer {
    /// Send the body as usual.
    Send,
    /// The server completed the write without a body; a part's ETag comes back for the
    /// completion.
    #[allow(dead_code)] // given by the server-side probe, which is not there yet
    Stored { etag: String },
}

/// Asks the server whether it already has content.
pub struct Probe {
    _s3: S3,
}

impl Probe {
    pub fn new(s3: S3) -> Self {
        Self { _s3: s3 }
    }

    /// Before a PutObject of `size` bytes whose SHA-256 is `sha_b64`.
    pub async fn object(&self, _bucket: &str, _key: &str, _sha_b64: &str, _size: u64) -> Answer {
        Answer::Send
    }

    /// Before UploadPart `part_number` of `upload_id`, `size` bytes hashing to `sha_b64`.
    pub async fn part(
        &self,
        _bucket: &str,
        _key: &str,
        _upload_id: &str,
        _part_number: u32,
        _sha_b64: &str,
        _size: u64,
    ) -> Answer {
        Answer::Send
    }
}
