//! Safe wrappers over blst's BLS12-381 scalar field and G1 group.
//!
//! This is the only module of the crate that calls blst's raw C interface; every
//! `unsafe` block lives here and relies only on blst's documented contracts
//! (valid, properly sized pointers; output buffers sized as blst requires).
//!
//! Encodings follow kryptology and Ethereum: scalars are 32-byte big-endian and
//! must be canonical (`< r`); G1 points are 48-byte ZCash-format compressed and
//! must be on the curve and in the prime-order subgroup.

#![allow(unsafe_code)]

use blst::{
    BLST_ERROR, blst_bendian_from_scalar, blst_expand_message_xmd, blst_fp12, blst_fr, blst_fr_add,
    blst_fr_cneg, blst_fr_from_scalar, blst_fr_from_uint64, blst_fr_inverse, blst_fr_mul,
    blst_fr_sub, blst_hash_to_g2, blst_p1, blst_p1_add_or_double, blst_p1_add_or_double_affine,
    blst_p1_affine, blst_p1_affine_compress, blst_p1_affine_generator, blst_p1_affine_in_g1,
    blst_p1_affine_is_inf, blst_p1_cneg, blst_p1_compress, blst_p1_double, blst_p1_from_affine,
    blst_p1_generator, blst_p1_is_equal, blst_p1_is_inf, blst_p1_mult, blst_p1_to_affine,
    blst_p1_uncompress, blst_p1s_mult_pippenger, blst_p1s_mult_pippenger_scratch_sizeof,
    blst_p1s_to_affine, blst_p2, blst_p2_add_or_double, blst_p2_affine, blst_p2_affine_in_g2,
    blst_p2_affine_is_inf, blst_p2_cneg, blst_p2_compress, blst_p2_from_affine, blst_p2_is_equal,
    blst_p2_mult, blst_p2_to_affine, blst_p2_uncompress, blst_p2s_mult_pippenger,
    blst_p2s_mult_pippenger_scratch_sizeof, blst_scalar, blst_scalar_fr_check,
    blst_scalar_from_be_bytes, blst_scalar_from_bendian, blst_scalar_from_fr, blst_sign_pk_in_g1,
    blst_sk_to_pk_in_g1,
};
use rand::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

/// Domain separation tag of kryptology's BLS12-381 hash-to-scalar (note: no
/// `G1_` and no suite suffix).
pub const KRYPTOLOGY_SCALAR_DST: &[u8] = b"BLS12381_XMD:SHA-256_SSWU_RO_";

/// Why a scalar or point operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurveError {
    /// A scalar encoding that is not exactly 32 bytes.
    #[error("scalar must be 32 bytes, got {0}")]
    ScalarLength(usize),
    /// A scalar encoding that is not below the group order r.
    #[error("scalar is not canonical (not below the group order)")]
    NonCanonicalScalar,
    /// A point encoding that is not exactly 48 bytes.
    #[error("G1 point must be 48 bytes, got {0}")]
    PointLength(usize),
    /// Bad compression flags, non-canonical x, or x not on the curve.
    #[error("invalid G1 point encoding")]
    PointEncoding,
    /// A point on the curve but outside the prime-order subgroup.
    #[error("G1 point is not in the prime-order subgroup")]
    NotInSubgroup,
    /// The point at infinity where a proper point is required.
    #[error("G1 point is the identity")]
    Identity,
    /// A share index of zero (index 0 is where the secret lives).
    #[error("share index 0 is not allowed")]
    ZeroIndex,
    /// The same share index twice in one set.
    #[error("duplicate share index {0}")]
    DuplicateIndex(u64),
    /// An empty set where at least one element is required.
    #[error("empty input")]
    Empty,
    /// Points and scalars of different lengths.
    #[error("{points} points but {scalars} scalars")]
    LengthMismatch {
        /// Number of points.
        points: usize,
        /// Number of scalars.
        scalars: usize,
    },
    /// Inverting zero.
    #[error("zero has no inverse")]
    ZeroInverse,
}

