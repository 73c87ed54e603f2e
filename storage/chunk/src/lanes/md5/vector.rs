//! Eight MD5 computations at once, one per 32-bit lane of a 256-bit vector.
//!
//! The chain of one step is as long for eight independent streams in the lanes of a
//! vector as for one in a scalar register, so where a vector instruction is as quick as
//! a scalar one (Intel cores) eight concurrent uploads hash in about the time one does.
//! Two builds of the same kernel: AVX2, and AVX-512VL where rotations and the round
//! functions are one instruction each.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::INIT;
#[cfg(target_arch = "x86_64")]
use super::K;
use crate::lanes::MAX_BLOCKS;

/// Streams one kernel call advances together.
pub(super) const LANES: usize = 8;

/// Which vector kernel this CPU runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Vector {
    Avx512,
    Avx2,
}

impl Vector {
    pub(crate) fn detect() -> Option<Self> {
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

    /// Advances up to eight states at once; the caller has checked the call
    /// ([`super::super::check_call`]).
    pub(super) fn compress(self, states: &mut [[u32; 4]], inputs: &[&[u8]], blocks: usize) {
        static ZEROS: [u8; MAX_BLOCKS * 64] = [0; MAX_BLOCKS * 64];
        let mut all = [INIT; LANES];
        all[..states.len()].copy_from_slice(states);
        let all_inputs: [&[u8]; LANES] = std::array::from_fn(|l| inputs.get(l).copied().unwrap_or(&ZEROS[..]));
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `detect` returned this kernel only if the CPU has its features, and the
        // caller checked that every input holds `blocks` whole blocks (the zeros do too).
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
                    // SAFETY: `p` starts a whole 64-byte block of the input (see above);
                    // unaligned loads of its two halves.
                    lo[l] = unsafe { _mm256_loadu_si256(p.cast()) };
                    // SAFETY: as above, the second half of the same block.
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
                md5_steps!(step, $select, g, $xor3, $i; a, b, c, d);

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
