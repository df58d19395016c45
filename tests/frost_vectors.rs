//! Round 2 against transcripts produced by the kryptology FROST code charon
//! links: every participant derives exactly the recorded keys, and any byte
//! changed in any input is rejected with the right validator and peer.

use std::collections::BTreeMap;

use charon_dkg_sidecar::frost::curve::Scalar;
use charon_dkg_sidecar::frost::dkg::{Participant, Round2Input, Round2Result, round2_batch};
use charon_dkg_sidecar::frost::{FrostError, Round1Bcast, ShamirShare};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/vectors/frost/kryptology-frost-dkg.json"
);

fn load() -> Value {
    let text = std::fs::read_to_string(VECTORS).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn arr<const N: usize>(v: &Value) -> [u8; N] {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

struct Case {
    n: u32,
    t: u32,
    bcasts: BTreeMap<u32, Round1Bcast>,
    /// sent[i][j] = f_i(j)
    sent: BTreeMap<u32, BTreeMap<u32, [u8; 32]>>,
    expected: BTreeMap<u32, (String, String, String)>,
}

fn cases() -> Vec<Case> {
    let v = load();
    let mut out = Vec::new();
    for c in v["cases"].as_array().unwrap() {
        assert_eq!(c["ctx_byte"], 0);
        let mut case = Case {
            n: c["n"].as_u64().unwrap() as u32,
            t: c["t"].as_u64().unwrap() as u32,
            bcasts: BTreeMap::new(),
            sent: BTreeMap::new(),
            expected: BTreeMap::new(),
        };
        for p in c["participants"].as_array().unwrap() {
            let id = p["id"].as_u64().unwrap() as u32;
            case.bcasts.insert(
                id,
                Round1Bcast {
                    commitments: p["commitments"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(arr)
                        .collect(),
                    wi: arr(&p["wi"]),
                    ci: arr(&p["ci"]),
                },
            );
            let mut sent = BTreeMap::new();
            for (to, val) in p["shares_sent"].as_object().unwrap() {
                sent.insert(to.parse::<u32>().unwrap(), arr(val));
            }
            sent.insert(id, arr(&p["own_share"]));
            case.sent.insert(id, sent);
            case.expected.insert(
                id,
                (
                    p["sk_share"].as_str().unwrap().to_string(),
                    p["verification_key"].as_str().unwrap().to_string(),
                    p["vk_share"].as_str().unwrap().to_string(),
                ),
            );
        }
        out.push(case);
    }
    out
}

/// Inputs for participant `me`: all peers' broadcasts and the shares they sent
/// to `me`.
fn inputs_for(case: &Case, me: u32) -> (BTreeMap<u32, Round1Bcast>, BTreeMap<u32, ShamirShare>) {
    let bcasts = case
        .bcasts
        .iter()
        .filter(|(id, _)| **id != me)
        .map(|(id, b)| (*id, b.clone()))
        .collect();
    let shares = case
        .sent
        .iter()
        .filter(|(id, _)| **id != me)
        .map(|(id, s)| (*id, ShamirShare::from_slice(me, &s[&me]).unwrap()))
        .collect();
    (bcasts, shares)
}

/// Round 2 as validator 3 of a batch of one.
fn run(
    p: &Participant,
    bcasts: &BTreeMap<u32, Round1Bcast>,
    shares: &BTreeMap<u32, ShamirShare>,
) -> Result<Round2Result, FrostError> {
    round2_batch(&[Round2Input {
        validator: 3,
        participant: p,
        bcasts,
        shares,
    }])
    .map(|mut v| v.pop().unwrap())
}

#[test]
fn hash_to_scalar_vector() {
    let v = load();
    let h = &v["hash_to_scalar"];
    assert_eq!(h["dst"], "BLS12381_XMD:SHA-256_SSWU_RO_");
    let input = hex::decode(h["input_hex"].as_str().unwrap()).unwrap();
    assert_eq!(
        hex::encode(Scalar::hash_kryptology(&input).to_be_bytes()),
        h["output_hex"].as_str().unwrap()
    );
}

/// Participant `me` restored from its recorded round-1 output.
fn recorded_participant(case: &Case, me: u32) -> Participant {
    let mut rng = StdRng::seed_from_u64(u64::from(me));
    let shares: BTreeMap<u32, ShamirShare> = case.sent[&me]
        .iter()
        .map(|(to, v)| (*to, ShamirShare::from_slice(*to, v).unwrap()))
        .collect();
    Participant::from_round1(
        me,
        case.t,
        case.n,
        case.bcasts[&me].clone(),
        &shares,
        &mut rng,
    )
    .unwrap()
}

#[test]
fn every_participant_derives_the_recorded_keys() {
    let cases = cases();
    assert_eq!(cases.len(), 10);
    for case in &cases {
        for me in 1..=case.n {
            let p = recorded_participant(case, me);
            let (mut bcasts, shares) = inputs_for(case, me);
            // Also accepted with the own broadcast included, as charon passes it.
            for with_own in [false, true] {
                if with_own {
                    bcasts.insert(me, case.bcasts[&me].clone());
                }
                let r = run(&p, &bcasts, &shares).unwrap();
                let (sk, vk, vks) = &case.expected[&me];
                assert_eq!(&hex::encode(*r.sk_share.to_bytes()), sk);
                assert_eq!(&hex::encode(r.verification_key.0), vk);
                assert_eq!(&hex::encode(r.vk_share.0), vks);
                // Every participant's public share matches what it derived.
                for (id, (_, vk2, vks2)) in &case.expected {
                    assert_eq!(&hex::encode(r.public_shares[id].0), vks2);
                    assert_eq!(vk2, vk);
                }
            }
        }
    }
}

#[test]
fn all_validators_of_all_cases_in_one_batch() {
    // Cases with the same (n, t) can share a batch: each case is one validator.
    let cases = cases();
    let groups: BTreeMap<(u32, u32), Vec<&Case>> =
        cases.iter().fold(BTreeMap::new(), |mut m, c| {
            m.entry((c.n, c.t)).or_insert_with(Vec::new).push(c);
            m
        });
    for ((n, _), group) in groups {
        for me in 1..=n {
            let ps: Vec<Participant> = group.iter().map(|c| recorded_participant(c, me)).collect();
            let ins: Vec<_> = group.iter().map(|c| inputs_for(c, me)).collect();
            let batch: Vec<Round2Input<'_>> = ps
                .iter()
                .zip(ins.iter())
                .enumerate()
                .map(|(v, (p, (b, s)))| Round2Input {
                    validator: v,
                    participant: p,
                    bcasts: b,
                    shares: s,
                })
                .collect();
            let out = round2_batch(&batch).unwrap();
            for (r, c) in out.iter().zip(group.iter()) {
                assert_eq!(hex::encode(*r.sk_share.to_bytes()), c.expected[&me].0);
            }
        }
    }
}

/// Every byte of every peer input, flipped in one bit at a time, is rejected
/// and blamed on that peer.
#[test]
fn any_changed_byte_is_rejected() {
    let cases = cases();
    let mut rng = StdRng::seed_from_u64(99);
    // All of the small cases exhaustively; for the larger ones every byte of
    // two peers' inputs.
    for case in &cases {
        let me = 1 + (case.n % 2);
        let p = recorded_participant(case, me);
        let (bcasts, shares) = inputs_for(case, me);
        let peers: Vec<u32> = bcasts
            .keys()
            .copied()
            .take(if case.n <= 4 { 9 } else { 2 })
            .collect();
        for &peer in &peers {
            let b = &bcasts[&peer];
            let mut fields: Vec<(&str, usize, usize)> = Vec::new(); // (field, index, len)
            for k in 0..b.commitments.len() {
                fields.push(("commitment", k, 48));
            }
            fields.push(("wi", 0, 32));
            fields.push(("ci", 0, 32));
            fields.push(("share", 0, 32));
            for (field, index, len) in fields {
                for byte in 0..len {
                    // A random non-zero xor mask on this byte.
                    let mask = (rand::RngCore::next_u32(&mut rng) % 255 + 1) as u8;
                    let mut bc = bcasts.clone();
                    let mut sh = shares.clone();
                    match field {
                        "commitment" => bc.get_mut(&peer).unwrap().commitments[index][byte] ^= mask,
                        "wi" => bc.get_mut(&peer).unwrap().wi[byte] ^= mask,
                        "ci" => bc.get_mut(&peer).unwrap().ci[byte] ^= mask,
                        _ => sh.get_mut(&peer).unwrap().value[byte] ^= mask,
                    }
                    let err = run(&p, &bc, &sh).expect_err("tampered input accepted");
                    assert_eq!(err.validator(), Some(3), "{err}");
                    assert_eq!(
                        err.peer(),
                        Some(peer),
                        "{field}[{index}] byte {byte}: {err}"
                    );
                }
            }
        }
    }
}
