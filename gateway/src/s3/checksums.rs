//! Client-declared digests of a body (`Content-MD5`, `x-amz-checksum-*` as headers or
//! aws-chunked trailers, a signed `x-amz-content-sha256`) and their verification
//! against what the server computed while writing.

use fastgate_model::checksum::{ChecksumAlgorithm, ChunkDigests, b64, from_b64};
use fastgate_model::records::ObjectChecksum;
use http::HeaderMap;
use s3s::S3Result;

use super::error::ApiError;

/// The digests a request declares for its body.
#[derive(Debug, Default, Clone)]
pub struct Declared {
    pub md5: Option<[u8; 16]>,
    /// `x-amz-checksum-<alg>` given as a header.
    pub checksums: Vec<(ChecksumAlgorithm, Vec<u8>)>,
    /// A signed hex `x-amz-content-sha256` (not UNSIGNED-PAYLOAD or STREAMING-*).
    pub content_sha256: Option<[u8; 32]>,
    /// The algorithm the client asked for (`x-amz-sdk-checksum-algorithm`, a header
    /// checksum, or the one announced in `x-amz-trailer`).
    pub algorithm: Option<ChecksumAlgorithm>,
    /// The checksum arrives as an aws-chunked trailer after the body.
    pub trailer: Option<ChecksumAlgorithm>,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn algorithm_header_name(alg: ChecksumAlgorithm) -> String {
    format!("x-amz-checksum-{}", alg.as_str().to_ascii_lowercase())
}

impl Declared {
    pub fn from_headers(h: &HeaderMap) -> S3Result<Self> {
        let mut d = Declared::default();
        if let Some(v) = header(h, "content-md5") {
            let bytes = from_b64(v).filter(|b| b.len() == 16).ok_or(ApiError::InvalidDigest)?;
            d.md5 = bytes.try_into().ok();
        }
        for alg in ChecksumAlgorithm::ALL {
            if let Some(v) = header(h, &algorithm_header_name(alg)) {
                let bytes = from_b64(v).ok_or_else(|| ApiError::InvalidChecksumHeader(algorithm_header_name(alg)))?;
                if bytes.len() != alg.digest(b"").len() {
                    return Err(ApiError::InvalidChecksumHeader(algorithm_header_name(alg)).into());
                }
                d.checksums.push((alg, bytes));
            }
        }
        if d.checksums.len() > 1 {
            return Err(ApiError::InvalidRequest(
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
            )
            .into());
        }
        if let Some(v) = header(h, "x-amz-content-sha256")
            && v.len() == 64
        {
            let mut out = [0u8; 32];
            if hex::decode_to_slice(v, &mut out).is_ok() {
                d.content_sha256 = Some(out);
            }
        }
        if let Some(t) = header(h, "x-amz-trailer") {
            let t = t.to_ascii_lowercase();
            d.trailer = t.strip_prefix("x-amz-checksum-").and_then(ChecksumAlgorithm::parse);
        }
        let sdk = header(h, "x-amz-sdk-checksum-algorithm").or_else(|| header(h, "x-amz-checksum-algorithm"));
        d.algorithm = d
            .checksums
            .first()
            .map(|(a, _)| *a)
            .or(d.trailer)
            .or_else(|| sdk.and_then(ChecksumAlgorithm::parse));
        Ok(d)
    }

    /// The extra checksums the writer must compute: the declared one, and every CRC
    /// (SIMD makes them nearly free next to MD5), so that a later instant upload that
    /// declares one of them is checked without reading the chunk back from disk.
    pub fn extras(&self) -> Vec<ChecksumAlgorithm> {
        let mut v = vec![
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ];
        if let Some(a) = self.algorithm
            && !v.contains(&a)
        {
            v.push(a);
        }
        v
    }

