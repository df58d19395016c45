//! Threshold interpolation of public shares and partial signatures.

use rand::{CryptoRng, RngCore};

use super::error::BlsError;
use super::keys::{HashedMessage, PreparedKey, PublicKey, Signature};
use crate::frost::curve::{
    self, CurveError, G1, G1Affine, G2Affine, Scalar, lagrange_coefficients_at_zero,
};

pub(super) fn lagrange(indices: &[u64]) -> Result<Vec<Scalar>, BlsError> {
    lagrange_coefficients_at_zero(indices).map_err(BlsError::ShareIndex)
}

/// Interpolates `items` (1-based share index, item) at zero: each item's
/// point weighted by its Lagrange coefficient, summed by `msm`. Public keys
/// and signatures share this; only their group differs.
fn interpolate_all<T, P, S>(
    items: &[(u64, T)],
    to_point: impl Fn(&T) -> Result<P, BlsError>,
    msm: impl FnOnce(&[P], &[Scalar]) -> Result<S, CurveError>,
) -> Result<S, BlsError> {
    if items.is_empty() {
        return Err(BlsError::Empty);
    }
    let indices: Vec<u64> = items.iter().map(|(i, _)| *i).collect();
    let lambdas = lagrange(&indices)?;
    let points = items
        .iter()
        .map(|(_, item)| to_point(item))
        .collect::<Result<Vec<_>, _>>()?;
    msm(&points, &lambdas).map_err(|_| BlsError::Empty)
}

/// Interpolates public key shares (1-based share index, share) at zero: the
/// group public key they are shares of.
pub fn combine_public_shares(shares: &[(u64, PublicKey)]) -> Result<PublicKey, BlsError> {
    let sum = interpolate_all(shares, PublicKey::to_point, curve::msm)?;
    if sum.is_identity() {
        return Err(BlsError::IdentityResult { what: "public key" });
    }
    Ok(PublicKey(sum.to_compressed()))
}

/// Interpolates partial signatures (1-based share index, signature) at zero:
/// the group signature, valid if at least `threshold` correct partials over
/// the same message are given.
pub fn threshold_combine(partials: &[(u64, Signature)]) -> Result<Signature, BlsError> {
    let sum = interpolate_all(partials, |sig| sig.to_point(), curve::g2_msm)?;
    Ok(Signature(sum.to_compressed()))
}

/// The partial signatures of one key's shares over one message, for
/// [`verify_and_combine`].
#[derive(Debug, Clone, Copy)]
pub struct PartialSet<'a> {
    /// The message, hashed.
    pub msg: &'a HashedMessage,
    /// (1-based share index, public share, partial signature), any order.
    pub partials: &'a [(u64, PreparedKey, Signature)],
}

/// How [`verify_and_combine`] merges each set's verified partials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Interpolate the group signature from the `t` lowest share indices.
    Threshold(usize),
    /// Add them all (an aggregate signature of every share).
    Sum,
}

