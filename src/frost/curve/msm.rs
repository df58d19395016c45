//! Variable-time multi-scalar multiplication in G1 and G2 (blst's
//! Pippenger/Straus), for public scalars only.

use blst::{
    blst_p1, blst_p1s_mult_pippenger, blst_p1s_mult_pippenger_scratch_sizeof, blst_p2,
    blst_p2s_mult_pippenger, blst_p2s_mult_pippenger_scratch_sizeof,
};

use super::error::CurveError;
use super::g1::{G1, G1Affine};
use super::g2::{G2, G2Affine};
use super::scalar::Scalar;

/// A scalar blst's multi-scalar multiplication reads as little-endian bytes:
/// a full field element, or a 128-bit random weight of batch verification
/// (about half the cost).
pub trait MsmScalar {
    /// Bytes per scalar.
    const BYTES: usize;
    /// Bits of those bytes that are used.
    const BITS: usize;
    /// Appends the scalar's little-endian bytes.
    fn put_le(&self, out: &mut Vec<u8>);
}

/// Implements [`MsmScalar`] for types with a `to_le_bytes` of that size.
macro_rules! msm_scalar {
    ($($ty:ty: $bytes:literal bytes, $bits:literal bits;)+) => {$(
        impl MsmScalar for $ty {
            const BYTES: usize = $bytes;
            const BITS: usize = $bits;
            fn put_le(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )+};
}

msm_scalar! {
    Scalar: 32 bytes, 255 bits;
    u128: 16 bytes, 128 bits;
}

/// Variable-time multi-scalar multiplication `sum scalars[i] * points[i]`
/// (blst's Pippenger/Straus). Only for public scalars.
pub fn msm<S: MsmScalar>(points: &[G1Affine], scalars: &[S]) -> Result<G1, CurveError> {
    Ok(msm_raw(
        points,
        &le_bytes(points.len(), scalars)?,
        S::BYTES,
        S::BITS,
    ))
}

/// [`msm`] in G2.
pub fn g2_msm<S: MsmScalar>(points: &[G2Affine], scalars: &[S]) -> Result<G2, CurveError> {
    Ok(g2_msm_raw(
        points,
        &le_bytes(points.len(), scalars)?,
        S::BYTES,
        S::BITS,
    ))
}

/// The scalars for `points` points as blst reads them; the length check
/// every entry point makes: one scalar per point.
fn le_bytes<S: MsmScalar>(points: usize, scalars: &[S]) -> Result<Vec<u8>, CurveError> {
    if points != scalars.len() {
        return Err(CurveError::LengthMismatch {
            points,
            scalars: scalars.len(),
        });
    }
    let mut bytes = Vec::with_capacity(S::BYTES * scalars.len());
    for s in scalars {
        s.put_le(&mut bytes);
    }
    Ok(bytes)
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
