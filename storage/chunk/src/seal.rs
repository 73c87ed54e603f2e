//! Chunks encrypted on disk ("sealed"): the segment format, data keys and their
//! wrapping, and the ids of sealed chunks.
//!
//! # Format
//! A sealed chunk is its plaintext cut into segments of [`SEGMENT`] bytes (the last one
//! shorter, an empty chunk one empty segment), each stored as its AES-256-GCM
//! ciphertext followed by its 16-byte tag. Segment `i` is sealed under the chunk's
//! data key with the nonce `i` (8 bytes, big-endian), then one byte that is 1 for the
//! last segment and 0 for the others, then three zero bytes. Every chunk has a data key
//! of its own, drawn at random when it is written, so a nonce is never used twice under
//! a key; and because the index and the last flag are in the nonce, segments that are
//! reordered, dropped, or cut off at a segment boundary fail authentication instead of
//! decrypting to a shorter or shuffled plaintext. A segment decrypts on its own, so a
//! range read decrypts only the segments it returns (MinIO's DARE format works alike).
//!
//! # Cipher
//! AES-256-GCM is ring's (BoringSSL's assembly, the ring TLS already links), not
//! RustCrypto's `aes-gcm`: a GET of a sealed object decrypts every byte it sends, and
//! the stitched AES + carry-less-multiply code (VAES/AVX2 where the CPU has it)
//! opens 64 KiB segments at about 5 GB/s on this project's 2-core benchmark VM where
//! `aes-gcm` 0.11 opens about 2 GB/s, which is what keeps a sealed GET near a
//! plaintext one (README, "Encryption at rest"). The format is plain AES-256-GCM, so
//! either library reads what the other wrote; a test holds them to that.
//!
//! # Keys
//! The data key is kept with the chunk's record, wrapped (AES-256-GCM, random nonce)
//! under a key-encryption key that the model picks (the server's master key, an
//! operator's named key, or one derived from an SSE-C customer key); the wrapping
//! authenticates the key's name and the chunk's id, so a wrapped key copied onto
//! another chunk's record does not unwrap. Rotating a key rewraps records and never
//! touches a chunk.
//!
//! # Identity
//! A sealed chunk is never stored or deduplicated as its plaintext: its id is
//! `HMAC-SHA256(id_key, SHA-256(plaintext))`, where the model derives `id_key` from the
//! key scope (SSE-S3, one named KMS key, one customer key). Chunks under one scope
//! still deduplicate among themselves, and an instant upload derives the same id from
//! the client's SHA-256; under another scope, or as plaintext, the same content is
//! another chunk.

use hmac::{Hmac, Mac};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
use sha2::Sha256;

use crate::ids::ChunkHash;

/// Plaintext bytes per segment.
pub const SEGMENT: usize = 64 * 1024;
/// The tag each segment carries after its ciphertext.
pub const TAG: usize = 16;
const NONCE: usize = 12;

/// A 256-bit key: a chunk's data key or a key-encryption key. Its bytes are never
/// printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Key256(pub [u8; 32]);

impl std::fmt::Debug for Key256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key256(..)")
    }
}

impl Key256 {
    /// A fresh random key.
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// AES-256-GCM under this key.
    fn cipher(&self) -> LessSafeKey {
        match UnboundKey::new(&AES_256_GCM, &self.0) {
            Ok(key) => LessSafeKey::new(key),
            // ring refuses only a key of another length than the algorithm's, and
            // AES-256's is 32 bytes, the length of every `Key256`.
            Err(_) => unreachable!("a 32-byte key is refused by AES-256-GCM"),
        }
    }
}

/// A key that failed to authenticate what it was given: a wrong key, or bytes that were
/// changed, reordered or cut short.
#[derive(Debug, thiserror::Error)]
#[error("sealed data failed authentication: {0}")]
pub struct SealError(pub &'static str);

impl From<SealError> for std::io::Error {
    fn from(e: SealError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, e)
    }
}

/// How a new chunk is to be sealed: the key its data key is wrapped under (and that
/// key's name, authenticated with the wrapping), and the key its id is derived with.
#[derive(Clone, Debug)]
pub struct SealSpec {
    pub key_id: String,
    pub kek: Key256,
    pub id_key: Key256,
}

impl SealSpec {
    /// The id a sealed chunk of plaintext SHA-256 `sha256` has under this spec.
    pub fn chunk_id(&self, sha256: &[u8; 32]) -> ChunkHash {
        chunk_id(&self.id_key, sha256)
    }
}