// ---------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------

/// An element of the scalar field Fr (mod r), wiped on drop.
///
/// Stored in blst's Montgomery form; all arithmetic is constant time.
pub struct Scalar(blst_fr);

impl Drop for Scalar {
    fn drop(&mut self) {
        self.0.l.zeroize();
    }
}

impl Clone for Scalar {
    fn clone(&self) -> Self {
        Scalar(self.0)
    }
}

impl std::fmt::Debug for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scalar(<redacted>)")
    }
}

impl PartialEq for Scalar {
    fn eq(&self, other: &Self) -> bool {
        // Constant time: fold all limb differences before branching.
        let diff = self
            .0
            .l
            .iter()
            .zip(other.0.l.iter())
            .fold(0u64, |acc, (a, b)| acc | (a ^ b));
        diff == 0
    }
}
impl Eq for Scalar {}

impl Scalar {
    /// The additive identity.
    pub fn zero() -> Self {
        Scalar(blst_fr::default())
    }

    /// The multiplicative identity.
    pub fn one() -> Self {
        Self::from_u64(1)
    }

    /// The scalar `v mod r`.
    pub fn from_u64(v: u64) -> Self {
        let limbs = [v, 0, 0, 0];
        let mut out = blst_fr::default();
        // SAFETY: blst reads four u64 limbs from `limbs` and writes `out`.
        unsafe { blst_fr_from_uint64(&mut out, limbs.as_ptr()) };
        Scalar(out)
    }

    /// Decodes a canonical 32-byte big-endian scalar (zero allowed).
    pub fn from_be_bytes(bytes: &[u8]) -> Result<Self, CurveError> {
        let arr: &[u8; 32] = bytes
            .try_into()
            .map_err(|_| CurveError::ScalarLength(bytes.len()))?;
        let mut s = blst_scalar::default();
        // SAFETY: `arr` is 32 readable bytes; `s` is a valid output.
        unsafe { blst_scalar_from_bendian(&mut s, arr.as_ptr()) };
        // SAFETY: `s` is initialised.
        if !unsafe { blst_scalar_fr_check(&s) } {
            return Err(CurveError::NonCanonicalScalar);
        }
        Ok(Self::from_blst_scalar(&s))
    }

    /// The scalar `v` (below r for every u128).
    pub fn from_u128(v: u128) -> Self {
        let mut be = [0u8; 32];
        be[16..].copy_from_slice(&v.to_be_bytes());
        Self::from_be_bytes_reduced(&be)
    }

    /// Reduces a big-endian integer of any length modulo r.
    pub fn from_be_bytes_reduced(bytes: &[u8]) -> Self {
        let mut s = blst_scalar::default();
        // SAFETY: blst reads exactly `bytes.len()` bytes; the boolean result
        // only reports whether the reduced value is zero, which we do not need.
        unsafe { blst_scalar_from_be_bytes(&mut s, bytes.as_ptr(), bytes.len()) };
        Self::from_blst_scalar(&s)
    }

    fn from_blst_scalar(s: &blst_scalar) -> Self {
        let mut out = blst_fr::default();
        // SAFETY: `s` holds a value below r (checked or reduced by the caller).
        unsafe { blst_fr_from_scalar(&mut out, s) };
        Scalar(out)
    }

    /// blst's little-endian scalar form, wiped on drop by blst's own type.
    fn to_blst_scalar(&self) -> blst_scalar {
        let mut s = blst_scalar::default();
        // SAFETY: both pointers are valid for their types.
        unsafe { blst_scalar_from_fr(&mut s, &self.0) };
        s
    }

