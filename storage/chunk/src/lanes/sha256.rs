//! Up to four SHA-256 computations at once with the x86 SHA extensions.
//!
//! `sha256rnds2` does two rounds of one stream per instruction, and each depends on the
//! one before: a single stream leaves the unit idle while it waits (1.7-1.9 GiB/s on
//! this project's 2-core test machines, the `sha2` crate included). Two to four streams
//! interleaved round by round keep it busy: 2.2 GiB/s together on an Intel Xeon VM, 3.6
//! on an AMD Zen 5 one, so the SHA-256 of concurrent large uploads costs a fifth to a
//! half less CPU than hashing each on its own.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::LaneHash;

/// Streams one kernel call advances together; beyond four the unit is already busy.
const LANES: usize = 4;

/// SHA-256's initial chaining value.
const INIT: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// SHA-256's round constants.
#[cfg(target_arch = "x86_64")]
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

/// The SHA-extension kernel, where the CPU has it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Sha256Lanes(());

impl LaneHash for Sha256Lanes {
    type State = [u32; 8];
    type Digest = [u8; 32];
    const INIT: [u32; 8] = INIT;
    const LANES: usize = LANES;
    const THREAD: &'static str = "fastgate-sha256";
    const ENV: &'static str = "FASTGATE_SHA256_LANES";

    fn detect() -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("sha") && is_x86_feature_detected!("sse4.1") {
                return Some(Self(()));
            }
        }
        None
    }

    /// # Panics
    /// If an input is shorter than `blocks * 64` bytes, or there are more than four.
    fn compress(self, states: &mut [[u32; 8]], inputs: &[&[u8]], blocks: usize) {
        super::check_call(states.len(), inputs, blocks, LANES);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `detect` returned this kernel only if the CPU has the SHA extensions,
        // and every input was checked above to hold `blocks` whole blocks.
        unsafe {
            match (states, inputs) {
                ([a], [x]) => interleaved::<1>([a], [x], blocks),
                ([a, b], [x, y]) => interleaved::<2>([a, b], [x, y], blocks),
                ([a, b, c], [x, y, z]) => interleaved::<3>([a, b, c], [x, y, z], blocks),
                ([a, b, c, d], [w, x, y, z]) => interleaved::<4>([a, b, c, d], [w, x, y, z], blocks),
                _ => {}
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (states, inputs, blocks);
    }

    fn compress_one(state: &mut [u32; 8], blocks: &[[u8; 64]]) {
        sha2::block_api::compress256(state, blocks);
    }

    fn digest(mut state: [u32; 8], tail: &[u8], len: u64) -> [u8; 32] {
        super::pad(&mut state, tail, len, u64::to_be_bytes, Self::compress_one);
        super::digest_bytes(state, u32::to_be_bytes)
    }
}

/// `N` streams, round by round: the message schedule and two `sha256rnds2` of each
/// stream in turn, so that one stream's rounds run while the others' wait. The state
/// layout (ABEF/CDGH) is the one Intel's SHA-extensions paper describes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
unsafe fn interleaved<const N: usize>(state: [&mut [u32; 8]; N], input: [&&[u8]; N], blocks: usize) {
    let mask = _mm_set_epi64x(0x0C0D_0E0F_0809_0A0Bu64 as i64, 0x0405_0607_0001_0203u64 as i64);
    let mut abef = [_mm_setzero_si128(); N];
    let mut cdgh = [_mm_setzero_si128(); N];
    for l in 0..N {
        // SAFETY: a state is 32 bytes, two unaligned 16-byte loads.
        let (dcba, efgh) = unsafe {
            let p = state[l].as_ptr().cast::<__m128i>();
            (_mm_loadu_si128(p), _mm_loadu_si128(p.add(1)))
        };
        let cdab = _mm_shuffle_epi32::<0xB1>(dcba);
        let efgh = _mm_shuffle_epi32::<0x1B>(efgh);
        abef[l] = _mm_alignr_epi8::<8>(cdab, efgh);
        cdgh[l] = _mm_blend_epi16::<0xF0>(efgh, cdab);
    }
    for b in 0..blocks {
        let (save_abef, save_cdgh) = (abef, cdgh);
        let mut w = [[_mm_setzero_si128(); 4]; N];
        for l in 0..N {
            for (j, wj) in w[l].iter_mut().enumerate() {
                // SAFETY: the caller checked that every input holds `blocks` blocks.
                *wj = _mm_shuffle_epi8(
                    unsafe { _mm_loadu_si128(input[l].as_ptr().add(b * 64 + 16 * j).cast()) },
                    mask,
                );
            }
        }
        for i in 0..16 {
            // SAFETY: `K` has 64 words; `i * 4 + 3 < 64`.
            let k = unsafe { _mm_loadu_si128(K.as_ptr().add(i * 4).cast()) };
            for l in 0..N {
                let words = if i < 4 {
                    w[l][i]
                } else {
                    let [v0, v1, v2, v3] = [0, 1, 2, 3].map(|j| w[l][(i + j) % 4]);
                    let t = _mm_add_epi32(_mm_sha256msg1_epu32(v0, v1), _mm_alignr_epi8::<4>(v3, v2));
                    let next = _mm_sha256msg2_epu32(t, v3);
                    w[l][i % 4] = next;
                    next
                };
                let wk = _mm_add_epi32(words, k);
                cdgh[l] = _mm_sha256rnds2_epu32(cdgh[l], abef[l], wk);
                abef[l] = _mm_sha256rnds2_epu32(abef[l], cdgh[l], _mm_shuffle_epi32::<0x0E>(wk));
            }
        }
        for l in 0..N {
            abef[l] = _mm_add_epi32(abef[l], save_abef[l]);
            cdgh[l] = _mm_add_epi32(cdgh[l], save_cdgh[l]);
        }
    }
    for l in 0..N {
        let feba = _mm_shuffle_epi32::<0x1B>(abef[l]);
        let dchg = _mm_shuffle_epi32::<0xB1>(cdgh[l]);
        let dcba = _mm_blend_epi16::<0xF0>(feba, dchg);
        let hgef = _mm_alignr_epi8::<8>(dchg, feba);
        // SAFETY: a state is 32 bytes, two unaligned 16-byte stores.
        unsafe {
            let p = state[l].as_mut_ptr().cast::<__m128i>();
            _mm_storeu_si128(p, dcba);
            _mm_storeu_si128(p.add(1), hgef);
        }
    }
}
