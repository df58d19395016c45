//! BLS signatures on BLS12-381 (public keys in G1, signatures in G2) with the
//! Ethereum proof-of-possession ciphersuite, as herumi's Ethereum mode uses.

use std::collections::BTreeMap;

use blst::BLST_ERROR;
use blst::min_pk;
use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::curve::{
    self, CurveError, G1, G1Affine, G2Affine, Scalar, lagrange_coefficients_at_zero,
};

/// Domain separation tag of the proof-of-possession ciphersuite Ethereum uses.
pub const DST_POP: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// Why a BLS operation failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlsError {
    /// Bytes that are not a valid, in-subgroup, non-identity point or scalar.
    #[error("invalid BLS {what} encoding")]
    Encoding {
        /// "public key", "signature" or "secret key".
        what: &'static str,
    },
    /// A signature that does not verify.
    #[error("BLS signature does not verify")]
    Verify,
    /// Nothing to aggregate.
    #[error("nothing to aggregate")]
    Empty,
    /// A set of share indices that cannot be interpolated (zero or duplicate).
    #[error("invalid share indices: {0}")]
    ShareIndex(CurveError),
    /// Interpolation produced the point at infinity.
    #[error("combined {what} is the identity")]
    IdentityResult {
        /// "public key" or "signature".
        what: &'static str,
    },
    /// An item of a batch with an undecodable key or signature.
    #[error("batch item {position}: invalid BLS {what} encoding")]
    ItemEncoding {
        /// 0-based position of the item in the batch.
        position: usize,
        /// "public key" or "signature".
        what: &'static str,
    },
    /// An item of a batch whose signature does not verify.
    #[error("batch item {position}: BLS signature does not verify")]
    ItemVerify {
        /// 0-based position of the item in the batch.
        position: usize,
    },
}

/// A BLS public key: 48-byte compressed G1 point.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 48]);

/// A BLS signature: 96-byte compressed G2 point.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 96]);

/// A BLS secret key (32-byte big-endian scalar), wiped on drop.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey(0x{})", hex::encode(self.0))
    }
}

impl std::fmt::Debug for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signature(0x{})", hex::encode(self.0))
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl PublicKey {
    /// Parses 48 bytes, rejecting anything that is not a valid non-identity point.
    pub fn from_bytes(b: &[u8]) -> Result<Self, BlsError> {
        let arr: [u8; 48] = b
            .try_into()
            .map_err(|_| BlsError::Encoding { what: "public key" })?;
        min_pk::PublicKey::key_validate(&arr)
            .map_err(|_| BlsError::Encoding { what: "public key" })?;
        Ok(PublicKey(arr))
    }

    fn to_blst(self) -> Result<min_pk::PublicKey, BlsError> {
        min_pk::PublicKey::uncompress(&self.0)
            .map_err(|_| BlsError::Encoding { what: "public key" })
    }

    /// Decodes the key as a G1 point (subgroup-checked, non-identity).
    pub fn to_point(&self) -> Result<G1Affine, BlsError> {
        G1Affine::from_compressed(&self.0).map_err(|_| BlsError::Encoding { what: "public key" })
    }

    /// The key for compressed point bytes known to be valid (e.g. freshly
    /// computed); `None` for the identity encoding.
    pub(crate) fn from_point_bytes(bytes: &[u8; 48]) -> Option<Self> {
        // Bit 6 of the first byte is the infinity flag.
        if bytes[0] & 0x40 != 0 {
            return None;
        }
        Some(PublicKey(*bytes))
    }

    /// The key for a G1 point, which must not be the identity.
    pub fn from_point(p: &G1) -> Result<Self, BlsError> {
        if p.is_identity() {
            return Err(BlsError::Encoding { what: "public key" });
        }
        Ok(PublicKey(p.to_compressed()))
    }
}

impl Signature {
    /// Parses 96 bytes, rejecting anything that is not a valid G2 point in the subgroup.
    pub fn from_bytes(b: &[u8]) -> Result<Self, BlsError> {
        let arr: [u8; 96] = b
            .try_into()
            .map_err(|_| BlsError::Encoding { what: "signature" })?;
        min_pk::Signature::sig_validate(&arr, false)
            .map_err(|_| BlsError::Encoding { what: "signature" })?;
        Ok(Signature(arr))
    }

    fn to_blst(self) -> Result<min_pk::Signature, BlsError> {
        min_pk::Signature::sig_validate(&self.0, false)
            .map_err(|_| BlsError::Encoding { what: "signature" })
    }

