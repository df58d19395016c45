//! Decoding a peer's round-1 output and checking its proof and shares.

use sha2::{Digest, Sha256};

use crate::frost::curve::{G1, G1Affine, Scalar};
use crate::frost::error::FrostError;
use crate::frost::messages::{Round1Bcast, ShamirShare};

/// kryptology's context byte. Charon passes a `0x…` string that kryptology's
/// integer conversion rejects, so it is always zero (spec §4.2).
const CONTEXT_BYTE: u8 = 0;

/// The kryptology FROST challenge `H(byte(id) || ctx || A_0 || R)`.
pub fn challenge(id: u8, a0: &[u8; 48], r: &[u8; 48]) -> Scalar {
    let mut msg = [0u8; 2 + 48 + 48];
    msg[0] = id;
    msg[1] = CONTEXT_BYTE;
    msg[2..50].copy_from_slice(a0);
    msg[50..].copy_from_slice(r);
    Scalar::hash_kryptology(&msg)
}

/// One peer's decoded contribution to one validator.
pub(super) struct PeerInput {
    pub(super) input: usize,
    pub(super) peer: u32,
    pub(super) commitments: Vec<G1Affine>,
    pub(super) a0: [u8; 48],
    pub(super) w: Scalar,
    pub(super) c: Scalar,
    pub(super) share: Scalar,
}

/// Decodes and validates one peer's broadcast and the share it sent to
/// `recipient`.
pub(super) fn decode_peer(
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

/// Checks the Schnorr proofs of knowledge: `R' = w*G - c*A_0` must hash back
/// to `c`. Every R' is hashed, so these cannot be folded into one equation;
/// the affine conversions share one inversion.
pub(super) fn check_proofs(
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
pub(super) fn eval_commitments<P: Copy + Into<G1>>(points: &[P], x: u64) -> G1 {
    let mut acc = G1::identity();
    for p in points.iter().rev() {
        acc = acc.mul_small_vartime(x).add(&(*p).into());
    }
    acc
}

/// 128-bit weights from a secret seed and the transcript, so that a sender
/// cannot predict them.
pub(super) fn batch_weights(seed: &[u8; 32], transcript: [u8; 32], count: usize) -> Vec<u128> {
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