    /// The canonical 32-byte big-endian encoding. For secret scalars prefer
    /// [`Scalar::to_be_bytes_zeroizing`].
    pub fn to_be_bytes(&self) -> [u8; 32] {
        let s = self.to_blst_scalar();
        let mut out = [0u8; 32];
        // SAFETY: `out` is 32 writable bytes.
        unsafe { blst_bendian_from_scalar(out.as_mut_ptr(), &s) };
        out
    }

    /// The canonical big-endian encoding in storage that is wiped on drop.
    pub fn to_be_bytes_zeroizing(&self) -> Zeroizing<[u8; 32]> {
        let s = self.to_blst_scalar();
        let mut out = Zeroizing::new([0u8; 32]);
        // SAFETY: `out` is 32 writable bytes.
        unsafe { blst_bendian_from_scalar(out.as_mut_ptr(), &s) };
        out
    }

    /// The little-endian 32-byte form blst's multiplication routines take.
    fn to_le_bytes(&self) -> [u8; 32] {
        self.to_blst_scalar().b
    }

    /// A uniformly random scalar (64 random bytes reduced mod r).
    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut wide = Zeroizing::new([0u8; 64]);
        rng.fill_bytes(wide.as_mut_slice());
        Self::from_be_bytes_reduced(wide.as_slice())
    }

    /// A uniformly random non-zero scalar.
    pub fn random_nonzero<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        loop {
            let s = Self::random(rng);
            if !s.is_zero() {
                return s;
            }
        }
    }

    /// kryptology's BLS12-381 scalar hash: `OS2IP(expand_message_xmd(SHA-256,
    /// msg, DST, 48)) mod r` with [`KRYPTOLOGY_SCALAR_DST`].
    pub fn hash_kryptology(msg: &[u8]) -> Self {
        let mut xmd = [0u8; 48];
        // SAFETY: `xmd` is 48 writable bytes; msg and DST are readable for
        // their lengths.
        unsafe {
            blst_expand_message_xmd(
                xmd.as_mut_ptr(),
                xmd.len(),
                msg.as_ptr(),
                msg.len(),
                KRYPTOLOGY_SCALAR_DST.as_ptr(),
                KRYPTOLOGY_SCALAR_DST.len(),
            )
        };
        Self::from_be_bytes_reduced(&xmd)
    }

    /// Whether this is zero.
    pub fn is_zero(&self) -> bool {
        *self == Self::zero()
    }

    /// `self + rhs`.
    pub fn add(&self, rhs: &Scalar) -> Scalar {
        let mut out = blst_fr::default();
        // SAFETY: all pointers valid; blst allows no aliasing issues here.
        unsafe { blst_fr_add(&mut out, &self.0, &rhs.0) };
        Scalar(out)
    }

    /// `self - rhs`.
    pub fn sub(&self, rhs: &Scalar) -> Scalar {
        let mut out = blst_fr::default();
        // SAFETY: all pointers valid.
        unsafe { blst_fr_sub(&mut out, &self.0, &rhs.0) };
        Scalar(out)
    }

    /// `self * rhs`.
    pub fn mul(&self, rhs: &Scalar) -> Scalar {
        let mut out = blst_fr::default();
        // SAFETY: all pointers valid.
        unsafe { blst_fr_mul(&mut out, &self.0, &rhs.0) };
        Scalar(out)
    }

    /// `-self`.
    pub fn neg(&self) -> Scalar {
        let mut out = blst_fr::default();
        // SAFETY: all pointers valid.
        unsafe { blst_fr_cneg(&mut out, &self.0, true) };
        Scalar(out)
    }

    /// `1 / self`, or an error for zero.
    pub fn invert(&self) -> Result<Scalar, CurveError> {
        if self.is_zero() {
            return Err(CurveError::ZeroInverse);
        }
        let mut out = blst_fr::default();
        // SAFETY: all pointers valid; the input is non-zero.
        unsafe { blst_fr_inverse(&mut out, &self.0) };
        Ok(Scalar(out))
    }
}