    fn to_point(self) -> Result<G2Affine, BlsError> {
        G2Affine::from_compressed(&self.0).map_err(|_| BlsError::Encoding { what: "signature" })
    }
}

impl SecretKey {
    /// Parses a 32-byte big-endian non-zero scalar below the group order.
    pub fn from_bytes(b: &[u8]) -> Result<Self, BlsError> {
        min_pk::SecretKey::from_bytes(b).map_err(|_| BlsError::Encoding { what: "secret key" })?;
        let mut arr = Zeroizing::new([0u8; 32]);
        arr.copy_from_slice(b);
        Ok(SecretKey(arr))
    }

    /// The key for a secret scalar, which must not be zero.
    pub fn from_scalar(s: &Scalar) -> Result<Self, BlsError> {
        if s.is_zero() {
            return Err(BlsError::Encoding { what: "secret key" });
        }
        Ok(SecretKey(s.to_be_bytes_zeroizing()))
    }

    /// The secret as a field element.
    pub fn to_scalar(&self) -> Scalar {
        // Validated as canonical and non-zero on construction.
        Scalar::from_be_bytes_reduced(self.0.as_slice())
    }

    /// The 32 secret bytes; callers must keep them in zeroizing storage.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        self.0.clone()
    }

    fn to_blst(&self) -> min_pk::SecretKey {
        // The bytes were validated on construction.
        match min_pk::SecretKey::from_bytes(self.0.as_slice()) {
            Ok(sk) => sk,
            Err(_) => unreachable!("secret key validated at construction"),
        }
    }

    /// The public key `sk * G1`.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.to_blst().sk_to_pk().compress())
    }

    /// Signs a message hashed once with [`HashedMessage::new`]; equal to
    /// [`SecretKey::sign`] of the same message.
    pub fn sign_hashed(&self, msg: &HashedMessage) -> Signature {
        Signature(msg.0.mul_secret(&self.to_scalar()).to_compressed())
    }

    /// Signs `msg` with the proof-of-possession ciphersuite.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.to_blst().sign(msg, DST_POP, &[]).compress())
    }
}

/// Verifies `sig` over `msg` under `pk`.
pub fn verify(pk: &PublicKey, msg: &[u8], sig: &Signature) -> Result<(), BlsError> {
    let pk = pk.to_blst()?;
    let sig = sig.to_blst()?;
    match sig.verify(true, msg, DST_POP, &[], &pk, true) {
        BLST_ERROR::BLST_SUCCESS => Ok(()),
        _ => Err(BlsError::Verify),
    }
}

/// Aggregates signatures by point addition.
pub fn aggregate(sigs: &[Signature]) -> Result<Signature, BlsError> {
    if sigs.is_empty() {
        return Err(BlsError::Empty);
    }
    let parsed = sigs
        .iter()
        .map(|s| s.to_blst())
        .collect::<Result<Vec<_>, _>>()?;
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
    if pks.is_empty() {
        return Err(BlsError::Empty);
    }
    let parsed = pks
        .iter()
        .map(|p| p.to_blst())
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&min_pk::PublicKey> = parsed.iter().collect();
    let sig = sig.to_blst()?;
    match sig.fast_aggregate_verify(true, msg, DST_POP, &refs) {
        BLST_ERROR::BLST_SUCCESS => Ok(()),
        _ => Err(BlsError::Verify),
    }
}

fn lagrange(indices: &[u64]) -> Result<Vec<Scalar>, BlsError> {
    lagrange_coefficients_at_zero(indices).map_err(BlsError::ShareIndex)
}

/// Interpolates public key shares (1-based share index, share) at zero: the
/// group public key they are shares of.
pub fn combine_public_shares(shares: &[(u64, PublicKey)]) -> Result<PublicKey, BlsError> {
    if shares.is_empty() {
        return Err(BlsError::Empty);
    }
    let indices: Vec<u64> = shares.iter().map(|(i, _)| *i).collect();
    let lambdas = lagrange(&indices)?;
    let points = shares
        .iter()
        .map(|(_, pk)| pk.to_point())
        .collect::<Result<Vec<_>, _>>()?;
    let sum = curve::msm(&points, &lambdas).map_err(|_| BlsError::Empty)?;
    if sum.is_identity() {
        return Err(BlsError::IdentityResult { what: "public key" });
    }
    Ok(PublicKey(sum.to_compressed()))
}

