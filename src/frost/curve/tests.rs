use super::*;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

const R_HEX: &str = "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001";

#[test]
fn scalar_encoding_is_canonical() {
    let r = hex::decode(R_HEX).unwrap();
    assert_eq!(
        Scalar::from_be_bytes(&r),
        Err(CurveError::NonCanonicalScalar)
    );
    let mut r_minus_1 = r.clone();
    r_minus_1[31] = 0;
    let s = Scalar::from_be_bytes(&r_minus_1).unwrap();
    assert_eq!(s.to_be_bytes().to_vec(), r_minus_1);
    assert_eq!(s.add(&Scalar::one()), Scalar::zero());
    assert_eq!(
        Scalar::from_be_bytes(&[0xff; 32]),
        Err(CurveError::NonCanonicalScalar)
    );
    assert_eq!(
        Scalar::from_be_bytes(&[1; 31]),
        Err(CurveError::ScalarLength(31))
    );
    assert_eq!(
        Scalar::from_be_bytes(&[1; 33]),
        Err(CurveError::ScalarLength(33))
    );
    assert!(Scalar::from_be_bytes(&[0; 32]).unwrap().is_zero());
    let mut five = [0u8; 32];
    five[31] = 5;
    assert_eq!(Scalar::from_be_bytes(&five).unwrap(), Scalar::from_u64(5));
    assert_eq!(format!("{:?}", Scalar::from_u64(5)), "Scalar(<redacted>)");
}

#[test]
fn kryptology_hash_vector() {
    let s = Scalar::hash_kryptology(&[0u8; 32]);
    assert_eq!(
        hex::encode(s.to_be_bytes()),
        "07ec86a2ab79613fc0294e058151ddc74db38b0cde95a4678eb91f1258f31b40"
    );
    let g = G1::generator().to_compressed();
    let mut msg = vec![1u8, 0];
    msg.extend_from_slice(&g);
    msg.extend_from_slice(&g);
    assert_eq!(
        hex::encode(Scalar::hash_kryptology(&msg).to_be_bytes()),
        "053a071f9ee62140bcb77d594dca299444686cabf8cb2de8d264e9122860fb4d"
    );
}

#[test]
fn field_arithmetic() {
    let mut rng = StdRng::seed_from_u64(1);
    let a = Scalar::random(&mut rng);
    let b = Scalar::random_nonzero(&mut rng);
    assert_eq!(a.add(&b).sub(&b), a);
    assert_eq!(a.mul(&b).mul(&b.invert().unwrap()), a);
    assert_eq!(a.add(&a.neg()), Scalar::zero());
    assert_eq!(Scalar::zero().invert(), Err(CurveError::ZeroInverse));
    let vals: Vec<Scalar> = (1..6).map(Scalar::from_u64).collect();
    let inv = batch_invert(&vals).unwrap();
    for (v, i) in vals.iter().zip(inv.iter()) {
        assert_eq!(v.mul(i), Scalar::one());
    }
    assert!(batch_invert(&[Scalar::one(), Scalar::zero()]).is_err());
}

#[test]
fn point_encoding_and_arithmetic() {
    let g = G1::generator();
    let enc = g.to_compressed();
    assert_eq!(G1::from_compressed(&enc).unwrap(), g);
    let two = g.add(&g);
    assert_eq!(g.mul_u64(2), two);
    assert_eq!(g.mul(&Scalar::from_u64(2)), two);
    assert_eq!(G1::mul_base(&Scalar::from_u64(2)), two);
    let mut rng = StdRng::seed_from_u64(9);
    for s in [
        Scalar::zero(),
        Scalar::one(),
        Scalar::one().neg(),
        Scalar::from_u64(256),
    ]
    .into_iter()
    .chain((0..20).map(|_| Scalar::random(&mut rng)))
    {
        assert_eq!(G1::mul_base_vartime(&s), G1::mul_base(&s));
        assert_eq!(g.mul_vartime(&s), g.mul(&s));
    }
    assert_eq!(two.sub(&g), g);
    assert!(g.sub(&g).is_identity());
    assert_eq!(g.mul_u64(0), G1::identity());
    let mut inf = [0u8; 48];
    inf[0] = 0xc0;
    assert_eq!(G1::identity().to_compressed(), inf);
    assert_eq!(G1::from_compressed(&inf), Err(CurveError::Identity));
    assert!(
        G1Affine::from_compressed_allow_identity(&inf)
            .unwrap()
            .is_identity()
    );
    assert_eq!(
        G1::from_compressed(&enc[..47]),
        Err(CurveError::PointLength(47))
    );
    // Uncompressed flag cleared.
    let mut bad = enc;
    bad[0] &= 0x7f;
    assert_eq!(G1::from_compressed(&bad), Err(CurveError::PointEncoding));
    // x = 0 gives (0, ±2): on the curve, not in G1.
    let mut zero_x = [0u8; 48];
    zero_x[0] = 0x80;
    assert_eq!(G1::from_compressed(&zero_x), Err(CurveError::NotInSubgroup));
    let pts = [g, two, G1::identity()];
    let comp = G1::batch_compress(&pts);
    for (p, c) in pts.iter().zip(comp.iter()) {
        assert_eq!(&p.to_compressed(), c);
    }
}

