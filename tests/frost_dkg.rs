//! Complete in-memory FROST DKGs, every class of tampering, and encoding
//! round-trips.

use std::collections::BTreeMap;

use charon_dkg_sidecar::frost::bls::{self, PublicKey, SecretKey};
use charon_dkg_sidecar::frost::curve::{self, CurveError, G1, Scalar};
use charon_dkg_sidecar::frost::dkg::{Participant, Round2Input, Round2Result, round2_batch};
use charon_dkg_sidecar::frost::{FrostError, Round1Bcast, Round2Bcast, ShamirShare};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// One node's view of a ceremony with `v` validators.
struct Node {
    participants: Vec<Participant>,
}

/// What every node sent in round 1: bcast[validator][sender], share[validator][sender][recipient].
struct Round1 {
    bcasts: Vec<BTreeMap<u32, Round1Bcast>>,
    shares: Vec<BTreeMap<u32, BTreeMap<u32, ShamirShare>>>,
}

fn setup(n: u32, t: u32, v: usize, seed: u64) -> (Vec<Node>, Round1) {
    let mut rng = StdRng::seed_from_u64(seed);
    let nodes: Vec<Node> = (1..=n)
        .map(|id| Node {
            participants: (0..v)
                .map(|_| Participant::new(id, t, n, &mut rng).unwrap())
                .collect(),
        })
        .collect();
    let mut r1 = Round1 {
        bcasts: vec![BTreeMap::new(); v],
        shares: vec![BTreeMap::new(); v],
    };
    for node in &nodes {
        for (val, p) in node.participants.iter().enumerate() {
            let (b, s) = p.round1();
            assert_eq!(s.len() as u32, n - 1);
            r1.bcasts[val].insert(p.id(), b);
            r1.shares[val].insert(p.id(), s);
        }
    }
    (nodes, r1)
}

/// Inputs for node `me` (1-based): everyone's broadcasts (own included, as
/// charon passes them) and the shares addressed to `me`.
fn inputs(r1: &Round1, me: u32) -> Vec<(BTreeMap<u32, Round1Bcast>, BTreeMap<u32, ShamirShare>)> {
    (0..r1.bcasts.len())
        .map(|val| {
            let shares = r1.shares[val]
                .iter()
                .filter(|(from, _)| **from != me)
                .map(|(from, to)| (*from, to[&me].clone()))
                .collect();
            (r1.bcasts[val].clone(), shares)
        })
        .collect()
}

fn run_node(
    node: &Node,
    ins: &[(BTreeMap<u32, Round1Bcast>, BTreeMap<u32, ShamirShare>)],
) -> Result<Vec<Round2Result>, FrostError> {
    let batch: Vec<Round2Input<'_>> = node
        .participants
        .iter()
        .zip(ins.iter())
        .enumerate()
        .map(|(validator, (participant, (bcasts, shares)))| Round2Input {
            validator,
            participant,
            bcasts,
            shares,
        })
        .collect();
    round2_batch(&batch)
}

fn combine_secret(shares: &[(u64, &SecretKey)]) -> Scalar {
    let idx: Vec<u64> = shares.iter().map(|(i, _)| *i).collect();
    let l = curve::lagrange_coefficients_at_zero(&idx).unwrap();
    shares
        .iter()
        .zip(l.iter())
        .fold(Scalar::zero(), |acc, ((_, sk), l)| {
            acc.add(&sk.to_scalar().mul(l))
        })
}

/// Every subset of `0..n` of size `k`, as a bitmask.
fn subsets(n: u32, k: u32) -> impl Iterator<Item = Vec<u32>> {
    (0u32..1 << n)
        .filter(move |m| m.count_ones() == k)
        .map(move |m| (0..n).filter(|i| m >> i & 1 == 1).map(|i| i + 1).collect())
}

