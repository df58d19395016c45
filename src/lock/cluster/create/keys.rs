//! Validator secrets and their shares, the deposits and registrations they
//! sign, and the lock's aggregate and node signatures.

use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::frost::bls::{self, SecretKey};
use crate::frost::curve::{Scalar, eval_poly};
use crate::lock::cluster::create::options::{
    CreateError, CreateOptions, check_options, pick, signed_amounts,
};
use crate::lock::cluster::lockfile::{self, RegistrationMessage};
use crate::lock::eth::consensus::{BuilderRegistration, DepositData, Registration};
use crate::lock::eth::deposit::{self};
use crate::lock::eth::registration::{self};
use crate::lock::identity::k1::{self, K1Secret};

/// The key material of one distributed validator, before it goes into a lock.
#[derive(Debug, Clone)]
pub struct ValidatorMaterial {
    /// The group public key.
    pub pubkey: [u8; 48],
    /// Public share of node `i` at index `i` (share id `i + 1`).
    pub public_shares: Vec<[u8; 48]>,
    /// One signed deposit per amount, ascending.
    pub deposits: Vec<DepositData>,
    /// The signed registration (v1.7+).
    pub registration: Option<BuilderRegistration>,
}

/// What one node keeps secret.
#[derive(Debug, Clone)]
pub struct NodeSecrets {
    /// Operator index (0-based); its share id is `index + 1`.
    pub index: usize,
    /// The node's ENR (p2p identity) key.
    pub enr_key: K1Secret,
    /// The node's secret share of each validator, in validator order.
    pub shares: Vec<SecretKey>,
}

/// Shamir-splits `secret` with a random polynomial of degree `threshold - 1`:
/// returns the shares for ids `1..=n`, in order.
pub fn split_secret<R: RngCore + CryptoRng>(
    secret: &SecretKey,
    n: usize,
    threshold: usize,
    rng: &mut R,
) -> Result<Vec<SecretKey>, CreateError> {
    if threshold == 0 || threshold > n {
        return Err(CreateError::Params(format!(
            "threshold {threshold} must be between 1 and the number of nodes {n}"
        )));
    }
    let mut coeffs = Vec::with_capacity(threshold);
    coeffs.push(secret.to_scalar());
    for _ in 1..threshold {
        coeffs.push(Scalar::random(rng));
    }
    (1..=n as u64)
        .map(|id| {
            Ok(SecretKey::from_scalar(&eval_poly(
                &coeffs,
                &Scalar::from_u64(id),
            ))?)
        })
        .collect()
}

