//! Many independent SHA-256 compressions at once (16, 32 or 64 lanes), for
//! PBKDF2 on many keystores.
//!
//! One PBKDF2 chain is a strictly serial sequence of compressions, so a single
//! key cannot go faster than the SHA unit. Keys side by side, one per 32-bit
//! lane of 512-bit registers, can: written lane-wise below and compiled with
//! AVX-512 (rotates and three-input logic in one instruction each). The code
//! is plain Rust that the compiler vectorises; the only `unsafe` is the call
//! into the AVX-512 build after the CPU has been checked for it.

#![allow(unsafe_code)]

/// Lane counts a batch can have. One sixteen-lane chain is latency-bound
/// (each round depends on the last); wider batches give the CPU several
/// independent 512-bit chains to overlap: per key, 16 lanes took 21 ms, 32
/// took 17 ms and 64 took 14 ms, against 43 ms for one SHA-NI chain.
pub const WIDTHS: [usize; 3] = [64, 32, 16];

/// One 32-bit word of each of `N` lanes.
pub type Word<const N: usize> = [u32; N];

/// SHA-256's round constants (also used by the SHA-NI path).
pub(super) const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

#[inline(always)]
fn lanes<const N: usize>(f: impl Fn(usize) -> u32) -> Word<N> {
    let mut out = [0u32; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = f(i);
    }
    out
}

#[inline(always)]
fn add<const N: usize>(a: &Word<N>, b: &Word<N>) -> Word<N> {
    lanes(|i| a[i].wrapping_add(b[i]))
}

#[inline(always)]
fn big_sigma0<const N: usize>(x: &Word<N>) -> Word<N> {
    lanes(|i| x[i].rotate_right(2) ^ x[i].rotate_right(13) ^ x[i].rotate_right(22))
}

#[inline(always)]
fn big_sigma1<const N: usize>(x: &Word<N>) -> Word<N> {
    lanes(|i| x[i].rotate_right(6) ^ x[i].rotate_right(11) ^ x[i].rotate_right(25))
}

#[inline(always)]
fn small_sigma0<const N: usize>(x: &Word<N>) -> Word<N> {
    lanes(|i| x[i].rotate_right(7) ^ x[i].rotate_right(18) ^ (x[i] >> 3))
}

#[inline(always)]
fn small_sigma1<const N: usize>(x: &Word<N>) -> Word<N> {
    lanes(|i| x[i].rotate_right(17) ^ x[i].rotate_right(19) ^ (x[i] >> 10))
}

/// One round with the working variables named by role; callers rotate the
/// names instead of moving lane-wide values around. The schedule word is
/// updated in place from round 16 on (`$r > 0`); literal indices keep every
/// word in a register.
macro_rules! round {
    ($w:ident, $r:ident, $j:literal,
     $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident) => {
        if $r > 0 {
            $w[$j] = add(
                &add(&$w[$j], &small_sigma0(&$w[($j + 1) % 16])),
                &add(&$w[($j + 9) % 16], &small_sigma1(&$w[($j + 14) % 16])),
            );
        }
        let k = K[$r * 16 + $j];
        let ch = lanes(|i| ($e[i] & $f[i]) ^ (!$e[i] & $g[i]));
        let maj = lanes(|i| ($a[i] & $b[i]) ^ ($a[i] & $c[i]) ^ ($b[i] & $c[i]));
        let t1 = add(
            &add(&$h, &big_sigma1(&$e)),
            &add(&ch, &lanes(|i| $w[$j][i].wrapping_add(k))),
        );
        let t2 = add(&big_sigma0(&$a), &maj);
        $d = add(&$d, &t1);
        $h = add(&t1, &t2);
    };
}

#[inline(always)]
fn compress_body<const N: usize>(state: &mut [Word<N>; 8], block: &[Word<N>; 16]) {
    let mut w = *block;
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for r in 0..4 {
        round!(w, r, 0, a, b, c, d, e, f, g, h);
        round!(w, r, 1, h, a, b, c, d, e, f, g);
        round!(w, r, 2, g, h, a, b, c, d, e, f);
        round!(w, r, 3, f, g, h, a, b, c, d, e);
        round!(w, r, 4, e, f, g, h, a, b, c, d);
        round!(w, r, 5, d, e, f, g, h, a, b, c);
        round!(w, r, 6, c, d, e, f, g, h, a, b);
        round!(w, r, 7, b, c, d, e, f, g, h, a);
        round!(w, r, 8, a, b, c, d, e, f, g, h);
        round!(w, r, 9, h, a, b, c, d, e, f, g);
        round!(w, r, 10, g, h, a, b, c, d, e, f);
        round!(w, r, 11, f, g, h, a, b, c, d, e);
        round!(w, r, 12, e, f, g, h, a, b, c, d);
        round!(w, r, 13, d, e, f, g, h, a, b, c);
        round!(w, r, 14, c, d, e, f, g, h, a, b);
        round!(w, r, 15, b, c, d, e, f, g, h, a);
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s = add(s, &v);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl")]
fn compress_avx512<const N: usize>(state: &mut [Word<N>; 8], block: &[Word<N>; 16]) {
    compress_body(state, block);
}

/// Whether this CPU runs the lane-wise compression fast (AVX-512). Without
/// it the portable build is slower than one SHA-NI chain per key.
pub fn fast() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Compresses one block per lane into that lane's state (big-endian words).
pub fn compress<const N: usize>(state: &mut [Word<N>; 8], block: &[Word<N>; 16]) {
    #[cfg(target_arch = "x86_64")]
    if fast() {
        // SAFETY: the CPU supports AVX-512F and AVX-512VL (checked above), the
        // only requirement of a `target_feature` function.
        unsafe { compress_avx512(state, block) };
        return;
    }
    compress_body(state, block);
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn matches_sha256_in_every_lane() {
        lanes_match::<16>();
        lanes_match::<32>();
        lanes_match::<64>();
    }

    fn lanes_match<const LANES: usize>() {
        // One padded block per lane: message of `lane + 3` bytes.
        let mut block = [[0u32; LANES]; 16];
        for lane in 0..LANES {
            let msg: Vec<u8> = (0..(lane % 50) as u8 + 3)
                .map(|b| b.wrapping_mul(31) ^ 7)
                .collect();
            let mut bytes = [0u8; 64];
            bytes[..msg.len()].copy_from_slice(&msg);
            bytes[msg.len()] = 0x80;
            bytes[56..].copy_from_slice(&((msg.len() as u64) * 8).to_be_bytes());
            for (t, word) in block.iter_mut().enumerate() {
                word[lane] = u32::from_be_bytes(bytes[4 * t..4 * t + 4].try_into().unwrap());
            }
        }
        let iv = [
            0x6a09e667u32,
            0xbb67ae85,
            0x3c6ef372,
            0xa54ff53a,
            0x510e527f,
            0x9b05688c,
            0x1f83d9ab,
            0x5be0cd19,
        ];
        let mut state = iv.map(|v| [v; LANES]);
        let mut portable = state;
        compress(&mut state, &block);
        compress_body(&mut portable, &block);
        assert_eq!(state, portable);
        for lane in 0..LANES {
            let msg: Vec<u8> = (0..(lane % 50) as u8 + 3)
                .map(|b| b.wrapping_mul(31) ^ 7)
                .collect();
            let want = Sha256::digest(&msg);
            let got: Vec<u8> = state.iter().flat_map(|w| w[lane].to_be_bytes()).collect();
            assert_eq!(got, want.to_vec(), "lane {lane}");
        }
    }
}
