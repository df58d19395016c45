//! kryptology-compatible FROST DKG on BLS12-381 G1, one [`Participant`] per
//! validator, with round 2 batched across peers and validators.
//!
//! Round 1 (kryptology `dkg_round1.go`): a random polynomial of `t`
//! coefficients, commitments `A_k = a_k * G`, a Schnorr proof of knowledge of
//! `a_0` with challenge `H(byte(id) || 0x00 || A_0 || R)`, and shares `f(j)`.
//! Round 2 (`dkg_round2.go`): verify every proof and every share against the
//! sender's commitments, then derive the secret share, the group key and the
//! public shares of every participant.

use std::collections::BTreeMap;

use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::bls::{PublicKey, SecretKey};
use super::curve::{self, G1, G1Affine, Scalar};
use super::error::FrostError;
use super::messages::{Round1Bcast, Round2Bcast, ShamirShare};

/// kryptology's context byte. Charon passes a `0x…` string that kryptology's
/// integer conversion rejects, so it is always zero (spec §4.2).
const CONTEXT_BYTE: u8 = 0;

/// kryptology's share limit (`sharing/feldman.go`).
pub const MAX_PARTICIPANTS: u32 = 255;

/// The kryptology FROST challenge `H(byte(id) || ctx || A_0 || R)`.
pub fn challenge(id: u8, a0: &[u8; 48], r: &[u8; 48]) -> Scalar {
    let mut msg = [0u8; 2 + 48 + 48];
    msg[0] = id;
    msg[1] = CONTEXT_BYTE;
    msg[2..50].copy_from_slice(a0);
    msg[50..].copy_from_slice(r);
    Scalar::hash_kryptology(&msg)
}

/// One node's DKG state for one validator after round 1.
pub struct Participant {
    id: u32,
    threshold: u32,
    n: u32,
    bcast: Round1Bcast,
    commitments: Vec<G1Affine>,
    shares: BTreeMap<u32, ShamirShare>,
    own_share: Scalar,
    /// Secret salt for the random weights of batch verification.
    seed: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Participant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Participant")
            .field("id", &self.id)
            .field("threshold", &self.threshold)
            .field("n", &self.n)
            .field("secrets", &"<redacted>")
            .finish()
    }
}

impl Participant {
    /// Runs round 1 for share index `id` (1-based) of `n` with threshold `t`:
    /// samples the secret polynomial, commits to it, proves knowledge of the
    /// secret and computes every participant's share. The polynomial itself is
    /// wiped once the shares exist.
    pub fn new<R: RngCore + CryptoRng>(
        id: u32,
        threshold: u32,
        n: u32,
        rng: &mut R,
    ) -> Result<Self, FrostError> {
        if threshold < 2 || threshold > n || n > MAX_PARTICIPANTS || id == 0 || id > n {
            return Err(FrostError::Parameters { id, threshold, n });
        }
        // kryptology rejects identity commitments, so every coefficient must
        // be non-zero.
        let coeffs: Vec<Scalar> = (0..threshold)
            .map(|_| Scalar::random_nonzero(rng))
            .collect();
        let nonce = Scalar::random_nonzero(rng);
        let mut points: Vec<G1> = coeffs.iter().map(G1::mul_base).collect();
        points.push(G1::mul_base(&nonce));
        let affine = G1::batch_to_affine(&points);
        let encoded: Vec<[u8; 48]> = affine.iter().map(G1Affine::to_compressed).collect();
        let (commit_bytes, r_bytes) = encoded.split_at(threshold as usize);
        let (Some(a0), Some(r), Some(a0_secret)) =
            (commit_bytes.first(), r_bytes.first(), coeffs.first())
        else {
            return Err(FrostError::Parameters { id, threshold, n });
        };
        let c = challenge(id as u8, a0, r);
        let w = nonce.add(&a0_secret.mul(&c));

        let mut shares = BTreeMap::new();
        let mut own_share = Scalar::zero();
        for j in 1..=n {
            let v = curve::eval_poly(&coeffs, &Scalar::from_u64(u64::from(j)));
            if j == id {
                own_share = v;
            } else {
                shares.insert(
                    j,
                    ShamirShare {
                        id: j,
                        value: v.to_be_bytes_zeroizing(),
                    },
                );
            }
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut_slice());

        Ok(Participant {
            id,
            threshold,
            n,
            bcast: Round1Bcast {
                commitments: commit_bytes.to_vec(),
                wi: w.to_be_bytes(),
                ci: c.to_be_bytes(),
            },
            commitments: affine
                .get(..threshold as usize)
                .unwrap_or_default()
                .to_vec(),
            shares,
            own_share,
            seed,
        })
    }