/// Inverts every element with one field inversion (Montgomery's trick).
/// Fails if any element is zero.
pub fn batch_invert(values: &[Scalar]) -> Result<Vec<Scalar>, CurveError> {
    let mut prefix = Vec::with_capacity(values.len());
    let mut acc = Scalar::one();
    for v in values {
        prefix.push(acc.clone());
        acc = acc.mul(v);
    }
    let mut inv = acc.invert()?;
    let mut out = vec![Scalar::zero(); values.len()];
    for (i, v) in values.iter().enumerate().rev() {
        if let (Some(slot), Some(p)) = (out.get_mut(i), prefix.get(i)) {
            *slot = inv.mul(p);
        }
        inv = inv.mul(v);
    }
    Ok(out)
}

/// Evaluates the polynomial with the given coefficients (constant term first)
/// at `x` by Horner's rule.
pub fn eval_poly(coefficients: &[Scalar], x: &Scalar) -> Scalar {
    let mut acc = Scalar::zero();
    for c in coefficients.iter().rev() {
        acc = acc.mul(x).add(c);
    }
    acc
}

/// Lagrange coefficients at x = 0 for the given distinct, non-zero (1-based)
/// share indices, in the same order.
pub fn lagrange_coefficients_at_zero(indices: &[u64]) -> Result<Vec<Scalar>, CurveError> {
    if indices.is_empty() {
        return Err(CurveError::Empty);
    }
    let mut seen = std::collections::BTreeSet::new();
    for &i in indices {
        if i == 0 {
            return Err(CurveError::ZeroIndex);
        }
        if !seen.insert(i) {
            return Err(CurveError::DuplicateIndex(i));
        }
    }
    let xs: Vec<Scalar> = indices.iter().map(|&i| Scalar::from_u64(i)).collect();
    // lambda_i = prod_{j != i} x_j / (x_j - x_i)
    let mut nums = Vec::with_capacity(xs.len());
    let mut dens = Vec::with_capacity(xs.len());
    for (i, xi) in xs.iter().enumerate() {
        let mut num = Scalar::one();
        let mut den = Scalar::one();
        for (j, xj) in xs.iter().enumerate() {
            if i != j {
                num = num.mul(xj);
                den = den.mul(&xj.sub(xi));
            }
        }
        nums.push(num);
        dens.push(den);
    }
    let inv = batch_invert(&dens)?;
    Ok(nums.iter().zip(inv.iter()).map(|(n, d)| n.mul(d)).collect())
}

// ---------------------------------------------------------------------------
// G1 points
// ---------------------------------------------------------------------------

/// A point of G1 in projective (Jacobian) coordinates.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct G1(blst_p1);

/// A point of G1 in affine coordinates, as produced by decoding; the form
/// multi-scalar multiplication consumes.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct G1Affine(blst_p1_affine);

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

/// Variable-time multi-scalar multiplication `sum scalars[i] * points[i]`
/// (blst's Pippenger/Straus). Only for public scalars.
pub fn msm(points: &[G1Affine], scalars: &[Scalar]) -> Result<G1, CurveError> {
    if points.len() != scalars.len() {
        return Err(CurveError::LengthMismatch {
            points: points.len(),
            scalars: scalars.len(),
        });
    }
    Ok(msm_raw(points, &le_scalars(scalars), 32, 255))
}

/// Variable-time multi-scalar multiplication with 128-bit scalars, as used for
/// the random weights of batch verification (about half the cost of [`msm`]).
pub fn msm_u128(points: &[G1Affine], weights: &[u128]) -> Result<G1, CurveError> {
    if points.len() != weights.len() {
        return Err(CurveError::LengthMismatch {
            points: points.len(),
            scalars: weights.len(),
        });
    }
    Ok(msm_raw(points, &le_weights(weights), 16, 128))
}