/// Interpolates partial signatures (1-based share index, signature) at zero:
/// the group signature, valid if at least `threshold` correct partials over
/// the same message are given.
pub fn threshold_combine(partials: &[(u64, Signature)]) -> Result<Signature, BlsError> {
    if partials.is_empty() {
        return Err(BlsError::Empty);
    }
    let indices: Vec<u64> = partials.iter().map(|(i, _)| *i).collect();
    let lambdas = lagrange(&indices)?;
    let points = partials
        .iter()
        .map(|(_, sig)| sig.to_point())
        .collect::<Result<Vec<_>, _>>()?;
    let sum = curve::g2_msm(&points, &lambdas).map_err(|_| BlsError::Empty)?;
    Ok(Signature(sum.to_compressed()))
}

/// A message hashed to G2 with the proof-of-possession ciphersuite. Hashing is
/// a large share of signing and verifying, so a message that many shares sign
/// and many partials are checked against is hashed once.
#[derive(Clone, Copy, Debug)]
pub struct HashedMessage(G2Affine);

impl HashedMessage {
    /// Hashes `msg` to G2.
    pub fn new(msg: &[u8]) -> Self {
        HashedMessage(curve::hash_to_g2(msg, DST_POP))
    }
}

/// A public key decoded and subgroup-checked once, for keys checked many
/// times (a validator's public shares are used in every exchange).
#[derive(Clone, Copy, Debug)]
pub struct PreparedKey(G1Affine);

impl PublicKey {
    /// Decodes and checks the key once for repeated use.
    pub fn prepare(&self) -> Result<PreparedKey, BlsError> {
        self.to_point().map(PreparedKey)
    }
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
        let combined = curve::msm_u128(
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
    let sig_sum = curve::g2_msm_u128(&sigs, &weights).map_err(|_| BlsError::Verify)?;
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
fn binomials(t: usize) -> Option<Vec<(u64, bool)>> {
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
        let p = curve::msm_u128(g_pks, g_w).map_err(|_| BlsError::Verify)?;
        combined.push(p);
    }
    let affine = G1::batch_to_affine(&combined);
    let terms: Vec<(G1Affine, &[u8])> = affine
        .iter()
        .zip(groups.keys())
        .map(|(p, m)| (*p, *m))
        .collect();
    let sig_sum = curve::g2_msm_u128(&sigs, &weights).map_err(|_| BlsError::Verify)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn sign_verify_aggregate() {
        let sk1 = SecretKey::from_bytes(&[1u8; 32]).expect("valid");
        let sk2 = SecretKey::from_bytes(&[2u8; 32]).expect("valid");
        let msg = b"lock hash";
        let s1 = sk1.sign(msg);
        verify(&sk1.public_key(), msg, &s1).expect("verifies");
        assert_eq!(verify(&sk2.public_key(), msg, &s1), Err(BlsError::Verify));
        let agg = aggregate(&[s1, sk2.sign(msg)]).expect("aggregates");
        fast_aggregate_verify(&[sk1.public_key(), sk2.public_key()], msg, &agg).expect("fav");
        assert!(fast_aggregate_verify(&[sk1.public_key()], msg, &agg).is_err());
        assert!(PublicKey::from_bytes(&[0u8; 48]).is_err());
        assert!(SecretKey::from_bytes(&[0u8; 32]).is_err());
        assert!(format!("{sk1:?}").contains("redacted"));
    }

    fn shares_of(secret: &Scalar, t: usize, n: u64, rng: &mut StdRng) -> Vec<(u64, SecretKey)> {
        let mut coeffs = vec![secret.clone()];
        coeffs.extend((1..t).map(|_| Scalar::random(rng)));
        (1..=n)
            .map(|i| {
                let v = curve::eval_poly(&coeffs, &Scalar::from_u64(i));
                (i, SecretKey::from_scalar(&v).unwrap())
            })
            .collect()
    }

    /// Validators with t-of-n shares, each signing its own message.
    struct Cluster {
        groups: Vec<SecretKey>,
        msgs: Vec<HashedMessage>,
        partials: Vec<Vec<(u64, PreparedKey, Signature)>>,
    }

    fn cluster(t: usize, n: u64, validators: usize, seed: u64) -> Cluster {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut c = Cluster {
            groups: Vec::new(),
            msgs: Vec::new(),
            partials: Vec::new(),
        };
        for v in 0..validators {
            let secret = Scalar::random_nonzero(&mut rng);
            let msg = HashedMessage::new(format!("root {v}").as_bytes());
            let shares = shares_of(&secret, t, n, &mut rng);
            c.partials.push(
                shares
                    .iter()
                    .map(|(i, sk)| {
                        let pk = sk.public_key().prepare().unwrap();
                        (*i, pk, sk.sign_hashed(&msg))
                    })
                    .collect(),
            );
            c.groups.push(SecretKey::from_scalar(&secret).unwrap());
            c.msgs.push(msg);
        }
        c
    }

    fn sets(c: &Cluster) -> Vec<PartialSet<'_>> {
        c.msgs
            .iter()
            .zip(&c.partials)
            .map(|(msg, partials)| PartialSet { msg, partials })
            .collect()
    }

