//! The scalar field Fr of BLS12-381.

use blst::{
    blst_bendian_from_scalar, blst_expand_message_xmd, blst_fr, blst_fr_add, blst_fr_cneg,
    blst_fr_from_scalar, blst_fr_from_uint64, blst_fr_inverse, blst_fr_mul, blst_fr_sub,
    blst_scalar, blst_scalar_fr_check, blst_scalar_from_be_bytes, blst_scalar_from_bendian,
    blst_scalar_from_fr,
};
use rand::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

use super::error::CurveError;
use super::ffi::blst_out;

/// Domain separation tag of kryptology's BLS12-381 hash-to-scalar (note: no
/// `G1_` and no suite suffix).
pub const KRYPTOLOGY_SCALAR_DST: &[u8] = b"BLS12381_XMD:SHA-256_SSWU_RO_";

/// An element of the scalar field Fr (mod r), wiped on drop.
///
/// Stored in blst's Montgomery form; all arithmetic is constant time.
pub struct Scalar(pub(super) blst_fr);

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
        // SAFETY: blst reads four u64 limbs from `limbs` and writes `out`.
        Scalar(blst_out(|out| unsafe {
            blst_fr_from_uint64(out, limbs.as_ptr())
        }))
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
        // SAFETY: `s` holds a value below r (checked or reduced by the caller).
        Scalar(blst_out(|out| unsafe { blst_fr_from_scalar(out, s) }))
    }

    /// blst's little-endian scalar form, wiped on drop by blst's own type.
    pub(super) fn to_blst_scalar(&self) -> blst_scalar {
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
    pub(super) fn to_le_bytes(&self) -> [u8; 32] {
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
        // SAFETY: all pointers valid; blst allows no aliasing issues here.
        Scalar(blst_out(|out| unsafe { blst_fr_add(out, &self.0, &rhs.0) }))
    }

    /// `self - rhs`.
    pub fn sub(&self, rhs: &Scalar) -> Scalar {
        // SAFETY: all pointers valid.
        Scalar(blst_out(|out| unsafe { blst_fr_sub(out, &self.0, &rhs.0) }))
    }

    /// `self * rhs`.
    pub fn mul(&self, rhs: &Scalar) -> Scalar {
        // SAFETY: all pointers valid.
        Scalar(blst_out(|out| unsafe { blst_fr_mul(out, &self.0, &rhs.0) }))
    }

    /// `-self`.
    pub fn neg(&self) -> Scalar {
        // SAFETY: all pointers valid.
        Scalar(blst_out(|out| unsafe { blst_fr_cneg(out, &self.0, true) }))
    }

    /// `1 / self`, or an error for zero.
    pub fn invert(&self) -> Result<Scalar, CurveError> {
        if self.is_zero() {
            return Err(CurveError::ZeroInverse);
        }
        // SAFETY: all pointers valid; the input is non-zero.
        Ok(Scalar(blst_out(|out| unsafe {
            blst_fr_inverse(out, &self.0)
        })))
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
