//! Content digests: the MD5 (ETag) and SHA-256 (identity) every chunk gets, and the
//! optional S3 additional checksum a client asked for, all computed in the one pass
//! that writes the bytes.

use base64::Engine as _;
use bytes::Bytes;
use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::Sha256;

use crate::lanes::md5::Md5Lanes;
use crate::lanes::sha256::Sha256Lanes;
use crate::lanes::{LaneHash, PendingDigest, Stream};

/// The additional checksum algorithms of S3 (`x-amz-checksum-*`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [Self::Crc32, Self::Crc32c, Self::Crc64Nvme, Self::Sha1, Self::Sha256];

    /// The S3 spelling: `CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`, `SHA256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crc32 => "CRC32",
            Self::Crc32c => "CRC32C",
            Self::Crc64Nvme => "CRC64NVME",
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// CRCs can be combined across parts into a checksum of the whole object; hashes
    /// cannot, so multipart objects get a checksum of checksums ("composite").
    pub fn is_crc(self) -> bool {
        matches!(self, Self::Crc32 | Self::Crc32c | Self::Crc64Nvme)
    }

    fn crc(self) -> Option<crc_fast::CrcAlgorithm> {
        match self {
            Self::Crc32 => Some(crc_fast::CrcAlgorithm::Crc32IsoHdlc),
            Self::Crc32c => Some(crc_fast::CrcAlgorithm::Crc32Iscsi),
            Self::Crc64Nvme => Some(crc_fast::CrcAlgorithm::Crc64Nvme),
            Self::Sha1 | Self::Sha256 => None,
        }
    }

    fn width(self) -> usize {
        match self {
            Self::Crc32 | Self::Crc32c => 4,
            Self::Crc64Nvme => 8,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    /// Computes the checksum of a whole buffer (used for composite checksums).
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = Checksummer::new(self);
        h.update(data);
        h.finish()
    }

    /// Combines the CRCs of two adjacent pieces into the CRC of their concatenation.
    pub fn combine(self, first: &[u8], second: &[u8], second_len: u64) -> Option<Vec<u8>> {
        let alg = self.crc()?;
        let a = be_to_u64(first);
        let b = be_to_u64(second);
        let c = crc_fast::checksum_combine(alg, a, b, second_len);
        Some(u64_to_be(c, self.width()))
    }
}

fn be_to_u64(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, x| (acc << 8) | u64::from(*x))
}

fn u64_to_be(v: u64, width: usize) -> Vec<u8> {
    v.to_be_bytes()[8 - width..].to_vec()
}

/// Base64 as S3 writes checksums.
pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn from_b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// One running checksum of the algorithm a client asked for.
pub enum Checksummer {
    Crc(ChecksumAlgorithm, crc_fast::Digest),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Checksummer {
    pub fn new(alg: ChecksumAlgorithm) -> Self {
        match alg.crc() {
            Some(c) => Self::Crc(alg, crc_fast::Digest::new(c)),
            None if alg == ChecksumAlgorithm::Sha1 => Self::Sha1(Sha1::new()),
            None => Self::Sha256(Sha256::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Crc(_, d) => d.update(data),
            Self::Sha1(d) => d.update(data),
            Self::Sha256(d) => d.update(data),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        match self {
            Self::Crc(alg, d) => u64_to_be(d.finalize(), alg.width()),
            Self::Sha1(d) => d.finalize().to_vec(),
            Self::Sha256(d) => d.finalize().to_vec(),
        }
    }
}

/// The digests of a chunk as it was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkDigests {
    pub size: u64,
    pub md5: [u8; 16],
    pub sha256: [u8; 32],
    /// Additional checksums computed while writing: the one the client asked for and
    /// CRC32 (the SDKs' default), so that later instant uploads can check them too.
    pub checksums: Vec<(ChecksumAlgorithm, Vec<u8>)>,
}

impl ChunkDigests {
    pub fn checksum(&self, alg: ChecksumAlgorithm) -> Option<&[u8]> {
        if alg == ChecksumAlgorithm::Sha256 {
            return Some(&self.sha256);
        }
        self.checksums
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, v)| v.as_slice())
    }
}

/// Where a [`ContentHasher`] computes its MD5.
enum Md5Hasher {
    /// On the calling thread.
    Inline(Md5),
    /// On the shared engine, side by side with other uploads (see [`crate::lanes`]).
    Shared(Stream<Md5Lanes>),
}

/// Where a [`ContentHasher`] computes its SHA-256, if it does.
enum Sha256Hasher {
    /// On the calling thread.
    Inline(Sha256),
    /// On the shared engine, side by side with other uploads (see [`crate::lanes`]).
    Shared(Stream<Sha256Lanes>),
    /// Already known: verified on the way in by another layer.
    Known([u8; 32]),
}

/// A digest as [`ContentHasher::finish_while`] has it while its `work` runs.
enum Digest<H: LaneHash> {
    Ready(H::Digest),
    Pending(PendingDigest<H>),
}

impl<H: LaneHash> Digest<H> {
    fn wait(self) -> std::io::Result<H::Digest> {
        match self {
            Self::Ready(d) => Ok(d),
            Self::Pending(p) => p.wait(),
        }
    }
}

/// MD5 + SHA-256 + chosen extras over a stream of buffers, in one pass.
pub struct ContentHasher {
    size: u64,
    md5: Md5Hasher,
    sha256: Sha256Hasher,
    extras: Vec<(ChecksumAlgorithm, Checksummer)>,
}

