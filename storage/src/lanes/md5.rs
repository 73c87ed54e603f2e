//! Eight MD5 computations at once, one per 32-bit lane of a 256-bit vector.
//!
//! One MD5 stream cannot go faster than its chain of dependent additions and rotations
//! (about 5 cycles per step, 600 MiB/s on a 3 GHz core), but that chain is as long for
//! eight independent streams in the lanes of a vector as for one in a scalar register.
//! So eight concurrent uploads hash in about the time one does. Two builds of the same
//! kernel: AVX2, and AVX-512VL where rotations and the round functions are one
//! instruction each.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::{LaneHash, MAX_BLOCKS};

/// Streams one kernel call advances together.
const LANES: usize = 8;

/// MD5's initial chaining value.
const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// MD5's additive constants, `floor(abs(sin(i + 1)) * 2^32)`.
#[cfg(target_arch = "x86_64")]
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501, 0x698098d8,
    0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340,
    0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87,
    0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
    0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039,
    0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92,
    0xffeff47d, 0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
    0xeb86d391,
];

/// Which vector kernel this CPU runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Md5Lanes {
    Avx512,
    Avx2,
}

impl LaneHash for Md5Lanes {
    type State = [u32; 4];
    type Digest = [u8; 16];
    const INIT: [u32; 4] = INIT;
    const LANES: usize = LANES;
    const THREAD: &'static str = "fastgate-md5";
    const ENV: &'static str = "FASTGATE_MD5_LANES";