    /// Restores a participant from its own round-1 output: the broadcast it
    /// sent and the shares it computed for every participant, itself
    /// included (keyed by recipient). The output is verified as a peer's
    /// would be: valid proof, and every share on the committed polynomial.
    pub fn from_round1<R: RngCore + CryptoRng>(
        id: u32,
        threshold: u32,
        n: u32,
        bcast: Round1Bcast,
        shares: &BTreeMap<u32, ShamirShare>,
        rng: &mut R,
    ) -> Result<Self, FrostError> {
        if threshold < 2 || threshold > n || n > MAX_PARTICIPANTS || id == 0 || id > n {
            return Err(FrostError::Parameters { id, threshold, n });
        }
        // Validate it exactly as the recipients will (blamed as validator 0).
        let mut out_shares = BTreeMap::new();
        let mut own_share = None;
        let mut commitments = Vec::new();
        for j in 1..=n {
            let s = shares.get(&j).ok_or(FrostError::MissingShare {
                validator: 0,
                peer: id,
            })?;
            let it = decode_peer(0, 0, id, j, threshold as usize, &bcast, s)?;
            check_proofs(std::slice::from_ref(&it), |_| 0)?;
            if eval_commitments(&it.commitments, u64::from(j)) != G1::mul_base(&it.share) {
                return Err(FrostError::Share {
                    validator: 0,
                    peer: id,
                });
            }
            if j == id {
                own_share = Some(it.share);
                commitments = it.commitments;
            } else {
                out_shares.insert(j, s.clone());
            }
        }
        for &j in shares.keys() {
            if j == 0 || j > n {
                return Err(FrostError::UnknownPeer {
                    validator: 0,
                    peer: j,
                });
            }
        }
        let own_share = own_share.ok_or(FrostError::MissingShare {
            validator: 0,
            peer: id,
        })?;
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut_slice());
        Ok(Participant {
            id,
            threshold,
            n,
            bcast,
            commitments,
            shares: out_shares,
            own_share,
            seed,
        })
    }

    /// Own 1-based share index.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The threshold t.
    pub fn threshold(&self) -> u32 {
        self.threshold
    }

    /// The number of participants n.
    pub fn n(&self) -> u32 {
        self.n
    }

    /// The round-1 outputs: the broadcast, and the share for every other
    /// participant keyed by its share index.
    pub fn round1(&self) -> (Round1Bcast, BTreeMap<u32, ShamirShare>) {
        (self.bcast.clone(), self.shares.clone())
    }

    /// Round 2 for this validator alone (errors name validator 0); see
    /// [`round2_batch`].
    pub fn round2(
        &self,
        bcasts: &BTreeMap<u32, Round1Bcast>,
        shares: &BTreeMap<u32, ShamirShare>,
    ) -> Result<Round2Result, FrostError> {
        let mut out = round2_batch(&[Round2Input {
            validator: 0,
            participant: self,
            bcasts,
            shares,
        }])?;
        out.pop().ok_or(FrostError::Degenerate {
            validator: 0,
            what: "result",
        })
    }
}

/// The round-2 input of one validator.
#[derive(Debug, Clone, Copy)]
pub struct Round2Input<'a> {
    /// The validator index, used only to name it in errors.
    pub validator: usize,
    /// This node's participant for the validator.
    pub participant: &'a Participant,
    /// Round-1 broadcasts keyed by sender share index: every peer, and
    /// optionally our own (which must then equal what we sent).
    pub bcasts: &'a BTreeMap<u32, Round1Bcast>,
    /// Shares received, keyed by sender share index: exactly every peer.
    pub shares: &'a BTreeMap<u32, ShamirShare>,
}

/// What round 2 derives for one validator.
#[derive(Debug, Clone)]
pub struct Round2Result {
    /// The group (validator) public key `sum_j A_{j,0}`.
    pub verification_key: PublicKey,
    /// Own public key share `sk_share * G`.
    pub vk_share: PublicKey,
    /// Own secret key share `sum_j f_j(id)`.
    pub sk_share: SecretKey,
    /// Every participant's public key share (own included), keyed by 1-based
    /// share index, computed from the commitments.
    pub public_shares: BTreeMap<u32, PublicKey>,
}

