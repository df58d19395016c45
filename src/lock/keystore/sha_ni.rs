//! PBKDF2-HMAC-SHA256 chains side by side on the SHA extensions (SHA-NI),
//! for CPUs without AVX-512.
//!
//! One chain is bound by the latency of `sha256rnds2`: each pair of rounds
//! waits for the last. The unit accepts a new instruction before the previous
//! one finishes, so several independent chains interleaved round by round
//! keep it busy; a chain's result is the same as one computed alone.

#![allow(unsafe_code)]

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_alignr_epi8, _mm_blend_epi16, _mm_loadu_si128, _mm_set_epi32,
    _mm_sha256msg1_epu32, _mm_sha256msg2_epu32, _mm_sha256rnds2_epu32, _mm_shuffle_epi32,
    _mm_storeu_si128, _mm_xor_si128,
};

/// Chains interleaved per call at most. On a 2-core AMD EPYC without AVX-512,
/// per key at 2^18 iterations: one chain 37.3 ms; interleaved 2 ways 22.4 ms,
/// 3 ways 20.4, 4 ways 20.7, 5 ways 19.7, 8 ways 21.9 (more chains than the
/// 16 XMM registers hold spill to the stack).
pub const MAX_WAYS: usize = 5;

/// Whether this CPU has the SHA extensions (and SSE4.1 for the blends).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("sha")
            && std::arch::is_x86_feature_detected!("sse4.1")
            && std::arch::is_x86_feature_detected!("ssse3")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// One chain's input: the HMAC key's inner and outer states (after the
/// padded key block) and U1, the first HMAC output; all as big-endian words.
pub struct Chain {
    pub inner: [u32; 8],
    pub outer: [u32; 8],
    pub first: [u32; 8],
}

impl Drop for Chain {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.inner.zeroize();
        self.outer.zeroize();
        self.first.zeroize();
    }
}

/// Runs `rounds - 1` further HMAC iterations of each chain and returns
/// U1 ^ U2 ^ ... ^ U_rounds per chain, as words. `None` when the CPU lacks
/// SHA-NI (check [`available`] first).
pub fn chains<const WAYS: usize>(input: &[Chain; WAYS], rounds: u32) -> Option<[[u32; 8]; WAYS]> {
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: the CPU supports SHA, SSE4.1 and SSSE3 (checked above), the
        // only requirement of a `target_feature` function.
        return Some(unsafe { chains_shani(input, rounds) });
    }
    let _ = (input, rounds);
    None
}

#[cfg(target_arch = "x86_64")]
use super::sha256_lanes::K;

/// A SHA-256 state as the SHA instructions hold it: (ABEF, CDGH).
#[cfg(target_arch = "x86_64")]
type State = (__m128i, __m128i);