/// Generates validator secrets, shares, deposits and registrations.
/// Returns the public material per validator and `shares[node][validator]`.
/// The expensive signing runs on all cores.
pub fn generate_key_material<R: RngCore + CryptoRng>(
    o: &CreateOptions,
    rng: &mut R,
) -> Result<(Vec<ValidatorMaterial>, Vec<Vec<SecretKey>>), CreateError> {
    let t = check_options(o)?;
    let n = o.num_nodes;
    // Draw all randomness up front so the parallel part is deterministic
    // given the rng.
    let mut per_validator: Vec<(SecretKey, Vec<SecretKey>)> = Vec::with_capacity(o.num_validators);
    for _ in 0..o.num_validators {
        let secret = SecretKey::from_scalar(&Scalar::random_nonzero(rng))?;
        let shares = split_secret(&secret, n, t, rng)?;
        per_validator.push((secret, shares));
    }
    let amounts = signed_amounts(o);
    let gas_limit = registration::gas_limit_or_default(o.target_gas_limit);
    let with_deposits = o.version.has_deposit_data();
    let with_registration = o.version.has_registrations();
    let fork = o.network.genesis_fork_version;

    let build = |i: usize,
                 secret: &SecretKey,
                 shares: &[SecretKey]|
     -> Result<ValidatorMaterial, CreateError> {
        let pubkey = secret.public_key().0;
        let withdrawal = pick(&o.withdrawal_addresses, i, "withdrawal addresses")?;
        let deposits = if with_deposits {
            amounts
                .iter()
                .map(|&amount| {
                    let msg =
                        deposit::new_deposit_message(pubkey, *withdrawal, amount, o.compounding)?;
                    Ok(deposit::sign_deposit(&msg, secret, fork)?)
                })
                .collect::<Result<Vec<_>, CreateError>>()?
        } else {
            Vec::new()
        };
        let registration = if with_registration {
            let fee = pick(&o.fee_recipients, i, "fee recipients")?;
            let msg = Registration::new(*fee, gas_limit, o.network.genesis_time, pubkey);
            Some(registration::sign_registration(msg, secret, fork)?)
        } else {
            None
        };
        Ok(ValidatorMaterial {
            pubkey,
            public_shares: shares.iter().map(|s| s.public_key().0).collect(),
            deposits,
            registration,
        })
    };

    let results: Vec<Result<ValidatorMaterial, CreateError>> =
        crate::lock::parallel::map_chunks(&per_validator, 1, |offset, part| {
            part.iter()
                .enumerate()
                .map(|(j, (sk, sh))| build(offset + j, sk, sh))
                .collect()
        })
        .map_err(|_| CreateError::Params("key generation thread failed".into()))?;
    let material = results.into_iter().collect::<Result<Vec<_>, _>>()?;

    let mut by_node: Vec<Vec<SecretKey>> = (0..n)
        .map(|_| Vec::with_capacity(o.num_validators))
        .collect();
    for (_, shares) in per_validator {
        for (node, share) in by_node.iter_mut().zip(shares) {
            node.push(share);
        }
    }
    Ok((material, by_node))
}

/// The lock's `signature_aggregate`: the aggregate of every share's signature
/// over `lock_hash`. All shares sign the same message, so the aggregate equals
/// one signature by the sum of all shares, which is what is computed.
pub fn signature_aggregate(
    nodes: &[NodeSecrets],
    lock_hash: &[u8; 32],
) -> Result<[u8; 96], CreateError> {
    let mut sum = Scalar::zero();
    let mut count = 0usize;
    for node in nodes {
        for share in &node.shares {
            sum = sum.add(&share.to_scalar());
            count += 1;
        }
    }
    if count == 0 {
        return Err(CreateError::Params(
            "no shares to sign the lock hash with".into(),
        ));
    }
    match SecretKey::from_scalar(&sum) {
        Ok(total) => Ok(total.sign(lock_hash).0),
        // The shares sum to zero (negligible probability): aggregate one by one.
        Err(_) => {
            let sigs: Vec<bls::Signature> = nodes
                .iter()
                .flat_map(|n| n.shares.iter().map(|s| s.sign(lock_hash)))
                .collect();
            Ok(bls::aggregate(&sigs)?.0)
        }
    }
}

/// One k1 node signature over `lock_hash` per node, in operator order.
pub fn node_signatures(
    nodes: &[NodeSecrets],
    lock_hash: &[u8; 32],
) -> Result<Vec<[u8; 65]>, CreateError> {
    nodes
        .iter()
        .map(|n| {
            k1::sign65(&n.enr_key, lock_hash).map_err(|e| CreateError::NodeSignature {
                operator: n.index,
                reason: e.to_string(),
            })
        })
        .collect()
}

pub(super) fn random_enr_key<R: RngCore + CryptoRng>(rng: &mut R) -> K1Secret {
    loop {
        let mut b = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(b.as_mut_slice());
        if let Ok(k) = K1Secret::from_bytes(b.as_slice()) {
            return k;
        }
    }
}

pub(super) fn lock_registration(r: &BuilderRegistration) -> lockfile::BuilderRegistration {
    lockfile::BuilderRegistration {
        message: RegistrationMessage {
            fee_recipient: r.message.fee_recipient.clone(),
            gas_limit: r.message.gas_limit,
            timestamp: r.message.timestamp,
            pubkey: r.message.pubkey.to_vec(),
        },
        signature: r.signature.to_vec(),
    }
}