impl ContentHasher {
    pub fn new(extras: &[ChecksumAlgorithm]) -> Self {
        let mut list: Vec<(ChecksumAlgorithm, Checksummer)> = Vec::new();
        for &a in extras {
            if a != ChecksumAlgorithm::Sha256 && !list.iter().any(|(x, _)| *x == a) {
                list.push((a, Checksummer::new(a)));
            }
        }
        Self {
            size: 0,
            md5: Md5Hasher::Inline(Md5::new()),
            sha256: Sha256Hasher::Inline(Sha256::new()),
            extras: list,
        }
    }

    /// A hasher that takes the SHA-256 as given. Only for bytes whose SHA-256 is
    /// verified on the way in by another layer that fails the stream on a mismatch
    /// (the signed-payload check of SigV4): hashing them twice would only burn CPU.
    pub fn with_verified_sha256(extras: &[ChecksumAlgorithm], sha256: [u8; 32]) -> Self {
        Self {
            sha256: Sha256Hasher::Known(sha256),
            ..Self::new(extras)
        }
    }

    /// Hands the MD5 and the SHA-256 to the engines shared by all uploads, where the CPU
    /// has them. Meant for large bodies given as [`Bytes`] to [`Self::update_bytes`],
    /// which the engines then read without a copy; a no-op once bytes have been hashed.
    pub(crate) fn with_shared_engines(mut self) -> Self {
        if self.size != 0 {
            return self;
        }
        if let Some(stream) = Stream::open() {
            self.md5 = Md5Hasher::Shared(stream);
        }
        if matches!(self.sha256, Sha256Hasher::Inline(_))
            && let Some(stream) = Stream::open()
        {
            self.sha256 = Sha256Hasher::Shared(stream);
        }
        self
    }

    pub fn update(&mut self, data: &[u8]) {
        if matches!(self.md5, Md5Hasher::Shared(_)) || matches!(self.sha256, Sha256Hasher::Shared(_)) {
            self.update_bytes(&Bytes::copy_from_slice(data));
        } else {
            self.update_rest(data);
        }
    }

    /// Like [`Self::update`], but a shared engine keeps a handle on `data` instead of a
    /// copy.
    pub fn update_bytes(&mut self, data: &Bytes) {
        // Errors are reported by `finish`, which cannot succeed without the engine either.
        if let Md5Hasher::Shared(s) = &mut self.md5
            && let Err(e) = s.update(data.clone())
        {
            tracing::error!("MD5 engine: {e}");
        }
        if let Sha256Hasher::Shared(s) = &mut self.sha256
            && let Err(e) = s.update(data.clone())
        {
            tracing::error!("SHA-256 engine: {e}");
        }
        self.update_rest(data);
    }

    /// Everything but the shared hashes.
    fn update_rest(&mut self, data: &[u8]) {
        self.size += data.len() as u64;
        if let Md5Hasher::Inline(m) = &mut self.md5 {
            m.update(data);
        }
        if let Sha256Hasher::Inline(s) = &mut self.sha256 {
            s.update(data);
        }
        for (_, c) in &mut self.extras {
            c.update(data);
        }
    }

    /// The digests of everything hashed. Fails only if a shared engine stopped.
    pub fn finish(self) -> std::io::Result<ChunkDigests> {
        self.finish_while(|| Ok(()))
    }

    /// Like [`Self::finish`], running `work` (a writer's fsync) while the shared
    /// engines hash what they still have queued, rather than one after the other.
    pub fn finish_while(self, work: impl FnOnce() -> std::io::Result<()>) -> std::io::Result<ChunkDigests> {
        let md5: Digest<Md5Lanes> = match self.md5 {
            Md5Hasher::Inline(m) => Digest::Ready(m.finalize().into()),
            Md5Hasher::Shared(s) => Digest::Pending(s.finish()?),
        };
        let sha256: Digest<Sha256Lanes> = match self.sha256 {
            Sha256Hasher::Inline(s) => Digest::Ready(s.finalize().into()),
            Sha256Hasher::Shared(s) => Digest::Pending(s.finish()?),
            Sha256Hasher::Known(d) => Digest::Ready(d),
        };
        let checksums = self.extras.into_iter().map(|(a, c)| (a, c.finish())).collect();
        work()?;
        Ok(ChunkDigests {
            size: self.size,
            md5: md5.wait()?,
            sha256: sha256.wait()?,
            checksums,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        let mut h = ContentHasher::new(&[ChecksumAlgorithm::Crc32, ChecksumAlgorithm::Crc32c]);
        h.update(b"123456789");
        let d = h.finish().unwrap();
        assert_eq!(hex::encode(d.md5), "25f9e794323b453885f5181f1b624d0b");
        assert_eq!(
            d.checksum(ChecksumAlgorithm::Crc32),
            Some(&[0xcb, 0xf4, 0x39, 0x26][..])
        );
        assert_eq!(
            d.checksum(ChecksumAlgorithm::Crc32c),
            Some(&[0xe3, 0x06, 0x92, 0x83][..])
        );
    }

    #[test]
    fn a_shared_md5_is_the_inline_one() {
        let body: Vec<u8> = (0..1_000_003u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let mut inline = ContentHasher::new(&[ChecksumAlgorithm::Crc32]);
        let mut shared = ContentHasher::new(&[ChecksumAlgorithm::Crc32]).with_shared_engines();
        for piece in body.chunks(65_537) {
            inline.update(piece);
            shared.update_bytes(&Bytes::copy_from_slice(piece));
        }
        assert_eq!(inline.finish().unwrap(), shared.finish().unwrap());
    }

    #[test]
    fn crc_combine_matches_whole() {
        for alg in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            let whole = alg.digest(b"hello world");
            let a = alg.digest(b"hello ");
            let b = alg.digest(b"world");
            assert_eq!(alg.combine(&a, &b, 5), Some(whole));
        }
    }
}