#[test]
fn complete_dkgs_for_every_n_and_t() {
    for n in 2..=10u32 {
        for t in 2..=n {
            let (nodes, r1) = setup(n, t, 1, u64::from(n * 100 + t));
            let results: Vec<Round2Result> = (1..=n)
                .map(|me| {
                    run_node(&nodes[me as usize - 1], &inputs(&r1, me))
                        .unwrap()
                        .remove(0)
                })
                .collect();
            let group = results[0].verification_key;
            let r2: BTreeMap<u32, Round2Bcast> = results
                .iter()
                .zip(1..=n)
                .map(|(r, id)| (id, r.bcast()))
                .collect();
            for (r, me) in results.iter().zip(1..=n) {
                assert_eq!(r.verification_key, group, "n={n} t={t}");
                assert_eq!(r.sk_share.public_key(), r.vk_share);
                assert_eq!(r.public_shares, results[0].public_shares);
                assert_eq!(r.public_shares[&me], r.vk_share);
                r.check_all_bcasts(0, &r2).unwrap();
            }
            let pubs: Vec<(u64, PublicKey)> = results
                .iter()
                .zip(1u64..)
                .map(|(r, i)| (i, r.vk_share))
                .collect();
            assert_eq!(bls::combine_public_shares(&pubs).unwrap(), group);
            for subset in subsets(n, t) {
                let s: Vec<(u64, &SecretKey)> = subset
                    .iter()
                    .map(|&i| (u64::from(i), &results[i as usize - 1].sk_share))
                    .collect();
                let secret = combine_secret(&s);
                assert_eq!(SecretKey::from_scalar(&secret).unwrap().public_key(), group);
            }
            for subset in subsets(n, t - 1) {
                let s: Vec<(u64, &SecretKey)> = subset
                    .iter()
                    .map(|&i| (u64::from(i), &results[i as usize - 1].sk_share))
                    .collect();
                let secret = combine_secret(&s);
                assert_ne!(
                    G1::mul_base(&secret).to_compressed(),
                    group.0,
                    "t-1 shares n={n} t={t}"
                );
            }
            // Threshold signing with the first t shares.
            let msg = b"deposit message root";
            let partials: Vec<(u64, bls::Signature)> = results
                .iter()
                .zip(1u64..)
                .take(t as usize)
                .map(|(r, i)| (i, r.sk_share.sign(msg)))
                .collect();
            let sig = bls::threshold_combine(&partials).unwrap();
            bls::verify(&group, msg, &sig).unwrap();
        }
    }
}

#[test]
fn many_validators_in_one_batch_match_one_by_one() {
    let (nodes, r1) = setup(4, 3, 6, 5);
    let ins = inputs(&r1, 2);
    let batch = run_node(&nodes[1], &ins).unwrap();
    for (val, r) in batch.iter().enumerate() {
        let single = nodes[1].participants[val]
            .round2(&ins[val].0, &ins[val].1)
            .unwrap();
        assert_eq!(single.verification_key, r.verification_key);
        assert_eq!(single.sk_share.to_bytes(), r.sk_share.to_bytes());
    }
    // Distinct validators get distinct keys.
    assert_ne!(batch[0].verification_key, batch[1].verification_key);
}

#[test]
fn parameters_are_checked() {
    let mut rng = StdRng::seed_from_u64(1);
    for (id, t, n) in [(1, 1, 3), (1, 4, 3), (0, 2, 3), (4, 2, 3), (1, 2, 256)] {
        assert_eq!(
            Participant::new(id, t, n, &mut rng).unwrap_err(),
            FrostError::Parameters {
                id,
                threshold: t,
                n
            }
        );
    }
    assert!(Participant::new(255, 2, 255, &mut rng).is_ok());
    let p = Participant::new(1, 2, 2, &mut rng).unwrap();
    assert!(format!("{p:?}").contains("redacted"));
}

const N: u32 = 4;
const T: u32 = 3;
const ME: u32 = 2;
const BAD_VAL: usize = 1;
const BAD_PEER: u32 = 3;

type Inputs = Vec<(BTreeMap<u32, Round1Bcast>, BTreeMap<u32, ShamirShare>)>;

/// Runs node ME with validator BAD_VAL's input from BAD_PEER modified by `f`.
fn tampered(
    f: impl FnOnce(&mut BTreeMap<u32, Round1Bcast>, &mut BTreeMap<u32, ShamirShare>),
) -> FrostError {
    let (nodes, r1) = setup(N, T, 3, 77);
    let mut ins: Inputs = inputs(&r1, ME);
    let (b, s) = &mut ins[BAD_VAL];
    f(b, s);
    run_node(&nodes[ME as usize - 1], &ins).expect_err("tampered input accepted")
}

fn bcast_of(b: &mut BTreeMap<u32, Round1Bcast>) -> &mut Round1Bcast {
    b.get_mut(&BAD_PEER).unwrap()
}

