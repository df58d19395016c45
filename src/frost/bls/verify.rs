//! Verification of single, aggregate and batched signatures.

use std::collections::BTreeMap;

use blst::BLST_ERROR;
use blst::min_pk;
use rand::{CryptoRng, RngCore};

use super::error::BlsError;
use super::keys::{DST_POP, PublicKey, Signature};
use crate::frost::curve::{self, G1, G1Affine};

/// Verifies `sig` over `msg` under `pk`.
pub fn verify(pk: &PublicKey, msg: &[u8], sig: &Signature) -> Result<(), BlsError> {
    let pk = pk.to_blst()?;
    let sig = sig.to_blst()?;
    match sig.verify(true, msg, DST_POP, &[], &pk, true) {
        BLST_ERROR::BLST_SUCCESS => Ok(()),
        _ => Err(BlsError::Verify),
    }
}

/// Decodes every item of a non-empty list into its blst form.
fn parse_all<T: Copy, B>(
    items: &[T],
    to_blst: impl Fn(T) -> Result<B, BlsError>,
) -> Result<Vec<B>, BlsError> {
    if items.is_empty() {
        return Err(BlsError::Empty);
    }
    items.iter().map(|&t| to_blst(t)).collect()
}

/// Aggregates signatures by point addition.
pub fn aggregate(sigs: &[Signature]) -> Result<Signature, BlsError> {
    let parsed = parse_all(sigs, |s| s.to_blst())?;
    let refs: Vec<&min_pk::Signature> = parsed.iter().collect();
    let agg = min_pk::AggregateSignature::aggregate(&refs, false)
        .map_err(|_| BlsError::Encoding { what: "signature" })?;
    Ok(Signature(agg.to_signature().compress()))
}

/// Verifies an aggregate signature of many keys over one message.
pub fn fast_aggregate_verify(
    pks: &[PublicKey],
    msg: &[u8],
    sig: &Signature,
) -> Result<(), BlsError> {
    let parsed = parse_all(pks, |p| p.to_blst())?;
    let refs: Vec<&min_pk::PublicKey> = parsed.iter().collect();
    let sig = sig.to_blst()?;
    match sig.fast_aggregate_verify(true, msg, DST_POP, &refs) {
        BLST_ERROR::BLST_SUCCESS => Ok(()),
        _ => Err(BlsError::Verify),
    }
}

/// One (public key, message, signature) triple of a batch verification.
#[derive(Debug, Clone, Copy)]
pub struct BatchItem<'a> {
    /// The signer's public key (share).
    pub public_key: &'a PublicKey,
    /// The signed message.
    pub msg: &'a [u8],
    /// The signature to check.
    pub signature: &'a Signature,
}

/// Verifies many signatures at once with a random linear combination:
/// `e(G, sum r_i sig_i) == prod_m e(sum_{i: msg_i = m} r_i pk_i, H(m))`, one
/// Miller loop and one hash-to-curve per distinct message. On failure, checks
/// the items one by one and names the first bad one's position.
pub fn verify_batch<R: RngCore + CryptoRng>(
    items: &[BatchItem<'_>],
    rng: &mut R,
) -> Result<(), BlsError> {
    if items.is_empty() {
        return Ok(());
    }
    let mut pks = Vec::with_capacity(items.len());
    let mut sigs = Vec::with_capacity(items.len());
    for (position, item) in items.iter().enumerate() {
        pks.push(
            item.public_key
                .to_point()
                .map_err(|_| BlsError::ItemEncoding {
                    position,
                    what: "public key",
                })?,
        );
        sigs.push(
            item.signature
                .to_point()
                .map_err(|_| BlsError::ItemEncoding {
                    position,
                    what: "signature",
                })?,
        );
    }
    // Non-zero 128-bit weights: a forged item escapes with probability 2^-127.
    let weights: Vec<u128> = (0..items.len())
        .map(|_| {
            let mut b = [0u8; 16];
            rng.fill_bytes(&mut b);
            u128::from_le_bytes(b) | 1
        })
        .collect();

    let mut groups: BTreeMap<&[u8], (Vec<G1Affine>, Vec<u128>)> = BTreeMap::new();
    for ((item, pk), w) in items.iter().zip(pks.iter()).zip(weights.iter()) {
        let entry = groups.entry(item.msg).or_default();
        entry.0.push(*pk);
        entry.1.push(*w);
    }
    let mut combined = Vec::with_capacity(groups.len());
    for (g_pks, g_w) in groups.values() {
        let p = curve::msm(g_pks, g_w).map_err(|_| BlsError::Verify)?;
        combined.push(p);
    }
    let affine = G1::batch_to_affine(&combined);
    let terms: Vec<(G1Affine, &[u8])> = affine
        .iter()
        .zip(groups.keys())
        .map(|(p, m)| (*p, *m))
        .collect();
    let sig_sum = curve::g2_msm(&sigs, &weights).map_err(|_| BlsError::Verify)?;
    if curve::pairing_check(&terms, &sig_sum.to_affine(), DST_POP) {
        return Ok(());
    }
    for (position, item) in items.iter().enumerate() {
        if verify(item.public_key, item.msg, item.signature).is_err() {
            return Err(BlsError::ItemVerify { position });
        }
    }
    // Only reachable if the batch equation and the single checks disagree,
    // which cannot happen for honest inputs; fail closed.
    Err(BlsError::Verify)
}
