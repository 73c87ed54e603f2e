//! Many MD5 computations at once, by the kernel that is fastest on this CPU.
//!
//! One MD5 stream cannot go faster than its chain of dependent additions and rotations
//! (about 5 cycles per step, 600-700 MiB/s on a 3 GHz core), but independent streams
//! can advance side by side, in two ways: in the lanes of a vector register
//! ([`vector`]), or interleaved in scalar registers ([`interleaved`]), where the core's
//! several integer units run one stream's step while another's waits. Which is faster
//! depends on the core, and not by a little: on Intel's, a vector step takes as long as
//! a scalar one and eight streams hash in the time of one; on AMD's Zen 5 a vector step
//! takes twice as long, and four interleaved scalar streams hash at 1,950 MiB/s
//! together against 1,540 in four vector lanes (eight vector lanes still reach 3,080).
//! So the choice is measured, once, when the engine starts ([`Md5Lanes::detect`]).

use std::time::{Duration, Instant};

use super::LaneHash;

/// MD5's 64 steps in order, as calls of `$step!(round function, target, x, y, z,
/// message word, constant, rotation)` over the state words `$a $b $c $d`, for kernels
/// that differ only in how one step is computed.
macro_rules! md5_steps {
    ($step:ident, $f:ident, $g:ident, $h:ident, $i:ident; $a:ident, $b:ident, $c:ident, $d:ident) => {
        $step!($f, $a, $b, $c, $d, 0, 0, 7);
        $step!($f, $d, $a, $b, $c, 1, 1, 12);
        $step!($f, $c, $d, $a, $b, 2, 2, 17);
        $step!($f, $b, $c, $d, $a, 3, 3, 22);
        $step!($f, $a, $b, $c, $d, 4, 4, 7);
        $step!($f, $d, $a, $b, $c, 5, 5, 12);
        $step!($f, $c, $d, $a, $b, 6, 6, 17);
        $step!($f, $b, $c, $d, $a, 7, 7, 22);
        $step!($f, $a, $b, $c, $d, 8, 8, 7);
        $step!($f, $d, $a, $b, $c, 9, 9, 12);
        $step!($f, $c, $d, $a, $b, 10, 10, 17);
        $step!($f, $b, $c, $d, $a, 11, 11, 22);
        $step!($f, $a, $b, $c, $d, 12, 12, 7);
        $step!($f, $d, $a, $b, $c, 13, 13, 12);
        $step!($f, $c, $d, $a, $b, 14, 14, 17);
        $step!($f, $b, $c, $d, $a, 15, 15, 22);

        $step!($g, $a, $b, $c, $d, 1, 16, 5);
        $step!($g, $d, $a, $b, $c, 6, 17, 9);
        $step!($g, $c, $d, $a, $b, 11, 18, 14);
        $step!($g, $b, $c, $d, $a, 0, 19, 20);
        $step!($g, $a, $b, $c, $d, 5, 20, 5);
        $step!($g, $d, $a, $b, $c, 10, 21, 9);
        $step!($g, $c, $d, $a, $b, 15, 22, 14);
        $step!($g, $b, $c, $d, $a, 4, 23, 20);
        $step!($g, $a, $b, $c, $d, 9, 24, 5);
        $step!($g, $d, $a, $b, $c, 14, 25, 9);
        $step!($g, $c, $d, $a, $b, 3, 26, 14);
        $step!($g, $b, $c, $d, $a, 8, 27, 20);
        $step!($g, $a, $b, $c, $d, 13, 28, 5);
        $step!($g, $d, $a, $b, $c, 2, 29, 9);
        $step!($g, $c, $d, $a, $b, 7, 30, 14);
        $step!($g, $b, $c, $d, $a, 12, 31, 20);

        $step!($h, $a, $b, $c, $d, 5, 32, 4);
        $step!($h, $d, $a, $b, $c, 8, 33, 11);
        $step!($h, $c, $d, $a, $b, 11, 34, 16);
        $step!($h, $b, $c, $d, $a, 14, 35, 23);
        $step!($h, $a, $b, $c, $d, 1, 36, 4);
        $step!($h, $d, $a, $b, $c, 4, 37, 11);
        $step!($h, $c, $d, $a, $b, 7, 38, 16);
        $step!($h, $b, $c, $d, $a, 10, 39, 23);
        $step!($h, $a, $b, $c, $d, 13, 40, 4);
        $step!($h, $d, $a, $b, $c, 0, 41, 11);
        $step!($h, $c, $d, $a, $b, 3, 42, 16);
        $step!($h, $b, $c, $d, $a, 6, 43, 23);
        $step!($h, $a, $b, $c, $d, 9, 44, 4);
        $step!($h, $d, $a, $b, $c, 12, 45, 11);
        $step!($h, $c, $d, $a, $b, 15, 46, 16);
        $step!($h, $b, $c, $d, $a, 2, 47, 23);

        $step!($i, $a, $b, $c, $d, 0, 48, 6);
        $step!($i, $d, $a, $b, $c, 7, 49, 10);
        $step!($i, $c, $d, $a, $b, 14, 50, 15);
        $step!($i, $b, $c, $d, $a, 5, 51, 21);
        $step!($i, $a, $b, $c, $d, 12, 52, 6);
        $step!($i, $d, $a, $b, $c, 3, 53, 10);
        $step!($i, $c, $d, $a, $b, 10, 54, 15);
        $step!($i, $b, $c, $d, $a, 1, 55, 21);
        $step!($i, $a, $b, $c, $d, 8, 56, 6);
        $step!($i, $d, $a, $b, $c, 15, 57, 10);
        $step!($i, $c, $d, $a, $b, 6, 58, 15);
        $step!($i, $b, $c, $d, $a, 13, 59, 21);
        $step!($i, $a, $b, $c, $d, 4, 60, 6);
        $step!($i, $d, $a, $b, $c, 11, 61, 10);
        $step!($i, $c, $d, $a, $b, 2, 62, 15);
        $step!($i, $b, $c, $d, $a, 9, 63, 21);
    };
}