fn share_of(s: &mut BTreeMap<u32, ShamirShare>) -> &mut ShamirShare {
    s.get_mut(&BAD_PEER).unwrap()
}

const R_BE: &str = "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001";

fn blamed(e: &FrostError) {
    assert_eq!(e.validator(), Some(BAD_VAL), "{e}");
    assert_eq!(e.peer(), Some(BAD_PEER), "{e}");
}

#[test]
fn every_tampering_class_is_named() {
    let r: [u8; 32] = hex::decode(R_BE).unwrap().try_into().unwrap();
    let off_subgroup = {
        // The first x whose point is on the curve but outside G1.
        (1u8..)
            .map(|x| {
                let mut e = [0u8; 48];
                e[0] = 0x80;
                e[47] = x;
                e
            })
            .find(|e| G1::from_compressed(e) == Err(CurveError::NotInSubgroup))
            .unwrap()
    };
    let not_on_curve = (1u8..)
        .map(|x| {
            let mut e = [0u8; 48];
            e[0] = 0x80;
            e[47] = x;
            e
        })
        .find(|e| G1::from_compressed(e) == Err(CurveError::PointEncoding))
        .unwrap();
    let mut identity = [0u8; 48];
    identity[0] = 0xc0;

    let e = tampered(|b, _| {
        bcast_of(b).commitments.pop();
    });
    assert!(
        matches!(
            e,
            FrostError::CommitmentCount {
                got: 2,
                want: 3,
                ..
            }
        ),
        "{e}"
    );
    blamed(&e);
    let e = tampered(|b, _| {
        let c = bcast_of(b).commitments[0];
        bcast_of(b).commitments.push(c);
    });
    assert!(
        matches!(e, FrostError::CommitmentCount { got: 4, .. }),
        "{e}"
    );
    blamed(&e);
    for (index, bad, reason) in [
        (0, identity, CurveError::Identity),
        (2, identity, CurveError::Identity),
        (1, off_subgroup, CurveError::NotInSubgroup),
        (0, not_on_curve, CurveError::PointEncoding),
    ] {
        let e = tampered(|b, _| bcast_of(b).commitments[index] = bad);
        assert_eq!(
            e,
            FrostError::Commitment {
                validator: BAD_VAL,
                peer: BAD_PEER,
                index,
                reason
            }
        );
    }
    let e = tampered(|b, _| bcast_of(b).commitments[1][0] &= 0x7f);
    assert!(matches!(
        e,
        FrostError::Commitment {
            index: 1,
            reason: CurveError::PointEncoding,
            ..
        }
    ));
    // Swapping two valid commitments breaks the proof (A_0) or the shares.
    let e = tampered(|b, _| bcast_of(b).commitments.swap(1, 2));
    assert!(matches!(e, FrostError::Share { .. }), "{e}");
    blamed(&e);
    let e = tampered(|b, _| bcast_of(b).commitments.swap(0, 1));
    assert!(matches!(e, FrostError::Proof { .. }), "{e}");
    blamed(&e);

    for field in ["wi", "ci"] {
        for bad in [r, [0xff; 32]] {
            let e = tampered(|b, _| match field {
                "wi" => bcast_of(b).wi = bad,
                _ => bcast_of(b).ci = bad,
            });
            assert_eq!(
                e,
                FrostError::ProofScalar {
                    validator: BAD_VAL,
                    peer: BAD_PEER,
                    field: if field == "wi" { "wi" } else { "ci" },
                    reason: CurveError::NonCanonicalScalar
                }
            );
        }
    }
    let e = tampered(|b, _| bcast_of(b).ci = [0; 32]);
    assert_eq!(
        e,
        FrostError::ZeroChallenge {
            validator: BAD_VAL,
            peer: BAD_PEER
        }
    );
    for field in ["wi", "ci"] {
        let e = tampered(|b, _| {
            let bc = bcast_of(b);
            let target = if field == "wi" {
                &mut bc.wi
            } else {
                &mut bc.ci
            };
            let v = Scalar::from_be_bytes(target).unwrap().add(&Scalar::one());
            *target = v.to_be_bytes();
        });
        assert_eq!(
            e,
            FrostError::Proof {
                validator: BAD_VAL,
                peer: BAD_PEER
            }
        );
    }
    // Another peer's valid broadcast replayed under this peer's index: the
    // challenge binds the sender's index.
    let e = tampered(|b, _| {
        let other = b[&4].clone();
        b.insert(BAD_PEER, other);
    });
    assert!(matches!(e, FrostError::Proof { .. }), "{e}");
    blamed(&e);

    let e = tampered(|_, s| share_of(s).id = 1);
    assert_eq!(
        e,
        FrostError::ShareRecipient {
            validator: BAD_VAL,
            peer: BAD_PEER,
            got: 1,
            want: ME
        }
    );
    let e = tampered(|_, s| share_of(s).value = r.into());
    assert!(matches!(
        e,
        FrostError::ShareValue {
            reason: CurveError::NonCanonicalScalar,
            ..
        }
    ));
    blamed(&e);
    let e = tampered(|_, s| share_of(s).value = [0u8; 32].into());
    assert_eq!(
        e,
        FrostError::ZeroShare {
            validator: BAD_VAL,
            peer: BAD_PEER
        }
    );
    let e = tampered(|_, s| {
        let v = Scalar::from_be_bytes(share_of(s).value.as_slice()).unwrap();
        share_of(s).value = v.add(&Scalar::one()).to_be_bytes_zeroizing();
    });
    assert_eq!(
        e,
        FrostError::Share {
            validator: BAD_VAL,
            peer: BAD_PEER
        }
    );
    // A valid share of another peer, sent as this peer's.
    let e = tampered(|_, s| {
        let other = s[&4].clone();
        s.insert(BAD_PEER, other);
    });
    assert_eq!(
        e,
        FrostError::Share {
            validator: BAD_VAL,
            peer: BAD_PEER
        }
    );

    let e = tampered(|b, _| {
        b.remove(&BAD_PEER);
    });
    assert_eq!(
        e,
        FrostError::MissingBcast {
            validator: BAD_VAL,
            peer: BAD_PEER
        }
    );
    let e = tampered(|_, s| {
        s.remove(&BAD_PEER);
    });
    assert_eq!(
        e,
        FrostError::MissingShare {
            validator: BAD_VAL,
            peer: BAD_PEER
        }
    );
    for peer in [0, N + 1, 255] {
        let e = tampered(|b, _| {
            let c = b[&1].clone();
            b.insert(peer, c);
        });
        assert_eq!(
            e,
            FrostError::UnknownPeer {
                validator: BAD_VAL,
                peer
            }
        );
        let e = tampered(|_, s| {
            let c = s[&1].clone();
            s.insert(peer, c);
        });
        assert_eq!(
            e,
            FrostError::UnknownPeer {
                validator: BAD_VAL,
                peer
            }
        );
    }
    let e = tampered(|_, s| {
        let c = s[&1].clone();
        s.insert(ME, c);
    });
    assert_eq!(
        e,
        FrostError::UnknownPeer {
            validator: BAD_VAL,
            peer: ME
        }
    );
    let e = tampered(|b, _| b.get_mut(&ME).unwrap().wi[31] ^= 1);
    assert_eq!(
        e,
        FrostError::OwnBcastMismatch {
            validator: BAD_VAL,
            peer: ME
        }
    );
}

