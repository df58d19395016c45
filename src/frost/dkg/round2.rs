//! Round 2, batched across peers and validators.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::checks::{PeerInput, batch_weights, check_proofs, decode_peer, eval_commitments};
use super::participant::Participant;
use crate::frost::bls::{PublicKey, SecretKey};
use crate::frost::curve::{self, G1, G1Affine, Scalar};
use crate::frost::error::FrostError;
use crate::frost::messages::{Round1Bcast, Round2Bcast, ShamirShare};

impl Participant {
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
            curve::msm(&pts, &weights).map_err(|_| FrostError::Degenerate {
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
