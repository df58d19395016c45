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

/// Variable-time multi-scalar multiplication `sum scalars[i] * points[i]`
/// (blst's Pippenger/Straus). Only for public scalars.
pub fn msm(points: &[G1Affine], scalars: &[Scalar]) -> Result<G1, CurveError> {
    same_length(points.len(), scalars.len())?;
    Ok(msm_raw(points, &le_scalars(scalars), 32, 255))
}

/// Variable-time multi-scalar multiplication with 128-bit scalars, as used for
/// the random weights of batch verification (about half the cost of [`msm`]).
pub fn msm_u128(points: &[G1Affine], weights: &[u128]) -> Result<G1, CurveError> {
    same_length(points.len(), weights.len())?;
    Ok(msm_raw(points, &le_weights(weights), 16, 128))
}

/// Variable-time multi-scalar multiplication in G2. Only for public scalars.
pub fn g2_msm(points: &[G2Affine], scalars: &[Scalar]) -> Result<G2, CurveError> {
    same_length(points.len(), scalars.len())?;
    Ok(g2_msm_raw(points, &le_scalars(scalars), 32, 255))
}

/// Variable-time G2 multi-scalar multiplication with 128-bit scalars.
pub fn g2_msm_u128(points: &[G2Affine], weights: &[u128]) -> Result<G2, CurveError> {
    same_length(points.len(), weights.len())?;
    Ok(g2_msm_raw(points, &le_weights(weights), 16, 128))
}

/// The length check every entry point makes: one scalar per point.
fn same_length(points: usize, scalars: usize) -> Result<(), CurveError> {
    if points != scalars {
        return Err(CurveError::LengthMismatch { points, scalars });
    }
    Ok(())
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
