//! PBKDF2-HMAC-SHA256 (RFC 8018) for keystores, built directly on the SHA-256
//! compression function.
//!
//! Keystore encryption is the dominant cost of a ceremony (2^18 iterations per
//! validator). A generic HMAC re-pads and re-buffers every iteration; here the
//! keyed inner and outer states are computed once and each iteration is exactly
//! two compressions of pre-padded blocks, which roughly halves the cost with
//! SHA-NI and keeps the result bit-identical (checked against the `pbkdf2`
//! crate and RFC 7914's vectors in the tests).

use sha2::digest::generic_array::GenericArray;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
const BLOCK: usize = 64;
const OUT: usize = 32;
/// Bit length of a message made of one key block plus one 32-byte digest.
const KEYED_DIGEST_BITS: u64 = ((BLOCK + OUT) * 8) as u64;

fn compress(state: &mut [u32; 8], block: &[u8; BLOCK]) {
    sha2::compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
}

/// One block holding a 32-byte digest followed by SHA-256 padding for a
/// message of `BLOCK + OUT` bytes, so only the first 32 bytes change.
fn padded_digest_block() -> Zeroizing<[u8; BLOCK]> {
    let mut b = Zeroizing::new([0u8; BLOCK]);
    b[OUT] = 0x80;
    b[BLOCK - 8..].copy_from_slice(&KEYED_DIGEST_BITS.to_be_bytes());
    b
}

fn write_state(state: &[u32; 8], out: &mut [u8]) {
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
}

/// HMAC-SHA256 with the keyed states precomputed.
struct KeyedHmac {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl Drop for KeyedHmac {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

impl KeyedHmac {
    fn new(key: &[u8]) -> Self {
        let mut k = Zeroizing::new([0u8; BLOCK]);
        if key.len() > BLOCK {
            k[..OUT].copy_from_slice(&Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let mut pad = Zeroizing::new([0u8; BLOCK]);
        let mut keyed = |byte: u8| {
            for (p, k) in pad.iter_mut().zip(k.iter()) {
                *p = k ^ byte;
            }
            let mut s = IV;
            compress(&mut s, &pad);
            s
        };
        let inner = keyed(0x36);
        let outer = keyed(0x5c);
        KeyedHmac { inner, outer }
    }

    /// HMAC of an arbitrary message (used once per output block).
    fn mac(&self, parts: &[&[u8]]) -> Zeroizing<[u8; OUT]> {
        let mut state = self.inner;
        let mut buf = Zeroizing::new([0u8; BLOCK]);
        let mut filled = 0;
        let mut total = BLOCK as u64;
        for part in parts {
            for &byte in *part {
                buf[filled] = byte;
                filled += 1;
                total += 1;
                if filled == BLOCK {
                    compress(&mut state, &buf);
                    filled = 0;
                }
            }
        }
        buf[filled] = 0x80;
        buf[filled + 1..].fill(0);
        if filled + 1 > BLOCK - 8 {
            compress(&mut state, &buf);
            buf.fill(0);
        }
        buf[BLOCK - 8..].copy_from_slice(&(total * 8).to_be_bytes());
        compress(&mut state, &buf);

        let mut block = padded_digest_block();
        write_state(&state, &mut block[..OUT]);
        state.zeroize();
        let mut outer = self.outer;
        compress(&mut outer, &block);
        let mut out = Zeroizing::new([0u8; OUT]);
        write_state(&outer, out.as_mut_slice());
        outer.zeroize();
        out
    }
}

/// Fills `out` with PBKDF2-HMAC-SHA256(password, salt, rounds). `rounds` of 0
/// is treated as 1, as RFC 8018 has no zero-iteration form.
pub fn pbkdf2_hmac_sha256(password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
    let prf = KeyedHmac::new(password);
    let mut block = padded_digest_block();
    let mut acc = Zeroizing::new([0u8; OUT]);
    for (index, chunk) in out.chunks_mut(OUT).enumerate() {
        let counter = u32::try_from(index + 1).unwrap_or(u32::MAX).to_be_bytes();
        let first = prf.mac(&[salt, &counter]);
        acc.copy_from_slice(first.as_slice());
        block[..OUT].copy_from_slice(first.as_slice());
        for _ in 1..rounds {
            let mut state = prf.inner;
            compress(&mut state, &block);
            write_state(&state, &mut block[..OUT]);
            state = prf.outer;
            compress(&mut state, &block);
            write_state(&state, &mut block[..OUT]);
            state.zeroize();
            for (a, u) in acc.iter_mut().zip(block.iter()) {
                *a ^= u;
            }
        }
        chunk.copy_from_slice(&acc[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ours(password: &[u8], salt: &[u8], rounds: u32, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        pbkdf2_hmac_sha256(password, salt, rounds, &mut out);
        out
    }

    #[test]
    fn rfc7914_vectors() {
        // RFC 7914 section 11.
        assert_eq!(
            hex::encode(ours(b"passwd", b"salt", 1, 64)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
             49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        );
        assert_eq!(
            hex::encode(ours(b"Password", b"NaCl", 80000, 64)),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56\
             a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"
        );
    }

    #[test]
    fn eip2335_pbkdf2_vector_key() {
        // The EIP-2335 pbkdf2 test vector's derived key decrypts its secret; the
        // keystore tests check that end to end, here the raw KDF against the
        // reference implementation at the real iteration count.
        let password = "𝔱𝔢𝔰𝔱𝔭𝔞𝔰𝔰𝔴𝔬𝔯𝔡🔑".as_bytes();
        let salt = hex::decode("d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3")
            .expect("hex");
        let mut reference = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password, &salt, 262144, &mut reference);
        assert_eq!(ours(password, &salt, 262144, 32), reference);
    }

    proptest! {
        #[test]
        fn matches_reference(
            password in proptest::collection::vec(any::<u8>(), 0..150),
            salt in proptest::collection::vec(any::<u8>(), 0..150),
            rounds in 1u32..40,
            len in 1usize..100,
        ) {
            let mut reference = vec![0u8; len];
            pbkdf2::pbkdf2_hmac::<Sha256>(&password, &salt, rounds, &mut reference);
            prop_assert_eq!(ours(&password, &salt, rounds, len), reference);
        }
    }
}