/// Shared MSM driver for both groups: `scalars` holds `stride` little-endian
/// bytes per point, of which `nbits` bits are used.
macro_rules! msm_driver {
    ($name:ident, $aff:ty, $proj:ty, $wrap:ident, $sizeof:ident, $mult:ident) => {
        fn $name(points: &[$aff], scalars: &[u8], stride: usize, nbits: usize) -> $wrap {
            // blst's buckets do not expect the point at infinity; it adds
            // nothing, so drop it (and its scalar) up front.
            let mut pts = Vec::with_capacity(points.len());
            let mut sc = Vec::with_capacity(scalars.len());
            for (i, p) in points.iter().enumerate() {
                if p.is_identity() {
                    continue;
                }
                if let Some(s) = scalars.get(i * stride..(i + 1) * stride) {
                    pts.push(p.0);
                    sc.extend_from_slice(s);
                }
            }
            let n = pts.len();
            if n == 0 || sc.len() != n * stride {
                return $wrap::identity();
            }
            // SAFETY: pure size query.
            let scratch_bytes = unsafe { $sizeof(n) };
            let mut scratch = vec![0u64; scratch_bytes / 8 + 1];
            let point_ptrs: [*const _; 2] = [pts.as_ptr(), std::ptr::null()];
            let scalar_ptrs: [*const u8; 2] = [sc.as_ptr(), std::ptr::null()];
            let mut out = <$proj>::default();
            // SAFETY: the null second pointers select blst's contiguous-array
            // mode: it reads `n` affine points and `n` scalars of
            // ceil(nbits/8) = `stride` bytes each; the scratch buffer has the
            // size blst asked for.
            unsafe {
                $mult(
                    &mut out,
                    point_ptrs.as_ptr(),
                    n,
                    scalar_ptrs.as_ptr(),
                    nbits,
                    scratch.as_mut_ptr(),
                )
            };
            $wrap(out)
        }
    };
}

msm_driver!(
    msm_raw,
    G1Affine,
    blst_p1,
    G1,
    blst_p1s_mult_pippenger_scratch_sizeof,
    blst_p1s_mult_pippenger
);
msm_driver!(
    g2_msm_raw,
    G2Affine,
    blst_p2,
    G2,
    blst_p2s_mult_pippenger_scratch_sizeof,
    blst_p2s_mult_pippenger
);

fn le_scalars(scalars: &[Scalar]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(32 * scalars.len());
    for s in scalars {
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    bytes
}

fn le_weights(weights: &[u128]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(16 * weights.len());
    for w in weights {
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    bytes
}

// ---------------------------------------------------------------------------
// G2 points (signatures) and pairings
// ---------------------------------------------------------------------------

/// A point of G2 in projective coordinates (BLS signatures live here).
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct G2(blst_p2);

/// A point of G2 in affine coordinates.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct G2Affine(blst_p2_affine);

impl std::fmt::Debug for G2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "G2(0x{})", hex::encode(self.to_compressed()))
    }
}

impl std::fmt::Debug for G2Affine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "G2Affine(0x{})",
            hex::encode(self.to_projective().to_compressed())
        )
    }
}

impl PartialEq for G2 {
    fn eq(&self, other: &Self) -> bool {
        // SAFETY: both pointers valid.
        unsafe { blst_p2_is_equal(&self.0, &other.0) }
    }
}
impl Eq for G2 {}

impl G2 {
    /// The point at infinity.
    pub fn identity() -> Self {
        G2(blst_p2::default())
    }

    /// `self + rhs`.
    pub fn add(&self, rhs: &G2) -> G2 {
        let mut out = blst_p2::default();
        // SAFETY: all pointers valid.
        unsafe { blst_p2_add_or_double(&mut out, &self.0, &rhs.0) };
        G2(out)
    }

    /// `-self`.
    pub fn neg(&self) -> G2 {
        let mut out = self.0;
        // SAFETY: valid pointer; blst negates in place.
        unsafe { blst_p2_cneg(&mut out, true) };
        G2(out)
    }