    #[test]
    fn sign_hashed_equals_sign() {
        let sk = SecretKey::from_bytes(&[9u8; 32]).unwrap();
        for msg in [&b""[..], b"a", &[0xab; 32], &[1; 200]] {
            assert_eq!(sk.sign_hashed(&HashedMessage::new(msg)), sk.sign(msg));
        }
    }

    #[test]
    fn verify_and_combine_gives_each_group_signature() {
        let mut rng = StdRng::seed_from_u64(1);
        for (t, n) in [(1, 1), (2, 3), (3, 4), (5, 7), (7, 10)] {
            let c = cluster(t, n, 6, t as u64 * 100 + n);
            let out = verify_and_combine(&sets(&c), Merge::Threshold(t), &mut rng).unwrap();
            for ((sig, group), v) in out.iter().zip(&c.groups).zip(0..) {
                assert_eq!(
                    *sig,
                    group.sign(format!("root {v}").as_bytes()),
                    "t={t} n={n}"
                );
            }
        }
    }

    #[test]
    fn verify_and_combine_any_index_set_and_order() {
        let mut rng = StdRng::seed_from_u64(2);
        let mut c = cluster(3, 6, 3, 5);
        // Drop shares 1 and 3 (non-consecutive lowest indices) and shuffle.
        for list in &mut c.partials {
            list.retain(|(i, _, _)| *i != 1 && *i != 3);
            list.reverse();
        }
        let out = verify_and_combine(&sets(&c), Merge::Threshold(3), &mut rng).unwrap();
        for (v, sig) in out.iter().enumerate() {
            assert_eq!(*sig, c.groups[v].sign(format!("root {v}").as_bytes()));
        }
        // Fewer partials than the threshold cannot be interpolated.
        for list in &mut c.partials {
            list.truncate(2);
        }
        assert!(verify_and_combine(&sets(&c), Merge::Threshold(3), &mut rng).is_err());
    }

    #[test]
    fn verify_and_combine_names_every_bad_partial_position() {
        let mut rng = StdRng::seed_from_u64(3);
        let c = cluster(3, 4, 4, 9);
        let total: usize = c.partials.iter().map(Vec::len).sum();
        for position in 0..total {
            let mut bad = c.partials.clone();
            let (v, k) = (position / 4, position % 4);
            // A valid signature, but over another validator's message.
            bad[v][k].2 = bad[(v + 1) % 4][k].2;
            let bad_cluster = Cluster {
                groups: Vec::new(),
                msgs: c.msgs.clone(),
                partials: bad,
            };
            for merge in [Merge::Threshold(3), Merge::Sum] {
                assert_eq!(
                    verify_and_combine(&sets(&bad_cluster), merge, &mut rng),
                    Err(BlsError::ItemVerify { position })
                );
            }
        }
        let mut garbage = c.partials.clone();
        garbage[2][1].2 = Signature([0xff; 96]);
        let g = Cluster {
            groups: Vec::new(),
            msgs: c.msgs.clone(),
            partials: garbage,
        };
        assert_eq!(
            verify_and_combine(&sets(&g), Merge::Sum, &mut rng),
            Err(BlsError::ItemEncoding {
                position: 9,
                what: "signature"
            })
        );
    }

    #[test]
    fn verify_and_combine_sum_is_the_aggregate() {
        let mut rng = StdRng::seed_from_u64(4);
        let c = cluster(3, 4, 1, 11);
        let out = verify_and_combine(&sets(&c), Merge::Sum, &mut rng).unwrap();
        let sigs: Vec<Signature> = c.partials[0].iter().map(|p| p.2).collect();
        assert_eq!(out, vec![aggregate(&sigs).unwrap()]);
        assert_eq!(
            verify_and_combine(&[], Merge::Sum, &mut rng),
            Ok(Vec::new())
        );
    }

    #[test]
    fn binomial_coefficients_are_lagrange_at_zero() {
        for t in 1..=12usize {
            let indices: Vec<u64> = (1..=t as u64).collect();
            let lambdas = lagrange(&indices).unwrap();
            for ((c, negative), l) in binomials(t).unwrap().into_iter().zip(lambdas) {
                let s = Scalar::from_u64(c);
                assert_eq!(if negative { s.neg() } else { s }, l, "t={t}");
            }
        }
        assert!(binomials(70).is_none());
    }

