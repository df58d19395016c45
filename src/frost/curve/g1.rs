//! The group G1: public keys, commitments and the fixed-base table.

use blst::{
    blst_p1, blst_p1_add_or_double, blst_p1_add_or_double_affine, blst_p1_affine,
    blst_p1_affine_compress, blst_p1_affine_in_g1, blst_p1_affine_is_inf, blst_p1_cneg,
    blst_p1_compress, blst_p1_double, blst_p1_from_affine, blst_p1_generator, blst_p1_is_equal,
    blst_p1_is_inf, blst_p1_mult, blst_p1_to_affine, blst_p1_uncompress, blst_p1s_to_affine,
    blst_sk_to_pk_in_g1,
};

use super::error::CurveError;
use super::ffi::blst_out;
use super::scalar::Scalar;

point_types! {
    /// A point of G1 in projective (Jacobian) coordinates: public keys,
    /// commitments.
    G1(blst_p1), G1Affine(blst_p1_affine), 48 bytes;
    blst_p1_is_equal, blst_p1_add_or_double, blst_p1_cneg, blst_p1_to_affine, blst_p1_from_affine;
    blst_p1_compress, blst_p1_uncompress, blst_p1_affine_in_g1, blst_p1_affine_is_inf;
}

impl PartialEq for G1Affine {
    fn eq(&self, other: &Self) -> bool {
        self.to_projective() == other.to_projective()
    }
}
impl Eq for G1Affine {}

impl Default for G1 {
    fn default() -> Self {
        Self::identity()
    }
}

impl G1 {
    /// The standard generator.
    pub fn generator() -> Self {
        // SAFETY: blst returns a pointer to a static, initialised point.
        G1(unsafe { *blst_p1_generator() })
    }

    /// `s * G` in constant time (safe for secret scalars).
    pub fn mul_base(s: &Scalar) -> Self {
        let sc = s.to_blst_scalar();
        // SAFETY: `sc` holds 32 bytes as blst requires.
        G1(blst_out(|out| unsafe { blst_sk_to_pk_in_g1(out, &sc) }))
    }

    /// `s * self` in constant time (safe for secret scalars).
    pub fn mul(&self, s: &Scalar) -> Self {
        let sc = s.to_blst_scalar();
        // SAFETY: `sc.b` is 32 bytes, of which blst reads 255 bits.
        G1(blst_out(|out| unsafe {
            blst_p1_mult(out, &self.0, sc.b.as_ptr(), 255)
        }))
    }

    /// `s * G` for a public scalar, in variable time: one mixed addition per
    /// non-zero byte of `s` from a precomputed table of `d * 2^(8i) * G`
    /// (built on first use, 32 x 255 affine points, about 780 KB).
    /// The table lookups depend on `s`, so never use this for secrets.
    pub fn mul_base_vartime(s: &Scalar) -> Self {
        let table = base_table();
        let mut acc = G1::identity();
        for (i, &byte) in s.to_le_bytes().iter().enumerate() {
            if byte == 0 {
                continue;
            }
            if let Some(p) = table.get(i * COMB_ENTRIES + usize::from(byte) - 1) {
                acc = acc.add_affine(p);
            }
        }
        acc
    }

    /// `s * self` for a public scalar (may take variable time).
    pub fn mul_vartime(&self, s: &Scalar) -> Self {
        self.mul(s)
    }

    /// `v * self` by double-and-add, for small public multipliers such as
    /// share indices.
    pub fn mul_small_vartime(&self, v: u64) -> Self {
        let mut acc = G1::identity();
        for bit in (0..64 - v.leading_zeros()).rev() {
            acc = acc.double();
            if (v >> bit) & 1 == 1 {
                acc = acc.add(self);
            }
        }
        acc
    }

    /// `2 * self`.
    pub fn double(&self) -> G1 {
        // SAFETY: valid pointers.
        G1(blst_out(|out| unsafe { blst_p1_double(out, &self.0) }))
    }

