use super::*;
use crate::frost::bls::SecretKey;
use crate::frost::curve::Scalar;
use crate::frost::curve::lagrange_coefficients_at_zero;

#[test]
fn split_reconstructs_from_any_threshold_subset() {
    let mut rng = rand::thread_rng();
    let secret = SecretKey::from_bytes(&[9u8; 32]).unwrap();
    let shares = split_secret(&secret, 5, 3, &mut rng).unwrap();
    for subset in [[1u64, 2, 3], [1, 3, 5], [2, 4, 5], [3, 4, 5]] {
        let l = lagrange_coefficients_at_zero(&subset).unwrap();
        let mut acc = Scalar::zero();
        for (id, c) in subset.iter().zip(&l) {
            acc = acc.add(&shares[*id as usize - 1].to_scalar().mul(c));
        }
        assert_eq!(acc, secret.to_scalar());
    }
    // Two shares are not enough.
    let l = lagrange_coefficients_at_zero(&[1, 2]).unwrap();
    let acc = shares[0]
        .to_scalar()
        .mul(&l[0])
        .add(&shares[1].to_scalar().mul(&l[1]));
    assert_ne!(acc, secret.to_scalar());
    assert!(split_secret(&secret, 3, 4, &mut rng).is_err());
    assert!(split_secret(&secret, 3, 0, &mut rng).is_err());
}

#[test]
fn default_thresholds() {
    assert_eq!(default_threshold(1), 1);
    assert_eq!(default_threshold(3), 2);
    assert_eq!(default_threshold(4), 3);
    assert_eq!(default_threshold(7), 5);
    assert_eq!(default_threshold(10), 7);
}
