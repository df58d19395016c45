//! The group G1: public keys, commitments and the fixed-base table.

use blst::{
    BLST_ERROR, blst_p1, blst_p1_add_or_double, blst_p1_add_or_double_affine, blst_p1_affine,
    blst_p1_affine_compress, blst_p1_affine_in_g1, blst_p1_affine_is_inf, blst_p1_cneg,
    blst_p1_compress, blst_p1_double, blst_p1_from_affine, blst_p1_generator, blst_p1_is_equal,
    blst_p1_is_inf, blst_p1_mult, blst_p1_to_affine, blst_p1_uncompress, blst_p1s_to_affine,
    blst_sk_to_pk_in_g1,
};

use super::error::CurveError;
use super::scalar::Scalar;

/// A point of G1 in projective (Jacobian) coordinates.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct G1(pub(super) blst_p1);

/// A point of G1 in affine coordinates, as produced by decoding; the form
/// multi-scalar multiplication consumes.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct G1Affine(pub(super) blst_p1_affine);

impl std::fmt::Debug for G1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "G1(0x{})", hex::encode(self.to_compressed()))
    }
}

impl std::fmt::Debug for G1Affine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "G1Affine(0x{})", hex::encode(self.to_compressed()))
    }
}

impl PartialEq for G1 {
    fn eq(&self, other: &Self) -> bool {
        // SAFETY: both pointers valid.
        unsafe { blst_p1_is_equal(&self.0, &other.0) }
    }
}
impl Eq for G1 {}

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
    /// The point at infinity.
    pub fn identity() -> Self {
        G1(blst_p1::default())
    }

    /// The standard generator.
    pub fn generator() -> Self {
        // SAFETY: blst returns a pointer to a static, initialised point.
        G1(unsafe { *blst_p1_generator() })
    }

    /// `s * G` in constant time (safe for secret scalars).
    pub fn mul_base(s: &Scalar) -> Self {
        let sc = s.to_blst_scalar();
        let mut out = blst_p1::default();
        // SAFETY: `sc` holds 32 bytes as blst requires.
        unsafe { blst_sk_to_pk_in_g1(&mut out, &sc) };
        G1(out)
    }

    /// `s * self` in constant time (safe for secret scalars).
    pub fn mul(&self, s: &Scalar) -> Self {
        let sc = s.to_blst_scalar();
        let mut out = blst_p1::default();
        // SAFETY: `sc.b` is 32 bytes, of which blst reads 255 bits.
        unsafe { blst_p1_mult(&mut out, &self.0, sc.b.as_ptr(), 255) };
        G1(out)
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
        let mut out = blst_p1::default();
        // SAFETY: valid pointers.
        unsafe { blst_p1_double(&mut out, &self.0) };
        G1(out)
    }

    /// `v * self` for a small public multiplier.
    pub fn mul_u64(&self, v: u64) -> Self {
        let bytes = v.to_le_bytes();
        let nbits = 64 - v.leading_zeros() as usize;
        let mut out = blst_p1::default();
        // SAFETY: `bytes` holds 8 bytes, blst reads `nbits <= 64` bits.
        unsafe { blst_p1_mult(&mut out, &self.0, bytes.as_ptr(), nbits) };
        G1(out)
    }

    /// `self + rhs`.
    pub fn add(&self, rhs: &G1) -> G1 {
        let mut out = blst_p1::default();
        // SAFETY: all pointers valid.
        unsafe { blst_p1_add_or_double(&mut out, &self.0, &rhs.0) };
        G1(out)
    }

    /// `self + rhs` for an affine `rhs`.
    pub fn add_affine(&self, rhs: &G1Affine) -> G1 {
        let mut out = blst_p1::default();
        // SAFETY: all pointers valid.
        unsafe { blst_p1_add_or_double_affine(&mut out, &self.0, &rhs.0) };
        G1(out)
    }

    /// `-self`.
    pub fn neg(&self) -> G1 {
        let mut out = self.0;
        // SAFETY: valid pointer.
        unsafe { blst_p1_cneg(&mut out, true) };
        G1(out)
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

    /// Converts to affine coordinates (one field inversion).
    pub fn to_affine(&self) -> G1Affine {
        let mut out = blst_p1_affine::default();
        // SAFETY: valid pointers.
        unsafe { blst_p1_to_affine(&mut out, &self.0) };
        G1Affine(out)
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

    /// The 48-byte compressed encoding (identity: `0xc0` followed by zeros).
    pub fn to_compressed(&self) -> [u8; 48] {
        let mut out = [0u8; 48];
        // SAFETY: `out` is 48 writable bytes.
        unsafe { blst_p1_compress(out.as_mut_ptr(), &self.0) };
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

    /// Decodes a 48-byte compressed point that may be the identity (encoded as
    /// `0xc0` followed by 47 zero bytes); all other points must be in G1.
    pub fn from_compressed_allow_identity(bytes: &[u8]) -> Result<G1Affine, CurveError> {
        let arr: &[u8; 48] = bytes
            .try_into()
            .map_err(|_| CurveError::PointLength(bytes.len()))?;
        let mut out = blst_p1_affine::default();
        // SAFETY: `arr` is 48 readable bytes.
        match unsafe { blst_p1_uncompress(&mut out, arr.as_ptr()) } {
            BLST_ERROR::BLST_SUCCESS => {}
            BLST_ERROR::BLST_POINT_NOT_IN_GROUP => return Err(CurveError::NotInSubgroup),
            _ => return Err(CurveError::PointEncoding),
        }
        let p = G1Affine(out);
        if p.is_identity() {
            return Ok(p);
        }
        // SAFETY: valid pointer.
        if !unsafe { blst_p1_affine_in_g1(&out) } {
            return Err(CurveError::NotInSubgroup);
        }
        Ok(p)
    }

    /// Whether this is the point at infinity.
    pub fn is_identity(&self) -> bool {
        // SAFETY: valid pointer.
        unsafe { blst_p1_affine_is_inf(&self.0) }
    }

    /// The 48-byte compressed encoding.
    pub fn to_compressed(&self) -> [u8; 48] {
        let mut out = [0u8; 48];
        // SAFETY: `out` is 48 writable bytes.
        unsafe { blst_p1_affine_compress(out.as_mut_ptr(), &self.0) };
        out
    }

    /// Converts to projective coordinates (no inversion).
    pub fn to_projective(&self) -> G1 {
        let mut out = blst_p1::default();
        // SAFETY: valid pointers.
        unsafe { blst_p1_from_affine(&mut out, &self.0) };
        G1(out)
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