    #[test]
    fn threshold_shares_combine() {
        let mut rng = StdRng::seed_from_u64(7);
        let secret = Scalar::random_nonzero(&mut rng);
        let group = SecretKey::from_scalar(&secret).unwrap();
        let shares = shares_of(&secret, 3, 5, &mut rng);
        let msg = b"deposit root";
        let pubs: Vec<(u64, PublicKey)> =
            shares.iter().map(|(i, sk)| (*i, sk.public_key())).collect();
        let partials: Vec<(u64, Signature)> =
            shares.iter().map(|(i, sk)| (*i, sk.sign(msg))).collect();
        // Every 3-subset, and the full set, reconstructs the group key and signature.
        for subset in [[0usize, 1, 2], [0, 2, 4], [4, 3, 1], [1, 2, 3]] {
            let p: Vec<_> = subset.iter().map(|&k| pubs[k]).collect();
            assert_eq!(combine_public_shares(&p).unwrap(), group.public_key());
            let s: Vec<_> = subset.iter().map(|&k| partials[k]).collect();
            let sig = threshold_combine(&s).unwrap();
            assert_eq!(sig, group.sign(msg));
            verify(&group.public_key(), msg, &sig).unwrap();
        }
        assert_eq!(combine_public_shares(&pubs).unwrap(), group.public_key());
        // Two shares of a degree-2 polynomial do not.
        assert_ne!(
            combine_public_shares(&pubs[..2]).unwrap(),
            group.public_key()
        );
        assert_ne!(threshold_combine(&partials[..2]).unwrap(), group.sign(msg));
        // Index errors.
        assert_eq!(combine_public_shares(&[]), Err(BlsError::Empty));
        assert!(matches!(
            combine_public_shares(&[pubs[0], pubs[0]]),
            Err(BlsError::ShareIndex(CurveError::DuplicateIndex(1)))
        ));
        assert!(matches!(
            threshold_combine(&[(0, partials[0].1)]),
            Err(BlsError::ShareIndex(CurveError::ZeroIndex))
        ));
        assert!(combine_public_shares(&[(1, PublicKey([0u8; 48]))]).is_err());
    }

    #[test]
    fn batch_verification_names_the_bad_item() {
        let mut rng = StdRng::seed_from_u64(8);
        let keys: Vec<SecretKey> = (0..6)
            .map(|_| SecretKey::from_scalar(&Scalar::random_nonzero(&mut rng)).unwrap())
            .collect();
        let msgs: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i % 3; 32]).collect();
        let pks: Vec<PublicKey> = keys.iter().map(SecretKey::public_key).collect();
        let sigs: Vec<Signature> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
        let items = |sigs: &[Signature]| -> Vec<(PublicKey, Vec<u8>, Signature)> {
            pks.iter()
                .zip(&msgs)
                .zip(sigs)
                .map(|((p, m), s)| (*p, m.clone(), *s))
                .collect()
        };
        let run = |owned: &[(PublicKey, Vec<u8>, Signature)], rng: &mut StdRng| {
            let batch: Vec<BatchItem<'_>> = owned
                .iter()
                .map(|(p, m, s)| BatchItem {
                    public_key: p,
                    msg: m,
                    signature: s,
                })
                .collect();
            verify_batch(&batch, rng)
        };
        assert_eq!(run(&items(&sigs), &mut rng), Ok(()));
        assert_eq!(run(&[], &mut rng), Ok(()));
        for bad in 0..6 {
            // Valid signature, wrong key/message pairing.
            let mut s = sigs.clone();
            s[bad] = keys[(bad + 1) % 6].sign(&msgs[bad]);
            assert_eq!(
                run(&items(&s), &mut rng),
                Err(BlsError::ItemVerify { position: bad })
            );
        }
        // Two errors that would cancel in an unweighted sum.
        let mut s = sigs.clone();
        s.swap(0, 3); // same message (0 % 3 == 3 % 3), different keys
        assert_eq!(
            run(&items(&s), &mut rng),
            Err(BlsError::ItemVerify { position: 0 })
        );
        let mut owned = items(&sigs);
        owned[4].2 = Signature([0u8; 96]);
        assert_eq!(
            run(&owned, &mut rng),
            Err(BlsError::ItemEncoding {
                position: 4,
                what: "signature"
            })
        );
    }
}