    /// Checks the computed digests against every declared one, including trailers
    /// (`trailing`, read after the body).
    pub fn verify(&self, d: &ChunkDigests, trailing: Option<&HeaderMap>) -> S3Result<()> {
        if let Some(m) = self.md5
            && m != d.md5
        {
            return Err(ApiError::Md5Mismatch.into());
        }
        if let Some(s) = self.content_sha256
            && s != d.sha256
        {
            return Err(super::error::sha256_mismatch());
        }
        let mut all = self.checksums.clone();
        if let (Some(alg), Some(t)) = (self.trailer, trailing)
            && let Some(v) = header(t, &algorithm_header_name(alg))
        {
            let bytes = from_b64(v).ok_or_else(|| ApiError::InvalidChecksumTrailer(algorithm_header_name(alg)))?;
            all.push((alg, bytes));
        }
        for (alg, want) in &all {
            if d.checksum(*alg) != Some(want.as_slice()) {
                return Err(ApiError::ChecksumMismatch(alg.as_str()).into());
            }
        }
        Ok(())
    }

    /// The object checksum to store: the declared algorithm's value, when there is one.
    pub fn object_checksum(&self, d: &ChunkDigests) -> Option<ObjectChecksum> {
        let alg = self.algorithm?;
        d.checksum(alg).map(|v| ObjectChecksum {
            algorithm: alg,
            value: v.to_vec(),
            parts: None,
        })
    }
}

/// The checksum of `alg` a CompleteMultipartUpload lists for one part, if any.
pub fn listed_for_part(p: &s3s::dto::CompletedPart, alg: ChecksumAlgorithm) -> Option<&str> {
    match alg {
        ChecksumAlgorithm::Crc32 => p.checksum_crc32.as_deref(),
        ChecksumAlgorithm::Crc32c => p.checksum_crc32c.as_deref(),
        ChecksumAlgorithm::Crc64Nvme => p.checksum_crc64nvme.as_deref(),
        ChecksumAlgorithm::Sha1 => p.checksum_sha1.as_deref(),
        ChecksumAlgorithm::Sha256 => p.checksum_sha256.as_deref(),
    }
    .map(str::trim)
}

/// Checksum fields of an output DTO, filled from an object checksum.
#[derive(Default)]
pub struct Fields {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub checksum_type: Option<s3s::dto::ChecksumType>,
}

impl Fields {
    pub fn of(c: Option<&ObjectChecksum>) -> Self {
        let mut f = Fields::default();
        let Some(c) = c else { return f };
        let v = match c.parts {
            Some(n) => format!("{}-{n}", b64(&c.value)),
            None => b64(&c.value),
        };
        match c.algorithm {
            ChecksumAlgorithm::Crc32 => f.crc32 = Some(v),
            ChecksumAlgorithm::Crc32c => f.crc32c = Some(v),
            ChecksumAlgorithm::Crc64Nvme => f.crc64nvme = Some(v),
            ChecksumAlgorithm::Sha1 => f.sha1 = Some(v),
            ChecksumAlgorithm::Sha256 => f.sha256 = Some(v),
        }
        f.checksum_type = Some(s3s::dto::ChecksumType::from_static(if c.parts.is_some() {
            s3s::dto::ChecksumType::COMPOSITE
        } else {
            s3s::dto::ChecksumType::FULL_OBJECT
        }));
        f
    }

    pub fn of_part(alg: ChecksumAlgorithm, value: &[u8]) -> Self {
        Self::of(Some(&ObjectChecksum {
            algorithm: alg,
            value: value.to_vec(),
            parts: None,
        }))
    }
}

/// Copies checksum [`Fields`] into any output DTO that has the usual field names.
macro_rules! set_checksums {
    ($out:expr, $f:expr) => {{
        let f = $f;
        $out.checksum_crc32 = f.crc32;
        $out.checksum_crc32c = f.crc32c;
        $out.checksum_crc64nvme = f.crc64nvme;
        $out.checksum_sha1 = f.sha1;
        $out.checksum_sha256 = f.sha256;
    }};
}
pub(crate) use set_checksums;