impl Round2Result {
    /// The round-2 broadcast to send: group key and own public share.
    pub fn bcast(&self) -> Round2Bcast {
        Round2Bcast {
            verification_key: self.verification_key.0,
            vk_share: self.vk_share.0,
        }
    }

    /// Checks a peer's round-2 broadcast against the commitments: it must
    /// carry the same group key and the public share we derived for it.
    /// (Charon does not check this; we do.)
    pub fn check_peer_bcast(
        &self,
        validator: usize,
        peer: u32,
        bcast: &Round2Bcast,
    ) -> Result<(), FrostError> {
        let expected = self
            .public_shares
            .get(&peer)
            .ok_or(FrostError::UnknownPeer { validator, peer })?;
        // Compressed encodings are canonical, so byte equality is point
        // equality and no decoding is needed.
        if bcast.verification_key != self.verification_key.0 {
            return Err(FrostError::Round2Mismatch {
                validator,
                peer,
                field: "verification_key",
            });
        }
        if bcast.vk_share != expected.0 {
            return Err(FrostError::Round2Mismatch {
                validator,
                peer,
                field: "vk_share",
            });
        }
        Ok(())
    }

    /// Checks the round-2 broadcasts of all participants (own included):
    /// exactly one per share index 1..=n, each matching the commitments.
    pub fn check_all_bcasts(
        &self,
        validator: usize,
        bcasts: &BTreeMap<u32, Round2Bcast>,
    ) -> Result<(), FrostError> {
        for &peer in bcasts.keys() {
            if !self.public_shares.contains_key(&peer) {
                return Err(FrostError::UnknownPeer { validator, peer });
            }
        }
        for &peer in self.public_shares.keys() {
            let b = bcasts
                .get(&peer)
                .ok_or(FrostError::MissingBcast { validator, peer })?;
            self.check_peer_bcast(validator, peer, b)?;
        }
        Ok(())
    }
}

/// One peer's decoded contribution to one validator.
struct PeerInput {
    input: usize,
    peer: u32,
    commitments: Vec<G1Affine>,
    a0: [u8; 48],
    w: Scalar,
    c: Scalar,
    share: Scalar,
}