    /// Whether this is the point at infinity.
    pub fn is_identity(&self) -> bool {
        self.to_affine().is_identity()
    }

    /// The 96-byte compressed encoding.
    pub fn to_compressed(&self) -> [u8; 96] {
        let mut out = [0u8; 96];
        // SAFETY: `out` is 96 writable bytes.
        unsafe { blst_p2_compress(out.as_mut_ptr(), &self.0) };
        out
    }

    /// Converts to affine coordinates.
    pub fn to_affine(&self) -> G2Affine {
        let mut out = blst_p2_affine::default();
        // SAFETY: valid pointers.
        unsafe { blst_p2_to_affine(&mut out, &self.0) };
        G2Affine(out)
    }
}

impl G2Affine {
    /// Decodes a 96-byte compressed G2 point in the prime-order subgroup; the
    /// identity is accepted (callers decide whether it is meaningful).
    pub fn from_compressed(bytes: &[u8]) -> Result<G2Affine, CurveError> {
        let arr: &[u8; 96] = bytes
            .try_into()
            .map_err(|_| CurveError::PointLength(bytes.len()))?;
        let mut out = blst_p2_affine::default();
        // SAFETY: `arr` is 96 readable bytes.
        match unsafe { blst_p2_uncompress(&mut out, arr.as_ptr()) } {
            BLST_ERROR::BLST_SUCCESS => {}
            BLST_ERROR::BLST_POINT_NOT_IN_GROUP => return Err(CurveError::NotInSubgroup),
            _ => return Err(CurveError::PointEncoding),
        }
        let p = G2Affine(out);
        // SAFETY: valid pointer.
        if !p.is_identity() && !unsafe { blst_p2_affine_in_g2(&out) } {
            return Err(CurveError::NotInSubgroup);
        }
        Ok(p)
    }

    /// Whether this is the point at infinity.
    pub fn is_identity(&self) -> bool {
        // SAFETY: valid pointer.
        unsafe { blst_p2_affine_is_inf(&self.0) }
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
        let mut out = blst_p2::default();
        // SAFETY: `bytes` holds 8 bytes, blst reads `nbits <= 64` bits.
        unsafe { blst_p2_mult(&mut out, &p.0, bytes.as_ptr(), nbits) };
        G2(out)
    }

    /// Converts to projective coordinates.
    pub fn to_projective(&self) -> G2 {
        let mut out = blst_p2::default();
        // SAFETY: valid pointers.
        unsafe { blst_p2_from_affine(&mut out, &self.0) };
        G2(out)
    }
}

/// Variable-time multi-scalar multiplication in G2. Only for public scalars.
pub fn g2_msm(points: &[G2Affine], scalars: &[Scalar]) -> Result<G2, CurveError> {
    if points.len() != scalars.len() {
        return Err(CurveError::LengthMismatch {
            points: points.len(),
            scalars: scalars.len(),
        });
    }
    Ok(g2_msm_raw(points, &le_scalars(scalars), 32, 255))
}