#[test]
fn swapped_validators_are_caught() {
    // A peer that sends validator 0's broadcast and share as validator 1's.
    let (nodes, r1) = setup(N, T, 3, 78);
    let mut ins = inputs(&r1, ME);
    let b0 = ins[0].0[&BAD_PEER].clone();
    ins[BAD_VAL].0.insert(BAD_PEER, b0);
    // Broadcast alone swapped: the share no longer matches.
    let e = run_node(&nodes[ME as usize - 1], &ins).unwrap_err();
    assert_eq!(
        e,
        FrostError::Share {
            validator: BAD_VAL,
            peer: BAD_PEER
        }
    );
    // Both swapped: consistent, so it is accepted (the transport's val_idx
    // check is what binds messages to validators), and validators 0 and 1
    // then differ only in the honest contributions.
    let s0 = ins[0].1[&BAD_PEER].clone();
    ins[BAD_VAL].1.insert(BAD_PEER, s0);
    assert!(run_node(&nodes[ME as usize - 1], &ins).is_ok());
}

#[test]
fn round2_broadcasts_are_checked_against_commitments() {
    let (nodes, r1) = setup(N, T, 1, 79);
    let results: Vec<Round2Result> = (1..=N)
        .map(|me| {
            run_node(&nodes[me as usize - 1], &inputs(&r1, me))
                .unwrap()
                .remove(0)
        })
        .collect();
    let mut all: BTreeMap<u32, Round2Bcast> = results
        .iter()
        .zip(1..=N)
        .map(|(r, i)| (i, r.bcast()))
        .collect();
    let mine = &results[0];
    mine.check_all_bcasts(7, &all).unwrap();
    // A peer claiming another peer's public share.
    let mut bad = all[&3];
    bad.vk_share = all[&4].vk_share;
    assert_eq!(
        mine.check_peer_bcast(7, 3, &bad),
        Err(FrostError::Round2Mismatch {
            validator: 7,
            peer: 3,
            field: "vk_share"
        })
    );
    let mut bad = all[&3];
    bad.verification_key = all[&4].vk_share;
    assert_eq!(
        mine.check_peer_bcast(7, 3, &bad),
        Err(FrostError::Round2Mismatch {
            validator: 7,
            peer: 3,
            field: "verification_key"
        })
    );
    assert_eq!(
        mine.check_peer_bcast(7, 5, &all[&3]),
        Err(FrostError::UnknownPeer {
            validator: 7,
            peer: 5
        })
    );
    all.remove(&4);
    assert_eq!(
        mine.check_all_bcasts(7, &all),
        Err(FrostError::MissingBcast {
            validator: 7,
            peer: 4
        })
    );
}