/// `HMAC-SHA256(id_key, sha256)`: the id of a sealed chunk.
pub fn chunk_id(id_key: &Key256, sha256: &[u8; 32]) -> ChunkHash {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&id_key.0).unwrap_or_else(|_| unreachable!());
    mac.update(sha256);
    ChunkHash(mac.finalize().into_bytes().into())
}

/// What a sealed staged chunk carries to its record: its id and its data key wrapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub id: ChunkHash,
    pub key_id: String,
    pub wrapped: Vec<u8>,
}

fn wrap_aad(key_id: &str, id: &ChunkHash) -> Vec<u8> {
    let mut aad = Vec::with_capacity(key_id.len() + 33);
    aad.extend_from_slice(key_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&id.0);
    aad
}

/// Wraps `data_key` under `kek` for chunk `id`: a random nonce, the ciphertext, the tag.
pub fn wrap(kek: &Key256, key_id: &str, id: &ChunkHash, data_key: &Key256) -> Vec<u8> {
    let nonce: [u8; NONCE] = rand::random();
    let mut body = data_key.0;
    // A 32-byte message cannot exceed AES-GCM's limits, so sealing cannot fail.
    let tag = kek.cipher().seal_in_place_separate_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(wrap_aad(key_id, id)),
        &mut body,
    );
    let mut out = Vec::with_capacity(NONCE + 32 + TAG);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    out.extend_from_slice(tag.as_ref().map_or(&[0; TAG][..], |t| t.as_ref()));
    out
}

/// Unwraps a data key [`wrap`] made for chunk `id` under `kek` named `key_id`.
pub fn unwrap(kek: &Key256, key_id: &str, id: &ChunkHash, wrapped: &[u8]) -> Result<Key256, SealError> {
    if wrapped.len() != NONCE + 32 + TAG {
        return Err(SealError("a wrapped key has the wrong length"));
    }
    let nonce: [u8; NONCE] = wrapped[..NONCE].try_into().map_err(|_| SealError("nonce"))?;
    let mut body: [u8; 32] = wrapped[NONCE..NONCE + 32].try_into().map_err(|_| SealError("key"))?;
    let tag = Tag::try_from(&wrapped[NONCE + 32..]).map_err(|_| SealError("tag"))?;
    kek.cipher()
        .open_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(wrap_aad(key_id, id)),
            tag,
            &mut body,
            0..,
        )
        .map_err(|_| SealError("the data key does not unwrap under this key"))?;
    Ok(Key256(body))
}

/// The size on disk of a sealed chunk of `plain` bytes.
pub fn sealed_len(plain: u64) -> u64 {
    plain + TAG as u64 * segments(plain)
}

/// How many segments a chunk of `plain` bytes has (an empty one has one).
pub fn segments(plain: u64) -> u64 {
    plain.div_ceil(SEGMENT as u64).max(1)
}

fn nonce(index: u64, last: bool) -> Nonce {
    let mut n = [0u8; NONCE];
    n[..8].copy_from_slice(&index.to_be_bytes());
    n[8] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

/// Seals a chunk's plaintext as it streams: [`Sealer::push`] seals every segment that
/// is known not to be the last, [`Sealer::finish`] the last one.
pub struct Sealer {
    cipher: LessSafeKey,
    index: u64,
    /// At most one segment's plaintext not sealed yet: a full segment is held back until
    /// more bytes show it is not the last.
    carry: Vec<u8>,
}

impl Sealer {
    pub fn new(data_key: &Key256) -> Self {
        Self {
            cipher: data_key.cipher(),
            index: 0,
            carry: Vec::with_capacity(SEGMENT),
        }
    }

    fn seal_segment(&mut self, plain: &[u8], last: bool, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(plain);
        // A segment is far below AES-GCM's message limit, so this cannot fail.
        let tag = self
            .cipher
            .seal_in_place_separate_tag(nonce(self.index, last), Aad::empty(), &mut out[start..]);
        out.extend_from_slice(tag.as_ref().map_or(&[0; TAG][..], |t| t.as_ref()));
        self.index += 1;
    }

    /// Appends to `out` the sealed segments `data` completes, all but a last one.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        while !data.is_empty() {
            if self.carry.len() == SEGMENT {
                let full = std::mem::take(&mut self.carry);
                self.seal_segment(&full, false, out);
                self.carry = full;
                self.carry.clear();
            }
            if self.carry.is_empty() && data.len() > SEGMENT {
                // Whole segments straight from the input, with more input after them.
                let (seg, rest) = data.split_at(SEGMENT);
                self.seal_segment(seg, false, out);
                data = rest;
                continue;
            }
            let n = (SEGMENT - self.carry.len()).min(data.len());
            self.carry.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
    }

    /// Appends the last segment to `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        let last = std::mem::take(&mut self.carry);
        self.seal_segment(&last, true, out);
    }

    /// Seals a whole chunk in one call.
    pub fn seal_all(data_key: &Key256, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(usize::try_from(sealed_len(plain.len() as u64)).unwrap_or(0));
        let mut s = Self::new(data_key);
        s.push(plain, &mut out);
        s.finish(&mut out);
        out
    }
}

