//! The group G2 (BLS signatures), hashing to G2, and pairing checks.

use blst::{
    blst_fp12, blst_hash_to_g2, blst_p1_affine, blst_p1_affine_generator, blst_p2,
    blst_p2_add_or_double, blst_p2_affine, blst_p2_affine_in_g2, blst_p2_affine_is_inf,
    blst_p2_cneg, blst_p2_compress, blst_p2_from_affine, blst_p2_is_equal, blst_p2_mult,
    blst_p2_to_affine, blst_p2_uncompress, blst_sign_pk_in_g1,
};
use zeroize::Zeroize;

use super::error::CurveError;
use super::ffi::blst_out;
use super::g1::G1Affine;
use super::scalar::Scalar;

point_types! {
    /// A point of G2 in projective coordinates (BLS signatures live here).
    G2(blst_p2), G2Affine(blst_p2_affine), 96 bytes;
    blst_p2_is_equal, blst_p2_add_or_double, blst_p2_cneg, blst_p2_to_affine, blst_p2_from_affine;
    blst_p2_compress, blst_p2_uncompress, blst_p2_affine_in_g2, blst_p2_affine_is_inf;
}

impl G2 {
    /// Whether this is the point at infinity.
    pub fn is_identity(&self) -> bool {
        self.to_affine().is_identity()
    }
}

impl G2Affine {
    /// Decodes a 96-byte compressed G2 point in the prime-order subgroup; the
    /// identity is accepted (callers decide whether it is meaningful).
    pub fn from_compressed(bytes: &[u8]) -> Result<G2Affine, CurveError> {
        Self::from_compressed_allow_identity(bytes)
    }

    /// `s * self` in constant time (signing: `s` is a secret key).
    pub fn mul_secret(&self, s: &Scalar) -> G2 {
        let mut sc = s.to_blst_scalar();
        let p = self.to_projective();
        let mut out = blst_p2::default();
        // SAFETY: valid pointers; blst reads the 32-byte scalar.
        unsafe { blst_sign_pk_in_g1(&mut out, &p.0, &sc) };
        sc.b.zeroize();
        G2(out)
    }

    /// `v * self` for a small public `v`, in variable time.
    pub fn mul_u64(&self, v: u64) -> G2 {
        let bytes = v.to_le_bytes();
        let nbits = 64 - v.leading_zeros() as usize;
        let p = self.to_projective();
        // SAFETY: `bytes` holds 8 bytes, blst reads `nbits <= 64` bits.
        G2(blst_out(|out| unsafe {
            blst_p2_mult(out, &p.0, bytes.as_ptr(), nbits)
        }))
    }
}

/// Hashes `msg` to G2 (RFC 9380 `hash_to_curve`, SSWU, random oracle) under
/// the domain separation tag `dst`.
pub fn hash_to_g2(msg: &[u8], dst: &[u8]) -> G2Affine {
    let mut out = blst_p2::default();
    // SAFETY: pointer/length pairs describe valid slices; no augmentation.
    unsafe {
        blst_hash_to_g2(
            &mut out,
            msg.as_ptr(),
            msg.len(),
            dst.as_ptr(),
            dst.len(),
            std::ptr::null(),
            0,
        )
    };
    G2(out).to_affine()
}

/// Checks `e(G1 generator, sig) == prod_i e(pk_i, h_i)` for messages already
/// hashed to G2, so a message signed by many keys is hashed once. Identity
/// keys or hashes fail, as in [`pairing_check`].
pub fn pairing_check_hashed(terms: &[(G1Affine, G2Affine)], sig: &G2Affine) -> bool {
    if terms.is_empty()
        || sig.is_identity()
        || terms
            .iter()
            .any(|(pk, h)| pk.is_identity() || h.is_identity())
    {
        return false;
    }
    let qs: Vec<blst_p2_affine> = terms.iter().map(|(_, h)| h.0).collect();
    let ps: Vec<blst_p1_affine> = terms.iter().map(|(pk, _)| pk.0).collect();
    // SAFETY: blst returns a pointer to a static, initialised point.
    let g1 = unsafe { *blst_p1_affine_generator() };
    let lhs = blst_fp12::miller_loop(&sig.0, &g1);
    let rhs = blst_fp12::miller_loop_n(&qs, &ps);
    blst_fp12::finalverify(&lhs, &rhs)
}

/// Checks `e(G1 generator, sig) == prod_i e(pk_i, H(msg_i))` with H the
/// hash-to-G2 of the given ciphersuite `dst`: the core of (batched) BLS
/// verification in the public-keys-in-G1 setting. Identity keys fail.
pub fn pairing_check(terms: &[(G1Affine, &[u8])], sig: &G2Affine, dst: &[u8]) -> bool {
    let hashed: Vec<(G1Affine, G2Affine)> = terms
        .iter()
        .map(|(pk, msg)| (*pk, hash_to_g2(msg, dst)))
        .collect();
    pairing_check_hashed(&hashed, sig)
}