    fn detect() -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl") {
                return Some(Self::Avx512);
            }
            if is_x86_feature_detected!("avx2") {
                return Some(Self::Avx2);
            }
        }
        None
    }

    /// # Panics
    /// If an input is shorter than `blocks * 64` bytes, or there are more than eight.
    fn compress(self, states: &mut [[u32; 4]], inputs: &[&[u8]], blocks: usize) {
        static ZEROS: [u8; MAX_BLOCKS * 64] = [0; MAX_BLOCKS * 64];
        super::check_call(states.len(), inputs, blocks, LANES);
        if let ([state], [input], Self::Avx2) = (&mut *states, inputs, self) {
            // One stream alone: the scalar code is faster than one AVX2 lane.
            let (whole, _) = input[..blocks * 64].as_chunks::<64>();
            Self::compress_one(state, whole);
            return;
        }
        let mut all = [INIT; LANES];
        all[..states.len()].copy_from_slice(states);
        let all_inputs: [&[u8]; LANES] = std::array::from_fn(|l| inputs.get(l).copied().unwrap_or(&ZEROS[..]));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `detect` returned this kernel only if the CPU has its features, and every
        // input was checked above to hold `blocks` whole blocks (the zeros do too).
        unsafe {
            match self {
                Self::Avx512 => compress_avx512(&mut all, &all_inputs, blocks),
                Self::Avx2 => compress_avx2(&mut all, &all_inputs, blocks),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (&all_inputs, blocks);
        let n = states.len();
        states.copy_from_slice(&all[..n]);
    }

    fn compress_one(state: &mut [u32; 4], blocks: &[[u8; 64]]) {
        ::md5::block_api::compress(state, blocks);
    }

    fn digest(mut state: [u32; 4], tail: &[u8], len: u64) -> [u8; 16] {
        super::pad(&mut state, tail, len, u64::to_le_bytes, Self::compress_one);
        super::digest_bytes(state, u32::to_le_bytes)
    }
}

/// Transposes eight rows of eight 32-bit words: row `l` (lane `l`'s words) becomes
/// column `l` (lane `l` of every word vector).
#[cfg(target_arch = "x86_64")]
macro_rules! transpose8 {
    ($r:expr) => {{
        let r = $r;
        let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
        let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
        let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
        let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
        let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
        let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
        let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
        let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
        let u0 = _mm256_unpacklo_epi64(t0, t2);
        let u1 = _mm256_unpackhi_epi64(t0, t2);
        let u2 = _mm256_unpacklo_epi64(t1, t3);
        let u3 = _mm256_unpackhi_epi64(t1, t3);
        let u4 = _mm256_unpacklo_epi64(t4, t6);
        let u5 = _mm256_unpackhi_epi64(t4, t6);
        let u6 = _mm256_unpacklo_epi64(t5, t7);
        let u7 = _mm256_unpackhi_epi64(t5, t7);
        [
            _mm256_permute2x128_si256::<0x20>(u0, u4),
            _mm256_permute2x128_si256::<0x20>(u1, u5),
            _mm256_permute2x128_si256::<0x20>(u2, u6),
            _mm256_permute2x128_si256::<0x20>(u3, u7),
            _mm256_permute2x128_si256::<0x31>(u0, u4),
            _mm256_permute2x128_si256::<0x31>(u1, u5),
            _mm256_permute2x128_si256::<0x31>(u2, u6),
            _mm256_permute2x128_si256::<0x31>(u3, u7),
        ]
    }};
}

// The round functions and the rotation, once per instruction set.
#[cfg(target_arch = "x86_64")]
macro_rules! avx2_rotl {
    ($x:expr, $s:literal) => {
        _mm256_or_si256(_mm256_slli_epi32::<$s>($x), _mm256_srli_epi32::<{ 32 - $s }>($x))
    };
}
#[cfg(target_arch = "x86_64")]
macro_rules! avx2_select {
    // x ? y : z, bit by bit.
    ($x:expr, $y:expr, $z:expr) => {
        _mm256_xor_si256($z, _mm256_and_si256($x, _mm256_xor_si256($y, $z)))
    };
}
#[cfg(target_arch = "x86_64")]
macro_rules! avx2_xor3 {
    ($x:expr, $y:expr, $z:expr) => {
        _mm256_xor_si256(_mm256_xor_si256($x, $y), $z)
    };
}
#[cfg(target_arch = "x86_64")]
macro_rules! avx2_i {
    // y ^ (x | !z)
    ($x:expr, $y:expr, $z:expr) => {
        _mm256_xor_si256($y, _mm256_or_si256($x, _mm256_xor_si256($z, _mm256_set1_epi32(-1))))
    };
}
#[cfg(target_arch = "x86_64")]
macro_rules! avx512_rotl {
    ($x:expr, $s:literal) => {
        _mm256_rol_epi32::<$s>($x)
    };
}
#[cfg(target_arch = "x86_64")]
macro_rules! avx512_select {
    ($x:expr, $y:expr, $z:expr) => {
        _mm256_ternarylogic_epi32::<0xca>($x, $y, $z)
    };
}
#[cfg(target_arch = "x86_64")]
macro_rules! avx512_xor3 {
    ($x:expr, $y:expr, $z:expr) => {
        _mm256_ternarylogic_epi32::<0x96>($x, $y, $z)
    };
}
#[cfg(target_arch = "x86_64")]
macro_rules! avx512_i {
    ($x:expr, $y:expr, $z:expr) => {
        _mm256_ternarylogic_epi32::<0x39>($x, $y, $z)
    };
}

/// The kernel, generated once per instruction set from the same 64 steps.
#[cfg(target_arch = "x86_64")]
macro_rules! kernel {
    ($name:ident, $features:literal, $rotl:ident, $select:ident, $xor3:ident, $i:ident) => {
        #[target_feature(enable = $features)]
        unsafe fn $name(state: &mut [[u32; 4]; LANES], input: &[&[u8]; LANES], blocks: usize) {
            let lane = |w: usize| {
                let s = &*state;
                _mm256_setr_epi32(
                    s[0][w] as i32,
                    s[1][w] as i32,
                    s[2][w] as i32,
                    s[3][w] as i32,
                    s[4][w] as i32,
                    s[5][w] as i32,
                    s[6][w] as i32,
                    s[7][w] as i32,
                )
            };
            let (mut a, mut b, mut c, mut d) = (lane(0), lane(1), lane(2), lane(3));
            for block in 0..blocks {
                let mut lo = [_mm256_setzero_si256(); LANES];
                let mut hi = [_mm256_setzero_si256(); LANES];
                for l in 0..LANES {
                    // SAFETY: the caller checked that every input holds `blocks` blocks.
                    let p = unsafe { input[l].as_ptr().add(block * 64) };
                    lo[l] = unsafe { _mm256_loadu_si256(p.cast()) };
                    hi[l] = unsafe { _mm256_loadu_si256(p.add(32).cast()) };
                }
                let lo = transpose8!(lo);
                let hi = transpose8!(hi);
                let m = |g: usize| if g < 8 { lo[g] } else { hi[g - 8] };
                let (aa, bb, cc, dd) = (a, b, c, d);
                macro_rules! step {
                    ($f:ident, $w:ident, $x:ident, $y:ident, $z:ident, $g:expr, $k:expr, $s:literal) => {
                        // `w + m + k` is ready before `x` is; adding the round function
                        // last keeps the chain through `x` to four instructions.
                        let t = _mm256_add_epi32(
                            _mm256_add_epi32($w, _mm256_add_epi32(m($g), _mm256_set1_epi32(K[$k] as i32))),
                            $f!($x, $y, $z),
                        );
                        $w = _mm256_add_epi32($x, $rotl!(t, $s));
                    };
                }
                macro_rules! g {
                    ($x:expr, $y:expr, $z:expr) => {
                        $select!($z, $x, $y)
                    };
                }
                step!($select, a, b, c, d, 0, 0, 7);
                step!($select, d, a, b, c, 1, 1, 12);
                step!($select, c, d, a, b, 2, 2, 17);
                step!($select, b, c, d, a, 3, 3, 22);
                step!($select, a, b, c, d, 4, 4, 7);
                step!($select, d, a, b, c, 5, 5, 12);
                step!($select, c, d, a, b, 6, 6, 17);
                step!($select, b, c, d, a, 7, 7, 22);
                step!($select, a, b, c, d, 8, 8, 7);
                step!($select, d, a, b, c, 9, 9, 12);
                step!($select, c, d, a, b, 10, 10, 17);
                step!($select, b, c, d, a, 11, 11, 22);
                step!($select, a, b, c, d, 12, 12, 7);
                step!($select, d, a, b, c, 13, 13, 12);
                step!($select, c, d, a, b, 14, 14, 17);
                step!($select, b, c, d, a, 15, 15, 22);

                step!(g, a, b, c, d, 1, 16, 5);
                step!(g, d, a, b, c, 6, 17, 9);
                step!(g, c, d, a, b, 11, 18, 14);
                step!(g, b, c, d, a, 0, 19, 20);
                step!(g, a, b, c, d, 5, 20, 5);
                step!(g, d, a, b, c, 10, 21, 9);
                step!(g, c, d, a, b, 15, 22, 14);
                step!(g, b, c, d, a, 4, 23, 20);
                step!(g, a, b, c, d, 9, 24, 5);
                step!(g, d, a, b, c, 14, 25, 9);
                step!(g, c, d, a, b, 3, 26, 14);
                step!(g, b, c, d, a, 8, 27, 20);
                step!(g, a, b, c, d, 13, 28, 5);
                step!(g, d, a, b, c, 2, 29, 9);
                step!(g, c, d, a, b, 7, 30, 14);
                step!(g, b, c, d, a, 12, 31, 20);

                step!($xor3, a, b, c, d, 5, 32, 4);
                step!($xor3, d, a, b, c, 8, 33, 11);
                step!($xor3, c, d, a, b, 11, 34, 16);
                step!($xor3, b, c, d, a, 14, 35, 23);
                step!($xor3, a, b, c, d, 1, 36, 4);
                step!($xor3, d, a, b, c, 4, 37, 11);
                step!($xor3, c, d, a, b, 7, 38, 16);
                step!($xor3, b, c, d, a, 10, 39, 23);
                step!($xor3, a, b, c, d, 13, 40, 4);
                step!($xor3, d, a, b, c, 0, 41, 11);
                step!($xor3, c, d, a, b, 3, 42, 16);
                step!($xor3, b, c, d, a, 6, 43, 23);
                step!($xor3, a, b, c, d, 9, 44, 4);
                step!($xor3, d, a, b, c, 12, 45, 11);
                step!($xor3, c, d, a, b, 15, 46, 16);
                step!($xor3, b, c, d, a, 2, 47, 23);

                step!($i, a, b, c, d, 0, 48, 6);
                step!($i, d, a, b, c, 7, 49, 10);
                step!($i, c, d, a, b, 14, 50, 15);
                step!($i, b, c, d, a, 5, 51, 21);
                step!($i, a, b, c, d, 12, 52, 6);
                step!($i, d, a, b, c, 3, 53, 10);
                step!($i, c, d, a, b, 10, 54, 15);
                step!($i, b, c, d, a, 1, 55, 21);
                step!($i, a, b, c, d, 8, 56, 6);
                step!($i, d, a, b, c, 15, 57, 10);
                step!($i, c, d, a, b, 6, 58, 15);
                step!($i, b, c, d, a, 13, 59, 21);
                step!($i, a, b, c, d, 4, 60, 6);
                step!($i, d, a, b, c, 11, 61, 10);
                step!($i, c, d, a, b, 2, 62, 15);
                step!($i, b, c, d, a, 9, 63, 21);

                a = _mm256_add_epi32(a, aa);
                b = _mm256_add_epi32(b, bb);
                c = _mm256_add_epi32(c, cc);
                d = _mm256_add_epi32(d, dd);
            }
            let mut out = [[0u32; LANES]; 4];
            for (w, v) in [a, b, c, d].into_iter().enumerate() {
                // SAFETY: `out[w]` is 32 bytes, the size of one vector.
                unsafe { _mm256_storeu_si256(out[w].as_mut_ptr().cast(), v) };
            }
            for l in 0..LANES {
                state[l] = [out[0][l], out[1][l], out[2][l], out[3][l]];
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
kernel!(compress_avx2, "avx2", avx2_rotl, avx2_select, avx2_xor3, avx2_i);
#[cfg(target_arch = "x86_64")]
kernel!(
    compress_avx512,
    "avx2,avx512f,avx512vl",
    avx512_rotl,
    avx512_select,
    avx512_xor3,
    avx512_i
);
