//! Round 1 and one participant's state.

use std::collections::BTreeMap;

use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::checks::{challenge, check_proofs, decode_peer, eval_commitments};
use crate::frost::curve::{self, G1, G1Affine, Scalar};
use crate::frost::error::FrostError;
use crate::frost::messages::{Round1Bcast, ShamirShare};

/// kryptology's share limit (`sharing/feldman.go`).
pub const MAX_PARTICIPANTS: u32 = 255;

/// One node's DKG state for one validator after round 1.
pub struct Participant {
    pub(super) id: u32,
    pub(super) threshold: u32,
    pub(super) n: u32,
    pub(super) bcast: Round1Bcast,
    pub(super) commitments: Vec<G1Affine>,
    pub(super) shares: BTreeMap<u32, ShamirShare>,
    pub(super) own_share: Scalar,
    /// Secret salt for the random weights of batch verification.
    pub(super) seed: Zeroizing<[u8; 32]>,
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
}