/// Verifies every partial of every set in one random linear combination (one
/// Miller loop per set, no re-hashing) and merges each set's partials into one
/// signature. Every partial is checked, not only the ones merged, so a bad
/// share is always caught; on failure the partials are checked one by one and
/// the error names the first bad one by its position in the flattened list
/// (set by set, partials in the given order).
///
/// With all partials valid and the public shares on one polynomial, the
/// interpolated signature is the group signature: verifying it again would
/// only repeat this check.
pub fn verify_and_combine<R: RngCore + CryptoRng>(
    sets: &[PartialSet<'_>],
    merge: Merge,
    rng: &mut R,
) -> Result<Vec<Signature>, BlsError> {
    let total: usize = sets.iter().map(|s| s.partials.len()).sum();
    let mut sigs = Vec::with_capacity(total);
    let mut weights = Vec::with_capacity(total);
    let mut keys = Vec::with_capacity(total);
    let mut terms = Vec::with_capacity(sets.len());
    for set in sets {
        if set.partials.is_empty() {
            return Err(BlsError::Empty);
        }
        let start = keys.len();
        for (_, pk, sig) in set.partials {
            let sig = sig.to_point().map_err(|_| BlsError::ItemEncoding {
                position: keys.len(),
                what: "signature",
            })?;
            let mut b = [0u8; 16];
            rng.fill_bytes(&mut b);
            keys.push(pk.0);
            weights.push(u128::from_le_bytes(b) | 1);
            sigs.push(sig);
        }
        let (set_keys, set_weights) = (keys.get(start..), weights.get(start..));
        let combined = curve::msm(
            set_keys.unwrap_or_default(),
            set_weights.unwrap_or_default(),
        )
        .map_err(|_| BlsError::Verify)?;
        terms.push(combined);
    }
    if sets.is_empty() {
        return Ok(Vec::new());
    }
    let affine = G1::batch_to_affine(&terms);
    let hashed: Vec<(G1Affine, G2Affine)> = affine
        .iter()
        .zip(sets)
        .map(|(p, set)| (*p, set.msg.0))
        .collect();
    let sig_sum = curve::g2_msm(&sigs, &weights).map_err(|_| BlsError::Verify)?;
    if !curve::pairing_check_hashed(&hashed, &sig_sum.to_affine()) {
        let mut position = 0;
        for set in sets {
            for _ in set.partials {
                let (Some(pk), Some(sig)) = (keys.get(position), sigs.get(position)) else {
                    return Err(BlsError::Verify);
                };
                if !curve::pairing_check_hashed(&[(*pk, set.msg.0)], sig) {
                    return Err(BlsError::ItemVerify { position });
                }
                position += 1;
            }
        }
        // The batch and the single checks disagree: fail closed.
        return Err(BlsError::Verify);
    }

    let mut out = Vec::with_capacity(sets.len());
    let mut start = 0;
    for set in sets {
        let points = sigs
            .get(start..start + set.partials.len())
            .ok_or(BlsError::Verify)?;
        start += set.partials.len();
        let merged = match merge {
            Merge::Sum => points
                .iter()
                .fold(curve::G2::identity(), |acc, p| acc.add(&p.to_projective())),
            Merge::Threshold(t) => interpolate(set.partials, points, t)?,
        };
        out.push(Signature(merged.to_compressed()));
    }
    Ok(out)
}

/// Interpolates at zero from the `t` partials with the lowest indices. When
/// those are exactly 1..=t the Lagrange coefficients are the integers
/// `(-1)^(i+1) * C(t, i)`, so small multiplications replace full ones.
fn interpolate(
    partials: &[(u64, PreparedKey, Signature)],
    points: &[G2Affine],
    t: usize,
) -> Result<curve::G2, BlsError> {
    let mut order: Vec<(u64, &G2Affine)> =
        partials.iter().map(|(i, _, _)| *i).zip(points).collect();
    order.sort_by_key(|(i, _)| *i);
    let chosen = order
        .get(..t)
        .ok_or(BlsError::ShareIndex(CurveError::Empty))?;
    if t == 0 {
        return Err(BlsError::Empty);
    }
    let consecutive = chosen.iter().zip(1u64..).all(|((i, _), want)| *i == want);
    if consecutive && let Some(coeffs) = binomials(t) {
        let mut acc = curve::G2::identity();
        for ((_, p), (c, negative)) in chosen.iter().zip(coeffs) {
            let term = p.mul_u64(c);
            acc = acc.add(&if negative { term.neg() } else { term });
        }
        return Ok(acc);
    }
    let indices: Vec<u64> = chosen.iter().map(|(i, _)| *i).collect();
    let lambdas = lagrange(&indices)?;
    let pts: Vec<G2Affine> = chosen.iter().map(|(_, p)| **p).collect();
    curve::g2_msm(&pts, &lambdas).map_err(|_| BlsError::Empty)
}

/// `(C(t, i), i even)` for i in 1..=t: the Lagrange coefficients at zero of
/// the points 1..=t, as magnitude and sign. `None` if one overflows a u64.
pub(super) fn binomials(t: usize) -> Option<Vec<(u64, bool)>> {
    let t = u64::try_from(t).ok()?;
    let mut out = Vec::new();
    let mut c: u64 = 1;
    for i in 1..=t {
        // C(t, i) = C(t, i-1) * (t - i + 1) / i, exact at every step.
        c = u64::try_from(u128::from(c) * u128::from(t - i + 1) / u128::from(i)).ok()?;
        out.push((c, i % 2 == 0));
    }
    Some(out)
}