/// Decodes and validates one peer's broadcast and the share it sent to
/// `recipient`.
fn decode_peer(
    input: usize,
    validator: usize,
    peer: u32,
    recipient: u32,
    t: usize,
    bcast: &Round1Bcast,
    share: &ShamirShare,
) -> Result<PeerInput, FrostError> {
    if bcast.commitments.len() != t {
        return Err(FrostError::CommitmentCount {
            validator,
            peer,
            got: bcast.commitments.len(),
            want: t,
        });
    }
    let scalar = |field: &'static str, bytes: &[u8]| {
        Scalar::from_be_bytes(bytes).map_err(|reason| FrostError::ProofScalar {
            validator,
            peer,
            field,
            reason,
        })
    };
    let c = scalar("ci", &bcast.ci)?;
    if c.is_zero() {
        return Err(FrostError::ZeroChallenge { validator, peer });
    }
    let w = scalar("wi", &bcast.wi)?;
    let commitments = bcast
        .commitments
        .iter()
        .enumerate()
        .map(|(index, bytes)| {
            G1Affine::from_compressed(bytes).map_err(|reason| FrostError::Commitment {
                validator,
                peer,
                index,
                reason,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if share.id != recipient {
        return Err(FrostError::ShareRecipient {
            validator,
            peer,
            got: share.id,
            want: recipient,
        });
    }
    let value =
        Scalar::from_be_bytes(share.value.as_slice()).map_err(|reason| FrostError::ShareValue {
            validator,
            peer,
            reason,
        })?;
    if value.is_zero() {
        return Err(FrostError::ZeroShare { validator, peer });
    }
    let a0 = *bcast
        .commitments
        .first()
        .ok_or(FrostError::CommitmentCount {
            validator,
            peer,
            got: 0,
            want: t,
        })?;
    Ok(PeerInput {
        input,
        peer,
        commitments,
        a0,
        w,
        c,
        share: value,
    })
}

/// Decodes and validates everything one validator received, in peer order.
fn decode_input(
    pos: usize,
    inp: &Round2Input<'_>,
    out: &mut Vec<PeerInput>,
    transcript: &mut Sha256,
) -> Result<(), FrostError> {
    let p = inp.participant;
    let validator = inp.validator;
    for (&peer, bcast) in inp.bcasts {
        if peer == 0 || peer > p.n {
            return Err(FrostError::UnknownPeer { validator, peer });
        }
        if peer == p.id && *bcast != p.bcast {
            return Err(FrostError::OwnBcastMismatch { validator, peer });
        }
    }
    for &peer in inp.shares.keys() {
        if peer == 0 || peer > p.n || peer == p.id {
            return Err(FrostError::UnknownPeer { validator, peer });
        }
    }
    for peer in (1..=p.n).filter(|&j| j != p.id) {
        let bcast = inp
            .bcasts
            .get(&peer)
            .ok_or(FrostError::MissingBcast { validator, peer })?;
        let share = inp
            .shares
            .get(&peer)
            .ok_or(FrostError::MissingShare { validator, peer })?;
        let item = decode_peer(
            pos,
            validator,
            peer,
            p.id,
            p.threshold as usize,
            bcast,
            share,
        )?;
        transcript.update((validator as u64).to_le_bytes());
        transcript.update(peer.to_le_bytes());
        for c in &bcast.commitments {
            transcript.update(c);
        }
        transcript.update(bcast.wi);
        transcript.update(bcast.ci);
        out.push(item);
    }
    Ok(())
}

/// Checks the Schnorr proofs of knowledge: `R' = w*G - c*A_0` must hash back
/// to `c`. Every R' is hashed, so these cannot be folded into one equation;
/// the affine conversions share one inversion.
fn check_proofs(
    items: &[PeerInput],
    validator_of: impl Fn(&PeerInput) -> usize,
) -> Result<(), FrostError> {
    let r_points: Vec<G1> = items
        .iter()
        .map(|it| {
            let a0 = it
                .commitments
                .first()
                .map_or(G1::identity(), |a| a.to_projective());
            G1::mul_base_vartime(&it.w).sub(&a0.mul_vartime(&it.c))
        })
        .collect();
    let r_bytes = G1::batch_compress(&r_points);
    for (it, r) in items.iter().zip(r_bytes.iter()) {
        if challenge(it.peer as u8, &it.a0, r) != it.c {
            return Err(FrostError::Proof {
                validator: validator_of(it),
                peer: it.peer,
            });
        }
    }
    Ok(())
}

/// `sum_k x^k * points[k]` by Horner's rule with a small public `x`.
fn eval_commitments<P: Copy + Into<G1>>(points: &[P], x: u64) -> G1 {
    let mut acc = G1::identity();
    for p in points.iter().rev() {
        acc = acc.mul_small_vartime(x).add(&(*p).into());
    }
    acc
}

/// 128-bit weights from a secret seed and the transcript, so that a sender
/// cannot predict them.
fn batch_weights(seed: &[u8; 32], transcript: [u8; 32], count: usize) -> Vec<u128> {
    let mut out = Vec::with_capacity(count);
    let mut ctr = 0u64;
    while out.len() < count {
        let block = Sha256::new()
            .chain_update(b"charon-dkg-sidecar frost batch weights")
            .chain_update(seed)
            .chain_update(transcript)
            .chain_update(ctr.to_le_bytes())
            .finalize();
        for half in block.chunks_exact(16) {
            if out.len() < count {
                let mut b = [0u8; 16];
                b.copy_from_slice(half);
                // Odd, hence non-zero.
                out.push(u128::from_le_bytes(b) | 1);
            }
        }
        ctr += 1;
    }
    out
}

/// Round 2 for many validators at once: decodes and validates every input,
/// checks every Schnorr proof, checks all Feldman shares with one random
/// linear combination (falling back to one-by-one checks to name the culprit
/// on failure), and derives each validator's keys. Results are in input order.
///
/// All participants must share (id, t, n). The first failing check, in input
/// order and then peer order, is reported with its validator and peer.
pub fn round2_batch(inputs: &[Round2Input<'_>]) -> Result<Vec<Round2Result>, FrostError> {
    let Some(first) = inputs.first() else {
        return Ok(Vec::new());
    };
    let (id, t, n) = (
        first.participant.id,
        first.participant.threshold,
        first.participant.n,
    );
    for inp in inputs {
        let p = inp.participant;
        if (p.id, p.threshold, p.n) != (id, t, n) {
            return Err(FrostError::MixedParameters {
                validator: inp.validator,
            });
        }
    }

    // 1. Decode and validate.
    let mut items = Vec::with_capacity(inputs.len() * (n as usize - 1));
    let mut transcript = Sha256::new();
    for (pos, inp) in inputs.iter().enumerate() {
        decode_input(pos, inp, &mut items, &mut transcript)?;
    }
    let validator_of = |item: &PeerInput| inputs.get(item.input).map_or(0, |i| i.validator);

    // 2. Proofs of knowledge.
    check_proofs(&items, validator_of)?;

    // 3. Feldman: for weights rho, sum_k id^k * (sum rho*A_{.,k}) must equal
    // (sum rho*s) * G.
    let weights = batch_weights(
        &first.participant.seed,
        transcript.finalize().into(),
        items.len(),
    );
    let mut per_k = Vec::with_capacity(t as usize);
    for k in 0..t as usize {
        let pts: Vec<G1Affine> = items
            .iter()
            .map(|it| {
                it.commitments
                    .get(k)
                    .copied()
                    .unwrap_or_else(|| G1::identity().to_affine())
            })
            .collect();
        per_k.push(
            curve::msm_u128(&pts, &weights).map_err(|_| FrostError::Degenerate {
                validator: first.validator,
                what: "batch",
            })?,
        );
    }
    let lhs = eval_commitments(&per_k, u64::from(id));
    let mut weighted_sum = Scalar::zero();
    for (it, w) in items.iter().zip(weights.iter()) {
        weighted_sum = weighted_sum.add(&it.share.mul(&Scalar::from_u128(*w)));
    }
    if lhs != G1::mul_base(&weighted_sum) {
        for it in &items {
            if eval_commitments(&it.commitments, u64::from(id)) != G1::mul_base(&it.share) {
                return Err(FrostError::Share {
                    validator: validator_of(it),
                    peer: it.peer,
                });
            }
        }
        // Unreachable for any input unless the weights are broken; fail closed.
        return Err(FrostError::Share {
            validator: first.validator,
            peer: items.first().map_or(0, |it| it.peer),
        });
    }

    // 4. Outputs.
    let per_input = n as usize - 1;
    let mut secrets = Vec::with_capacity(inputs.len());
    let mut points = Vec::with_capacity(inputs.len() * (n as usize + 1));
    for (pos, inp) in inputs.iter().enumerate() {
        let p = inp.participant;
        let mine = items
            .get(pos * per_input..(pos + 1) * per_input)
            .unwrap_or_default();
        let mut sk = p.own_share.clone();
        let mut agg: Vec<G1> = p.commitments.iter().map(G1Affine::to_projective).collect();
        for it in mine {
            sk = sk.add(&it.share);
            for (a, c) in agg.iter_mut().zip(it.commitments.iter()) {
                *a = a.add_affine(c);
            }
        }
        if sk.is_zero() {
            return Err(FrostError::Degenerate {
                validator: inp.validator,
                what: "secret share",
            });
        }
        points.push(agg.first().copied().unwrap_or_default());
        for m in 1..=n {
            points.push(eval_commitments(&agg, u64::from(m)));
        }
        secrets.push(sk);
    }
    let encoded = G1::batch_compress(&points);
    let mut results = Vec::with_capacity(inputs.len());
    for ((inp, sk), enc) in inputs
        .iter()
        .zip(secrets.iter())
        .zip(encoded.chunks_exact(n as usize + 1))
    {
        let validator = inp.validator;
        let degenerate = |what| FrostError::Degenerate { validator, what };
        let (group, shares) = enc.split_first().ok_or(degenerate("group key"))?;
        let verification_key = PublicKey::from_point_bytes(group).ok_or(degenerate("group key"))?;
        let mut public_shares = BTreeMap::new();
        for (m, bytes) in (1..=n).zip(shares.iter()) {
            public_shares.insert(
                m,
                PublicKey::from_point_bytes(bytes).ok_or(degenerate("public share"))?,
            );
        }
        let vk_share = *public_shares.get(&id).ok_or(degenerate("public share"))?;
        let sk_share = SecretKey::from_scalar(sk).map_err(|_| degenerate("secret share"))?;
        results.push(Round2Result {
            verification_key,
            vk_share,
            sk_share,
            public_shares,
        });
    }
    Ok(results)
}