/// Which sealed bytes a plaintext range `[from, to)` of a chunk of `plain` bytes needs:
/// the byte range on disk (relative to the chunk's start) and the first segment's index.
pub fn sealed_range(plain: u64, from: u64, to: u64) -> (u64, u64, u64) {
    let seg = SEGMENT as u64;
    let first = from / seg;
    let last = if to == 0 { 0 } else { (to - 1) / seg };
    let start = first * (seg + TAG as u64);
    let end = ((last + 1) * (seg + TAG as u64)).min(sealed_len(plain));
    (start, end, first)
}

/// Opens the sealed segments in `buf` (as [`sealed_range`] chose them, starting with
/// segment `first` of a chunk of `plain` bytes) in place: `buf` is left holding their
/// plaintext alone. Each segment's plaintext is written where the one before it ended,
/// over the tags, by the decryption itself (ring decrypts from one offset to a lower
/// one in the same pass), so closing the gaps costs no second pass over the data.
pub fn open_in_place(data_key: &Key256, plain: u64, first: u64, buf: &mut Vec<u8>) -> Result<(), SealError> {
    let cipher = data_key.cipher();
    let total = segments(plain);
    let (mut read, mut written) = (0usize, 0usize);
    for index in first.. {
        if read == buf.len() {
            break;
        }
        let len = (buf.len() - read).min(SEGMENT + TAG);
        if len < TAG {
            return Err(SealError("a segment is cut short"));
        }
        let body_end = read + len - TAG;
        let tag = Tag::try_from(&buf[body_end..read + len]).map_err(|_| SealError("tag"))?;
        cipher
            .open_in_place_separate_tag(
                nonce(index, index + 1 == total),
                Aad::empty(),
                tag,
                &mut buf[written..body_end],
                read - written..,
            )
            .map_err(|_| SealError("a segment does not authenticate"))?;
        written += body_end - read;
        read += len;
    }
    buf.truncate(written);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_range(key: &Key256, sealed: &[u8], plain: u64, from: u64, to: u64) -> Result<Vec<u8>, SealError> {
        let (s, e, first) = sealed_range(plain, from, to);
        let mut buf = sealed[s as usize..e as usize].to_vec();
        open_in_place(key, plain, first, &mut buf)?;
        let skip = (from - first * SEGMENT as u64) as usize;
        Ok(buf[skip..skip + (to - from) as usize].to_vec())
    }

    #[test]
    fn every_range_of_a_sealed_chunk_opens_to_its_plaintext_whatever_the_write_pieces() {
        let key = Key256::random();
        for size in [
            0usize,
            1,
            SEGMENT - 1,
            SEGMENT,
            SEGMENT + 1,
            3 * SEGMENT,
            3 * SEGMENT + 100,
        ] {
            let plain: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let mut streamed = Vec::new();
            let mut s = Sealer::new(&key);
            for piece in plain.chunks(40_000) {
                s.push(piece, &mut streamed);
            }
            s.finish(&mut streamed);
            let mut whole = Sealer::seal_all(&key, &plain);
            assert_eq!(streamed.len() as u64, sealed_len(size as u64));
            // Ciphertext differs from plaintext, and both writes read back alike.
            assert!(size < 16 || !streamed.windows(16).any(|w| w == &plain[..16]));
            for (from, to) in [(0, size), (size / 3, size), (size / 2, size / 2 + 1), (0, 0)] {
                if from > to || to > size {
                    continue;
                }
                let (f, t) = (from as u64, to as u64);
                assert_eq!(
                    open_range(&key, &streamed, size as u64, f, t).unwrap(),
                    &plain[from..to]
                );
                assert_eq!(open_range(&key, &whole, size as u64, f, t).unwrap(), &plain[from..to]);
            }
            // A flipped byte fails.
            let at = whole.len() / 2;
            whole[at] ^= 1;
            assert!(open_range(&key, &whole, size as u64, 0, size as u64).is_err());
        }
    }

    #[test]
    fn a_sealed_chunk_cut_at_a_segment_boundary_or_reordered_does_not_open() {
        let key = Key256::random();
        let plain = vec![9u8; 3 * SEGMENT];
        let sealed = Sealer::seal_all(&key, &plain);
        // Claimed shorter by one segment: its last segment is not marked last.
        let two = (2 * (SEGMENT + TAG)) as u64;
        let mut cut = sealed[..two as usize].to_vec();
        assert!(open_in_place(&key, 2 * SEGMENT as u64, 0, &mut cut).is_err());
        let mut swapped = sealed[SEGMENT + TAG..].to_vec();
        swapped.extend_from_slice(&sealed[..SEGMENT + TAG]);
        assert!(open_in_place(&key, plain.len() as u64, 0, &mut swapped).is_err());
        assert!(open_in_place(&Key256::random(), plain.len() as u64, 0, &mut sealed.clone()).is_err());
    }

    /// Chunks sealed before the move to ring (by RustCrypto's `aes-gcm`) still open, and
    /// what ring seals opens with `aes-gcm`: the format is the cipher's, not a library's.
    #[test]
    fn segments_and_wrapped_keys_are_plain_aes_256_gcm_that_rustcrypto_reads_and_writes_too() {
        use aes_gcm::aead::{AeadInOut, KeyInit};
        use aes_gcm::{Aes256Gcm, Key};
        type RcNonce = aes_gcm::Nonce<aes_gcm::aead::consts::U12>;
        let key = Key256::random();
        let rc = Aes256Gcm::new(&Key::<Aes256Gcm>::from(key.0));
        let plain: Vec<u8> = (0..SEGMENT * 2 + 1000).map(|i| (i % 251) as u8).collect();
        let sealed = Sealer::seal_all(&key, &plain);
        for (i, seg) in sealed.chunks(SEGMENT + TAG).enumerate() {
            let mut n = [0u8; NONCE];
            n[..8].copy_from_slice(&(i as u64).to_be_bytes());
            n[8] = u8::from(i == 2);
            let mut body = seg[..seg.len() - TAG].to_vec();
            let tag: [u8; TAG] = seg[seg.len() - TAG..].try_into().unwrap();
            rc.decrypt_inout_detached(&RcNonce::from(n), &[], body.as_mut_slice().into(), &tag.into())
                .unwrap();
            assert_eq!(body, plain[i * SEGMENT..((i + 1) * SEGMENT).min(plain.len())]);
        }
        // A segment sealed by aes-gcm opens here.
        let mut n = [0u8; NONCE];
        n[8] = 1;
        let mut one = plain[..100].to_vec();
        let tag = rc
            .encrypt_inout_detached(&RcNonce::from(n), &[], one.as_mut_slice().into())
            .unwrap();
        one.extend_from_slice(&tag);
        open_in_place(&key, 100, 0, &mut one).unwrap();
        assert_eq!(one, plain[..100]);
        // And a data key wrapped by aes-gcm unwraps.
        let (kek, id, data) = (Key256::random(), ChunkHash([3; 32]), Key256::random());
        let nonce = [5u8; NONCE];
        let mut body = data.0;
        let tag = Aes256Gcm::new(&Key::<Aes256Gcm>::from(kek.0))
            .encrypt_inout_detached(&RcNonce::from(nonce), &wrap_aad("k1", &id), (&mut body[..]).into())
            .unwrap();
        let wrapped = [&nonce[..], &body[..], &tag[..]].concat();
        assert_eq!(unwrap(&kek, "k1", &id, &wrapped).unwrap(), data);
    }

    #[test]
    fn a_wrapped_key_unwraps_only_under_its_key_for_its_chunk() {
        let (kek, data) = (Key256::random(), Key256::random());
        let id = ChunkHash([1; 32]);
        let w = wrap(&kek, "master", &id, &data);
        assert_eq!(unwrap(&kek, "master", &id, &w).unwrap(), data);
        assert!(unwrap(&kek, "master", &ChunkHash([2; 32]), &w).is_err());
        assert!(unwrap(&kek, "other", &id, &w).is_err());
        assert!(unwrap(&Key256::random(), "master", &id, &w).is_err());
    }
}