#[test]
fn points_off_subgroup_are_rejected() {
    // Search x = 1, 2, ... for points on the curve; almost all of them lie
    // outside the prime-order subgroup (the cofactor is about 2^126).
    let mut found = 0;
    for x in 1u8..=60 {
        let mut enc = [0u8; 48];
        enc[0] = 0x80;
        enc[47] = x;
        match G1::from_compressed(&enc) {
            Err(CurveError::NotInSubgroup) => found += 1,
            Err(CurveError::PointEncoding) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(found > 5);
}

#[test]
fn msm_matches_naive() {
    let mut rng = StdRng::seed_from_u64(2);
    for n in [0usize, 1, 2, 3, 7, 40] {
        let pts: Vec<G1> = (0..n)
            .map(|_| G1::mul_base(&Scalar::random(&mut rng)))
            .collect();
        let sc: Vec<Scalar> = (0..n).map(|_| Scalar::random(&mut rng)).collect();
        let w: Vec<u128> = (0..n)
            .map(|_| u128::from(rng.next_u64()) << 64 | 5)
            .collect();
        let aff = G1::batch_to_affine(&pts);
        let mut naive = G1::identity();
        let mut naive_w = G1::identity();
        for ((p, s), w) in pts.iter().zip(sc.iter()).zip(w.iter()) {
            naive = naive.add(&p.mul(s));
            let wb = Scalar::from_be_bytes_reduced(&w.to_be_bytes());
            naive_w = naive_w.add(&p.mul(&wb));
        }
        assert_eq!(msm(&aff, &sc).unwrap(), naive);
        assert_eq!(msm(&aff, &w).unwrap(), naive_w);
    }
    // Identity points are skipped, not mis-added.
    let g = G1::generator();
    let aff = G1::batch_to_affine(&[G1::identity(), g]);
    let sc = [Scalar::from_u64(3), Scalar::from_u64(4)];
    assert_eq!(msm(&aff, &sc).unwrap(), g.mul_u64(4));
    assert!(msm(&aff, &sc[..1]).is_err());
}

#[test]
fn lagrange_interpolates() {
    let mut rng = StdRng::seed_from_u64(3);
    let coeffs: Vec<Scalar> = (0..3).map(|_| Scalar::random(&mut rng)).collect();
    let idx = [2u64, 5, 7];
    let lambdas = lagrange_coefficients_at_zero(&idx).unwrap();
    let mut acc = Scalar::zero();
    for (i, l) in idx.iter().zip(lambdas.iter()) {
        acc = acc.add(&l.mul(&eval_poly(&coeffs, &Scalar::from_u64(*i))));
    }
    assert_eq!(acc, coeffs[0]);
    assert_eq!(lagrange_coefficients_at_zero(&[]), Err(CurveError::Empty));
    assert_eq!(
        lagrange_coefficients_at_zero(&[1, 0]),
        Err(CurveError::ZeroIndex)
    );
    assert_eq!(
        lagrange_coefficients_at_zero(&[3, 3]),
        Err(CurveError::DuplicateIndex(3))
    );
}
