//! Up to four MD5 computations interleaved in scalar registers.
//!
//! Each step of one stream waits on the step before it, which leaves most of a core's
//! integer units idle; with the steps of several streams side by side in one loop they
//! run while each other's wait. Four streams keep the units busy (about 32 instructions
//! a step against 6 units); more would only spill registers.

use super::K;

/// Streams one pass advances together.
pub(super) const MAX: usize = 4;

/// Advances each of `states` (at most [`MAX`]) over the first `blocks` blocks of its
/// input; the caller has checked the call ([`super::super::check_call`]).
pub(super) fn compress(states: &mut [[u32; 4]], inputs: &[&[u8]], blocks: usize) {
    match states.len() {
        1 => run::<1>(states, inputs, blocks),
        2 => run::<2>(states, inputs, blocks),
        3 => run::<3>(states, inputs, blocks),
        4 => run::<4>(states, inputs, blocks),
        n => unreachable!("an interleaved pass of {n} streams"),
    }
}

fn run<const N: usize>(states: &mut [[u32; 4]], inputs: &[&[u8]], blocks: usize) {
    let done = pass::<N>(
        std::array::from_fn(|l| states[l]),
        std::array::from_fn(|l| inputs[l]),
        blocks,
    );
    states.copy_from_slice(&done);
}

/// The kernel for `N` streams: every step written once, repeated for each stream by a
/// loop of constant length that the compiler unrolls into registers.
#[inline(always)]
fn pass<const N: usize>(state: [[u32; 4]; N], input: [&[u8]; N], blocks: usize) -> [[u32; 4]; N] {
    let mut a: [u32; N] = std::array::from_fn(|l| state[l][0]);
    let mut b: [u32; N] = std::array::from_fn(|l| state[l][1]);
    let mut c: [u32; N] = std::array::from_fn(|l| state[l][2]);
    let mut d: [u32; N] = std::array::from_fn(|l| state[l][3]);
    for at in (0..blocks * 64).step_by(64) {
        let m: [[u32; 16]; N] = std::array::from_fn(|l| {
            let (words, _) = input[l][at..at + 64].as_chunks::<4>();
            std::array::from_fn(|w| u32::from_le_bytes(words[w]))
        });
        let (aa, bb, cc, dd) = (a, b, c, d);
        macro_rules! step {
            ($f:ident, $w:ident, $x:ident, $y:ident, $z:ident, $g:expr, $k:expr, $s:literal) => {
                for l in 0..N {
                    let t = $w[l]
                        .wrapping_add(m[l][$g])
                        .wrapping_add(K[$k])
                        .wrapping_add($f($x[l], $y[l], $z[l]));
                    $w[l] = $x[l].wrapping_add(t.rotate_left($s));
                }
            };
        }
        md5_steps!(step, f, g, h, i; a, b, c, d);
        for l in 0..N {
            a[l] = a[l].wrapping_add(aa[l]);
            b[l] = b[l].wrapping_add(bb[l]);
            c[l] = c[l].wrapping_add(cc[l]);
            d[l] = d[l].wrapping_add(dd[l]);
        }
    }
    std::array::from_fn(|l| [a[l], b[l], c[l], d[l]])
}

#[inline(always)]
fn f(x: u32, y: u32, z: u32) -> u32 {
    z ^ (x & (y ^ z))
}

#[inline(always)]
fn g(x: u32, y: u32, z: u32) -> u32 {
    (x & z) | (y & !z)
}

#[inline(always)]
fn h(x: u32, y: u32, z: u32) -> u32 {
    x ^ y ^ z
}

#[inline(always)]
fn i(x: u32, y: u32, z: u32) -> u32 {
    y ^ (x | !z)
}