/// Variable-time G2 multi-scalar multiplication with 128-bit scalars.
pub fn g2_msm_u128(points: &[G2Affine], weights: &[u128]) -> Result<G2, CurveError> {
    if points.len() != weights.len() {
        return Err(CurveError::LengthMismatch {
            points: points.len(),
            scalars: weights.len(),
        });
    }
    Ok(g2_msm_raw(points, &le_weights(weights), 16, 128))
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const R_HEX: &str = "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001";

    #[test]
    fn scalar_encoding_is_canonical() {
        let r = hex::decode(R_HEX).unwrap();
        assert_eq!(
            Scalar::from_be_bytes(&r),
            Err(CurveError::NonCanonicalScalar)
        );
        let mut r_minus_1 = r.clone();
        r_minus_1[31] = 0;
        let s = Scalar::from_be_bytes(&r_minus_1).unwrap();
        assert_eq!(s.to_be_bytes().to_vec(), r_minus_1);
        assert_eq!(s.add(&Scalar::one()), Scalar::zero());
        assert_eq!(
            Scalar::from_be_bytes(&[0xff; 32]),
            Err(CurveError::NonCanonicalScalar)
        );
        assert_eq!(
            Scalar::from_be_bytes(&[1; 31]),
            Err(CurveError::ScalarLength(31))
        );
        assert_eq!(
            Scalar::from_be_bytes(&[1; 33]),
            Err(CurveError::ScalarLength(33))
        );
        assert!(Scalar::from_be_bytes(&[0; 32]).unwrap().is_zero());
        let mut five = [0u8; 32];
        five[31] = 5;
        assert_eq!(Scalar::from_be_bytes(&five).unwrap(), Scalar::from_u64(5));
        assert_eq!(format!("{:?}", Scalar::from_u64(5)), "Scalar(<redacted>)");
    }

    #[test]
    fn kryptology_hash_vector() {
        let s = Scalar::hash_kryptology(&[0u8; 32]);
        assert_eq!(
            hex::encode(s.to_be_bytes()),
            "07ec86a2ab79613fc0294e058151ddc74db38b0cde95a4678eb91f1258f31b40"
        );
        let g = G1::generator().to_compressed();
        let mut msg = vec![1u8, 0];
        msg.extend_from_slice(&g);
        msg.extend_from_slice(&g);
        assert_eq!(
            hex::encode(Scalar::hash_kryptology(&msg).to_be_bytes()),
            "053a071f9ee62140bcb77d594dca299444686cabf8cb2de8d264e9122860fb4d"
        );
    }

    #[test]
    fn field_arithmetic() {
        let mut rng = StdRng::seed_from_u64(1);
        let a = Scalar::random(&mut rng);
        let b = Scalar::random_nonzero(&mut rng);
        assert_eq!(a.add(&b).sub(&b), a);
        assert_eq!(a.mul(&b).mul(&b.invert().unwrap()), a);
        assert_eq!(a.add(&a.neg()), Scalar::zero());
        assert_eq!(Scalar::zero().invert(), Err(CurveError::ZeroInverse));
        let vals: Vec<Scalar> = (1..6).map(Scalar::from_u64).collect();
        let inv = batch_invert(&vals).unwrap();
        for (v, i) in vals.iter().zip(inv.iter()) {
            assert_eq!(v.mul(i), Scalar::one());
        }
        assert!(batch_invert(&[Scalar::one(), Scalar::zero()]).is_err());
    }

    #[test]
    fn point_encoding_and_arithmetic() {
        let g = G1::generator();
        let enc = g.to_compressed();
        assert_eq!(G1::from_compressed(&enc).unwrap(), g);
        let two = g.add(&g);
        assert_eq!(g.mul_u64(2), two);
        assert_eq!(g.mul(&Scalar::from_u64(2)), two);
        assert_eq!(G1::mul_base(&Scalar::from_u64(2)), two);
        let mut rng = StdRng::seed_from_u64(9);
        for s in [
            Scalar::zero(),
            Scalar::one(),
            Scalar::one().neg(),
            Scalar::from_u64(256),
        ]
        .into_iter()
        .chain((0..20).map(|_| Scalar::random(&mut rng)))
        {
            assert_eq!(G1::mul_base_vartime(&s), G1::mul_base(&s));
            assert_eq!(g.mul_vartime(&s), g.mul(&s));
        }
        assert_eq!(two.sub(&g), g);
        assert!(g.sub(&g).is_identity());
        assert_eq!(g.mul_u64(0), G1::identity());
        let mut inf = [0u8; 48];
        inf[0] = 0xc0;
        assert_eq!(G1::identity().to_compressed(), inf);
        assert_eq!(G1::from_compressed(&inf), Err(CurveError::Identity));
        assert!(
            G1Affine::from_compressed_allow_identity(&inf)
                .unwrap()
                .is_identity()
        );
        assert_eq!(
            G1::from_compressed(&enc[..47]),
            Err(CurveError::PointLength(47))
        );
        // Uncompressed flag cleared.
        let mut bad = enc;
        bad[0] &= 0x7f;
        assert_eq!(G1::from_compressed(&bad), Err(CurveError::PointEncoding));
        // x = 0 gives (0, ±2): on the curve, not in G1.
        let mut zero_x = [0u8; 48];
        zero_x[0] = 0x80;
        assert_eq!(G1::from_compressed(&zero_x), Err(CurveError::NotInSubgroup));
        let pts = [g, two, G1::identity()];
        let comp = G1::batch_compress(&pts);
        for (p, c) in pts.iter().zip(comp.iter()) {
            assert_eq!(&p.to_compressed(), c);
        }
    }

    #[test]
    fn points_off_subgroup_are_rejected() {
        // Search x = 1, 2, ... for points on the curve; almost all of them lie
        // outside the prime-order subgroup (the cofactor is about 2^126).
        let mut found = 0;
        for x in 1u8..=60 {
            let mut enc = [0u8; 48];
            enc[0] = 0x80;
            enc[47] = x;
            match G1::from_compressed(&enc) {
                Err(CurveError::NotInSubgroup) => found += 1,
                Err(CurveError::PointEncoding) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(found > 5);
    }

    #[test]
    fn msm_matches_naive() {
        let mut rng = StdRng::seed_from_u64(2);
        for n in [0usize, 1, 2, 3, 7, 40] {
            let pts: Vec<G1> = (0..n)
                .map(|_| G1::mul_base(&Scalar::random(&mut rng)))
                .collect();
            let sc: Vec<Scalar> = (0..n).map(|_| Scalar::random(&mut rng)).collect();
            let w: Vec<u128> = (0..n)
                .map(|_| u128::from(rng.next_u64()) << 64 | 5)
                .collect();
            let aff = G1::batch_to_affine(&pts);
            let mut naive = G1::identity();
            let mut naive_w = G1::identity();
            for ((p, s), w) in pts.iter().zip(sc.iter()).zip(w.iter()) {
                naive = naive.add(&p.mul(s));
                let wb = Scalar::from_be_bytes_reduced(&w.to_be_bytes());
                naive_w = naive_w.add(&p.mul(&wb));
            }
            assert_eq!(msm(&aff, &sc).unwrap(), naive);
            assert_eq!(msm_u128(&aff, &w).unwrap(), naive_w);
        }
        // Identity points are skipped, not mis-added.
        let g = G1::generator();
        let aff = G1::batch_to_affine(&[G1::identity(), g]);
        let sc = [Scalar::from_u64(3), Scalar::from_u64(4)];
        assert_eq!(msm(&aff, &sc).unwrap(), g.mul_u64(4));
        assert!(msm(&aff, &sc[..1]).is_err());
    }

    #[test]
    fn lagrange_interpolates() {
        let mut rng = StdRng::seed_from_u64(3);
        let coeffs: Vec<Scalar> = (0..3).map(|_| Scalar::random(&mut rng)).collect();
        let idx = [2u64, 5, 7];
        let lambdas = lagrange_coefficients_at_zero(&idx).unwrap();
        let mut acc = Scalar::zero();
        for (i, l) in idx.iter().zip(lambdas.iter()) {
            acc = acc.add(&l.mul(&eval_poly(&coeffs, &Scalar::from_u64(*i))));
        }
        assert_eq!(acc, coeffs[0]);
        assert_eq!(lagrange_coefficients_at_zero(&[]), Err(CurveError::Empty));
        assert_eq!(
            lagrange_coefficients_at_zero(&[1, 0]),
            Err(CurveError::ZeroIndex)
        );
        assert_eq!(
            lagrange_coefficients_at_zero(&[3, 3]),
            Err(CurveError::DuplicateIndex(3))
        );
    }
}