    /// `v * self` for a small public multiplier.
    pub fn mul_u64(&self, v: u64) -> Self {
        let bytes = v.to_le_bytes();
        let nbits = 64 - v.leading_zeros() as usize;
        // SAFETY: `bytes` holds 8 bytes, blst reads `nbits <= 64` bits.
        G1(blst_out(|out| unsafe {
            blst_p1_mult(out, &self.0, bytes.as_ptr(), nbits)
        }))
    }

    /// `self + rhs` for an affine `rhs`.
    pub fn add_affine(&self, rhs: &G1Affine) -> G1 {
        // SAFETY: all pointers valid.
        G1(blst_out(|out| unsafe {
            blst_p1_add_or_double_affine(out, &self.0, &rhs.0)
        }))
    }

    /// `self - rhs`.
    pub fn sub(&self, rhs: &G1) -> G1 {
        self.add(&rhs.neg())
    }

    /// Whether this is the point at infinity.
    pub fn is_identity(&self) -> bool {
        // SAFETY: valid pointer.
        unsafe { blst_p1_is_inf(&self.0) }
    }

    /// Converts many points to affine with a single field inversion.
    pub fn batch_to_affine(points: &[G1]) -> Vec<G1Affine> {
        if points.is_empty() {
            return Vec::new();
        }
        let mut out = vec![G1Affine(blst_p1_affine::default()); points.len()];
        // `G1` and `G1Affine` are `repr(transparent)` over the blst types, so
        // slices of them are contiguous arrays of those types.
        let ptrs: [*const blst_p1; 2] = [points.as_ptr().cast::<blst_p1>(), std::ptr::null()];
        // SAFETY: blst reads `points.len()` consecutive blst_p1 values from
        // ptrs[0] (ptrs[1] = null selects the contiguous-array mode) and
        // writes as many affine points into `out`.
        unsafe {
            blst_p1s_to_affine(
                out.as_mut_ptr().cast::<blst_p1_affine>(),
                ptrs.as_ptr(),
                points.len(),
            )
        };
        out
    }

    /// Compresses many points with a single field inversion.
    pub fn batch_compress(points: &[G1]) -> Vec<[u8; 48]> {
        G1::batch_to_affine(points)
            .iter()
            .map(G1Affine::to_compressed)
            .collect()
    }

    /// Decodes a compressed, in-subgroup, non-identity point.
    pub fn from_compressed(bytes: &[u8]) -> Result<G1, CurveError> {
        G1Affine::from_compressed(bytes).map(|p| p.to_projective())
    }
}

impl G1Affine {
    /// Decodes a 48-byte compressed point, requiring the subgroup check to
    /// pass and rejecting the identity.
    pub fn from_compressed(bytes: &[u8]) -> Result<G1Affine, CurveError> {
        let p = Self::from_compressed_allow_identity(bytes)?;
        if p.is_identity() {
            return Err(CurveError::Identity);
        }
        Ok(p)
    }

    /// The 48-byte compressed encoding.
    pub fn to_compressed(&self) -> [u8; 48] {
        let mut out = [0u8; 48];
        // SAFETY: `out` is 48 writable bytes.
        unsafe { blst_p1_affine_compress(out.as_mut_ptr(), &self.0) };
        out
    }
}

impl From<G1Affine> for G1 {
    fn from(p: G1Affine) -> G1 {
        p.to_projective()
    }
}

/// Entries per byte position of the fixed-base table (digits 1..=255).
const COMB_ENTRIES: usize = 255;

/// `table[i * 255 + d - 1] = d * 2^(8i) * G` for the 32 byte positions of a
/// scalar.
fn base_table() -> &'static [G1Affine] {
    static TABLE: std::sync::OnceLock<Vec<G1Affine>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut proj = Vec::with_capacity(32 * COMB_ENTRIES);
        let mut base = G1::generator();
        for _ in 0..32 {
            let mut acc = base;
            for _ in 0..COMB_ENTRIES {
                proj.push(acc);
                acc = acc.add(&base);
            }
            // acc = 256 * base: the next byte position's base.
            base = acc;
        }
        G1::batch_to_affine(&proj)
    })
}