#[test]
fn restoring_a_participant_checks_its_transcript() {
    let mut rng = StdRng::seed_from_u64(4);
    let p = Participant::new(2, 3, 4, &mut rng).unwrap();
    let (b, s) = p.round1();
    // round1() does not hand out the own share, so this lacks it.
    assert_eq!(
        Participant::from_round1(2, 3, 4, b.clone(), &s, &mut rng).unwrap_err(),
        FrostError::MissingShare {
            validator: 0,
            peer: 2
        }
    );
    let mut s2 = s.clone();
    s2.insert(2, ShamirShare::from_slice(2, &[1u8; 32]).unwrap());
    assert_eq!(
        Participant::from_round1(2, 3, 4, b.clone(), &s2, &mut rng).unwrap_err(),
        FrostError::Share {
            validator: 0,
            peer: 2
        }
    );
    let mut b2 = b.clone();
    b2.wi[31] ^= 1;
    assert!(matches!(
        Participant::from_round1(2, 3, 4, b2, &s2, &mut rng),
        Err(FrostError::Proof { .. } | FrostError::ProofScalar { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn scalar_bytes_round_trip(bytes in proptest::array::uniform32(any::<u8>())) {
        match Scalar::from_be_bytes(&bytes) {
            Ok(s) => prop_assert_eq!(s.to_be_bytes(), bytes),
            Err(e) => {
                prop_assert_eq!(e, CurveError::NonCanonicalScalar);
                // Non-canonical means >= r.
                prop_assert!(bytes.as_slice() >= hex::decode(R_BE).unwrap().as_slice());
            }
        }
    }

    #[test]
    fn point_bytes_round_trip(seed in any::<u64>(), noise in proptest::collection::vec(any::<u8>(), 48)) {
        let mut rng = StdRng::seed_from_u64(seed);
        let p = G1::mul_base(&Scalar::random_nonzero(&mut rng));
        let enc = p.to_compressed();
        prop_assert_eq!(G1::from_compressed(&enc).unwrap(), p);
        // Arbitrary bytes either fail or decode to a point that re-encodes
        // to exactly the same bytes.
        if let Ok(q) = G1::from_compressed(&noise) {
            prop_assert_eq!(q.to_compressed().to_vec(), noise);
        }
    }

    #[test]
    fn message_slices_round_trip(
        commitments in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 48), 0..5),
        wi in proptest::collection::vec(any::<u8>(), 30..34),
        ci in proptest::collection::vec(any::<u8>(), 32),
    ) {
        let res = Round1Bcast::from_slices(&commitments, &wi, &ci);
        if wi.len() == 32 {
            let b = res.unwrap();
            prop_assert_eq!(b.commitments.iter().map(|c| c.to_vec()).collect::<Vec<_>>(), commitments);
            prop_assert_eq!(b.wi.to_vec(), wi);
            prop_assert_eq!(b.ci.to_vec(), ci);
        } else {
            prop_assert!(res.is_err());
        }
    }
}