mod interleaved;
mod vector;

pub(crate) use vector::Vector;

/// MD5's initial chaining value.
const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// MD5's additive constants, `floor(abs(sin(i + 1)) * 2^32)`.
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

/// How an engine call of some number of streams is run: in vector lanes from
/// `vector_from` streams on, below that interleaved in scalar registers, up to
/// [`interleaved::MAX`] streams per pass.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Md5Lanes {
    vector: Option<Vector>,
    vector_from: usize,
}

impl Md5Lanes {
    /// Interleaved scalar passes only: any CPU.
    pub(crate) const SCALAR: Self = Self {
        vector: None,
        vector_from: usize::MAX,
    };

    /// `vector` for calls of `vector_from` streams or more.
    pub(crate) fn with_vector(vector: Vector, vector_from: usize) -> Self {
        Self {
            vector: Some(vector),
            vector_from,
        }
    }

    /// The plan that is fastest here, by timing each kernel on cached data: a vector
    /// call of all eight lanes against interleaved passes over 1 to 4 streams. Takes
    /// about a millisecond; the best of several tries keeps a preempted one out.
    fn measure(vector: Vector) -> Self {
        const BLOCKS: usize = 32;
        let data = vec![0x5au8; vector::LANES * BLOCKS * 64];
        let inputs: Vec<&[u8]> = data.chunks_exact(BLOCKS * 64).collect();
        let best = |f: &dyn Fn()| {
            (0..12)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed()
                })
                .min()
                .unwrap_or(Duration::ZERO)
        };
        let lanes = best(&|| {
            let mut states = [INIT; vector::LANES];
            vector.compress(&mut states, &inputs, BLOCKS);
            std::hint::black_box(states);
        });
        let passes: Vec<Duration> = (1..=interleaved::MAX)
            .map(|n| {
                best(&|| {
                    let mut states = [INIT; interleaved::MAX];
                    interleaved::compress(&mut states[..n], &inputs[..n], BLOCKS);
                    std::hint::black_box(states);
                })
            })
            .collect();
        // Interleaved passes for `n` streams: full passes and one for the rest.
        let scalar = |n: usize| {
            let (full, rest) = (n / interleaved::MAX, n % interleaved::MAX);
            let rest = if rest == 0 { Duration::ZERO } else { passes[rest - 1] };
            passes[interleaved::MAX - 1] * u32::try_from(full).unwrap_or(u32::MAX) + rest
        };
        let vector_from = (1..=vector::LANES).find(|&n| lanes <= scalar(n)).unwrap_or(usize::MAX);
        tracing::debug!(?vector, ?lanes, ?passes, vector_from, "MD5 kernels timed");
        Self::with_vector(vector, vector_from)
    }
}

impl LaneHash for Md5Lanes {
    type State = [u32; 4];
    type Digest = [u8; 16];
    const INIT: [u32; 4] = INIT;
    const LANES: usize = vector::LANES;
    const THREAD: &'static str = "fastgate-md5";
    const ENV: &'static str = "FASTGATE_MD5_LANES";

    fn detect() -> Option<Self> {
        Some(Vector::detect().map_or(Self::SCALAR, Self::measure))
    }

    /// # Panics
    /// If an input is shorter than `blocks * 64` bytes, or there are more than eight.
    fn compress(self, states: &mut [[u32; 4]], inputs: &[&[u8]], blocks: usize) {
        super::check_call(states.len(), inputs, blocks, vector::LANES);
        match self.vector {
            Some(v) if states.len() >= self.vector_from => v.compress(states, inputs, blocks),
            _ => {
                for (s, i) in states.chunks_mut(interleaved::MAX).zip(inputs.chunks(interleaved::MAX)) {
                    interleaved::compress(s, i, blocks);
                }
            }
        }
    }

    fn compress_one(state: &mut [u32; 4], blocks: &[[u8; 64]]) {
        ::md5::block_api::compress(state, blocks);
    }

    fn digest(mut state: [u32; 4], tail: &[u8], len: u64) -> [u8; 16] {
        super::pad(&mut state, tail, len, u64::to_le_bytes, Self::compress_one);
        super::digest_bytes(state, u32::to_le_bytes)
    }
}
