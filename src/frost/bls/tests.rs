use super::threshold::{binomials, lagrange};
use super::*;
use crate::frost::curve::{self, CurveError, Scalar};
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
    let pubs: Vec<(u64, PublicKey)> = shares.iter().map(|(i, sk)| (*i, sk.public_key())).collect();
    let partials: Vec<(u64, Signature)> = shares.iter().map(|(i, sk)| (*i, sk.sign(msg))).collect();
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