/// Words `[a..h]` as (a b c d, e f g h) lanes, lane 0 first: the layout of
/// message words, and of a digest about to become one.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse4.1,ssse3")]
fn load_words(w: &[u32; 8]) -> (__m128i, __m128i) {
    let lo = _mm_set_epi32(w[3] as i32, w[2] as i32, w[1] as i32, w[0] as i32);
    let hi = _mm_set_epi32(w[7] as i32, w[6] as i32, w[5] as i32, w[4] as i32);
    (lo, hi)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse4.1,ssse3")]
fn store_words(lo: __m128i, hi: __m128i) -> [u32; 8] {
    let mut out = [0u32; 8];
    let (a, b) = out.split_at_mut(4);
    // SAFETY: each half is four u32s (16 bytes); unaligned stores are allowed.
    unsafe {
        _mm_storeu_si128(a.as_mut_ptr().cast(), lo);
        _mm_storeu_si128(b.as_mut_ptr().cast(), hi);
    }
    out
}

/// (a b c d, e f g h) to (ABEF, CDGH).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse4.1,ssse3")]
fn to_state(lo: __m128i, hi: __m128i) -> State {
    let cdab = _mm_shuffle_epi32(lo, 0xB1);
    let efgh = _mm_shuffle_epi32(hi, 0x1B);
    (
        _mm_alignr_epi8(cdab, efgh, 8),
        _mm_blend_epi16(efgh, cdab, 0xF0),
    )
}

/// (ABEF, CDGH) to (a b c d, e f g h).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse4.1,ssse3")]
fn from_state((abef, cdgh): State) -> (__m128i, __m128i) {
    let feba = _mm_shuffle_epi32(abef, 0x1B);
    let dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    (
        _mm_blend_epi16(feba, dchg, 0xF0),
        _mm_alignr_epi8(dchg, feba, 8),
    )
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse4.1,ssse3")]
fn round_constants() -> [__m128i; 16] {
    let mut k = [_mm_set_epi32(0, 0, 0, 0); 16];
    for (i, slot) in k.iter_mut().enumerate() {
        // SAFETY: K has 64 words, so words 4i..4i+4 are in bounds for i < 16.
        *slot = unsafe { _mm_loadu_si128(K.as_ptr().add(4 * i).cast()) };
    }
    k
}

/// Compresses, for every chain, the block (digest, padding for a 96-byte
/// message) into `start`; `digest` is (a b c d, e f g h) and so is the result.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse4.1,ssse3")]
fn compress_digests<const WAYS: usize>(
    start: &[State; WAYS],
    digest: &[(__m128i, __m128i); WAYS],
    k: &[__m128i; 16],
    pad: (__m128i, __m128i),
) -> [(__m128i, __m128i); WAYS] {
    let mut st = *start;
    let mut w: [[__m128i; 4]; WAYS] = [[pad.0; 4]; WAYS];
    for (wc, d) in w.iter_mut().zip(digest) {
        *wc = [d.0, d.1, pad.0, pad.1];
    }
    for (g, kg) in k.iter().enumerate() {
        for (wc, s) in w.iter_mut().zip(st.iter_mut()) {
            let msg = if g < 4 {
                wc[g]
            } else {
                let t = _mm_sha256msg1_epu32(wc[g % 4], wc[(g + 1) % 4]);
                let t = _mm_add_epi32(t, _mm_alignr_epi8(wc[(g + 3) % 4], wc[(g + 2) % 4], 4));
                let n = _mm_sha256msg2_epu32(t, wc[(g + 3) % 4]);
                wc[g % 4] = n;
                n
            };
            let m = _mm_add_epi32(msg, *kg);
            s.1 = _mm_sha256rnds2_epu32(s.1, s.0, m);
            s.0 = _mm_sha256rnds2_epu32(s.0, s.1, _mm_shuffle_epi32(m, 0x0E));
        }
    }
    let mut out = [(pad.0, pad.0); WAYS];
    for ((o, s), s0) in out.iter_mut().zip(&st).zip(start) {
        *o = from_state((_mm_add_epi32(s.0, s0.0), _mm_add_epi32(s.1, s0.1)));
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse4.1,ssse3")]
fn chains_shani<const WAYS: usize>(input: &[Chain; WAYS], rounds: u32) -> [[u32; 8]; WAYS] {
    let k = round_constants();
    // Words 8..16 of every block: 0x80 after the 32-byte digest, then the
    // bit length of key block + digest (96 bytes).
    let pad = load_words(&[0x8000_0000, 0, 0, 0, 0, 0, 0, 768]);
    let mut inner = [(pad.0, pad.0); WAYS];
    let mut outer = [(pad.0, pad.0); WAYS];
    let mut u = [(pad.0, pad.0); WAYS];
    for (i, c) in input.iter().enumerate() {
        let (ilo, ihi) = load_words(&c.inner);
        let (olo, ohi) = load_words(&c.outer);
        inner[i] = to_state(ilo, ihi);
        outer[i] = to_state(olo, ohi);
        u[i] = load_words(&c.first);
    }
    let mut acc = u;
    for _ in 1..rounds {
        let h = compress_digests(&inner, &u, &k, pad);
        u = compress_digests(&outer, &h, &k, pad);
        for (a, x) in acc.iter_mut().zip(&u) {
            a.0 = _mm_xor_si128(a.0, x.0);
            a.1 = _mm_xor_si128(a.1, x.1);
        }
    }
    let mut out = [[0u32; 8]; WAYS];
    for (o, a) in out.iter_mut().zip(&acc) {
        *o = store_words(a.0, a.1);
    }
    // The keyed states and the running sum are key material: wipe the stack
    // copies (registers die with the call).
    let zero = _mm_set_epi32(0, 0, 0, 0);
    for v in [&mut inner, &mut outer, &mut u, &mut acc] {
        // SAFETY: `v` is a valid, aligned, exclusive reference.
        unsafe { std::ptr::write_volatile(v, [(zero, zero); WAYS]) };
    }
    out
}
