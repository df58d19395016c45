//! A `charon create cluster`-like generator: random validator secrets,
//! Shamir-split into one share per node (share ids 1..n), deposits per amount
//! and builder registrations signed with the full keys, a complete signed
//! lock, and the per-node files (`nodeN/{charon-enr-private-key,
//! cluster-lock.json, deposit-data*.json, validator_keys/}`).
//!
//! Operators and creator are left unsigned, as `charon create cluster` does.

use std::path::{Path, PathBuf};

use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use super::definition::{Creator, Definition, Operator, ValidatorAddresses};
use super::deposit::{self, DepositData, DepositError};
use super::enr::Enr;
use super::error::HashError;
use super::k1::{self, K1Secret};
use super::keystore::{self, KeystoreError, WriteOptions};
use super::lockfile::{self, DistValidator, Lock, RegistrationMessage};
use super::network::Network;
use super::registration::{self, BuilderRegistration, Registration, RegistrationError};
use super::version::Version;
use crate::frost::bls::{self, BlsError, SecretKey};
use crate::frost::curve::{Scalar, eval_poly};

/// Why a cluster could not be created or written.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// Parameters that cannot make a valid cluster.
    #[error("invalid cluster parameters: {0}")]
    Params(String),
    /// Deposit building or writing failed.
    #[error(transparent)]
    Deposit(#[from] DepositError),
    /// Registration signing failed.
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// Lock or definition hashing failed.
    #[error("hash cluster lock: {0}")]
    Hash(#[from] HashError),
    /// Writing keystores failed.
    #[error(transparent)]
    Keystore(#[from] KeystoreError),
    /// A BLS operation failed (for example a zero share, with negligible probability).
    #[error("BLS: {0}")]
    Bls(#[from] BlsError),
    /// Signing with an ENR key failed.
    #[error("node signature by operator {operator}: {reason}")]
    NodeSignature {
        /// Operator index.
        operator: usize,
        /// What failed.
        reason: String,
    },
    /// An I/O failure.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What to create.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Cluster name.
    pub name: String,
    /// Definition version (v1.6+ for deposits in the lock, v1.7+ for
    /// registrations and node signatures).
    pub version: Version,
    /// Number of nodes (operators).
    pub num_nodes: usize,
    /// Threshold; `None` gives charon's default `ceil(2n/3)`.
    pub threshold: Option<usize>,
    /// Number of distributed validators.
    pub num_validators: usize,
    /// The network.
    pub network: Network,
    /// Fee recipients: one for all validators, or one per validator.
    pub fee_recipients: Vec<[u8; 20]>,
    /// Withdrawal addresses: one for all validators, or one per validator.
    pub withdrawal_addresses: Vec<[u8; 20]>,
    /// Definition `deposit_amounts` in gwei (v1.8+); empty for the defaults.
    pub deposit_amounts: Vec<u64>,
    /// Compounding (0x02) withdrawal credentials (v1.10+).
    pub compounding: bool,
    /// Definition `target_gas_limit` (v1.10+); 0 gives 30 000 000.
    pub target_gas_limit: u64,
    /// Definition timestamp; `None` for now (RFC 3339, UTC).
    pub timestamp: Option<String>,
}

impl CreateOptions {
    /// A v1.11 cluster of `num_nodes` nodes and `num_validators` validators with
    /// charon's defaults, paying and withdrawing to the given addresses.
    pub fn new(
        network: Network,
        num_nodes: usize,
        num_validators: usize,
        fee_recipient: [u8; 20],
        withdrawal_address: [u8; 20],
    ) -> Self {
        CreateOptions {
            name: "cluster".into(),
            version: Version::CURRENT,
            num_nodes,
            threshold: None,
            num_validators,
            network,
            fee_recipients: vec![fee_recipient],
            withdrawal_addresses: vec![withdrawal_address],
            deposit_amounts: Vec::new(),
            compounding: false,
            target_gas_limit: 0,
            timestamp: None,
        }
    }
}

/// charon's default threshold, `ceil(2n/3)`.
pub fn default_threshold(n: usize) -> usize {
    (2 * n).div_ceil(3)
}

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

fn pick<'a>(list: &'a [[u8; 20]], i: usize, what: &str) -> Result<&'a [u8; 20], CreateError> {
    match list {
        [one] => Ok(one),
        many => many.get(i).ok_or_else(|| {
            CreateError::Params(format!(
                "{what}: give one address or one per validator (missing validator {i})"
            ))
        }),
    }
}

/// Most validators one cluster may be created with. Far above real clusters,
/// and what the p2p message bounds are sized for; it keeps an absurd count from
/// aborting the process on allocation.
pub const MAX_VALIDATORS: usize = 10_000;

/// Validates the options and returns the threshold to use.
pub fn check_options(o: &CreateOptions) -> Result<usize, CreateError> {
    let t = o
        .threshold
        .unwrap_or_else(|| default_threshold(o.num_nodes));
    if o.num_nodes == 0 {
        return Err(CreateError::Params("need at least one node".into()));
    }
    if t == 0 || t > o.num_nodes {
        return Err(CreateError::Params(format!(
            "threshold {t} must be between 1 and the number of nodes {}",
            o.num_nodes
        )));
    }
    if o.num_validators == 0 {
        return Err(CreateError::Params("need at least one validator".into()));
    }
    if o.num_validators > MAX_VALIDATORS {
        return Err(CreateError::Params(format!(
            "{} validators requested; at most {MAX_VALIDATORS} per cluster",
            o.num_validators
        )));
    }
    for (list, what) in [
        (&o.fee_recipients, "fee recipients"),
        (&o.withdrawal_addresses, "withdrawal addresses"),
    ] {
        if list.len() != 1 && list.len() != o.num_validators {
            return Err(CreateError::Params(format!(
                "{} {what} for {} validators; give one or one per validator",
                list.len(),
                o.num_validators
            )));
        }
    }
    let v = o.version;
    if !v.has_validator_list() && (o.fee_recipients.len() > 1 || o.withdrawal_addresses.len() > 1) {
        return Err(CreateError::Params(format!(
            "version {} supports a single fee recipient and withdrawal address",
            v.as_str()
        )));
    }
    if !o.deposit_amounts.is_empty() && !v.has_partial_deposits() {
        return Err(CreateError::Params(format!(
            "version {} does not support partial deposits",
            v.as_str()
        )));
    }
    if (o.compounding || o.target_gas_limit != 0) && !v.has_gas_limit_and_compounding() {
        return Err(CreateError::Params(format!(
            "version {} does not support compounding or a custom target gas limit",
            v.as_str()
        )));
    }
    let compounding_rules = o.compounding && v.has_gas_limit_and_compounding();
    deposit::verify_deposit_amounts(&o.deposit_amounts, compounding_rules)?;
    Ok(t)
}

/// The deposit amounts a cluster of these options signs, ascending.
fn signed_amounts(o: &CreateOptions) -> Vec<u64> {
    deposit::ceremony_deposit_amounts(
        &o.deposit_amounts,
        o.compounding,
        o.version.has_partial_deposits(),
    )
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
        super::parallel::map_chunks(&per_validator, 1, |offset, part| {
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

fn random_enr_key<R: RngCore + CryptoRng>(rng: &mut R) -> K1Secret {
    loop {
        let mut b = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(b.as_mut_slice());
        if let Ok(k) = K1Secret::from_bytes(b.as_slice()) {
            return k;
        }
    }
}

fn lock_deposit(d: &DepositData) -> lockfile::DepositData {
    lockfile::DepositData {
        pubkey: d.pubkey.to_vec(),
        withdrawal_credentials: d.withdrawal_credentials.to_vec(),
        amount: d.amount,
        signature: d.signature.to_vec(),
    }
}

fn lock_registration(r: &BuilderRegistration) -> lockfile::BuilderRegistration {
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

/// A definition for `o` with these operators (charon `create dkg` leaves the
/// operators' addresses and signatures empty), hashes set.
pub fn new_definition<R: RngCore + CryptoRng>(
    o: &CreateOptions,
    t: usize,
    operators: Vec<Operator>,
    rng: &mut R,
) -> Result<Definition, CreateError> {
    let v = o.version;
    let addresses: Vec<ValidatorAddresses> = (0..o.num_validators)
        .map(|i| {
            Ok(ValidatorAddresses {
                fee_recipient_address: k1::checksum_address(pick(
                    &o.fee_recipients,
                    i,
                    "fee recipients",
                )?),
                withdrawal_address: k1::checksum_address(pick(
                    &o.withdrawal_addresses,
                    i,
                    "withdrawal addresses",
                )?),
            })
        })
        .collect::<Result<_, CreateError>>()?;
    let mut uuid = [0u8; 16];
    rng.fill_bytes(&mut uuid);
    let uuid = uuid::Builder::from_random_bytes(uuid).into_uuid();
    let legacy = !v.has_validator_list();
    let definition = Definition {
        version: v,
        name: o.name.clone(),
        uuid: uuid.to_string().to_uppercase(),
        timestamp: o
            .timestamp
            .clone()
            .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        num_validators: o.num_validators as u64,
        threshold: t as u64,
        dkg_algorithm: "default".into(),
        fork_version: o.network.genesis_fork_version.to_vec(),
        operators,
        creator: Creator::default(),
        validators: if legacy {
            Vec::new()
        } else {
            addresses.clone()
        },
        legacy_addresses: if legacy {
            addresses.first().cloned().unwrap_or_default()
        } else {
            ValidatorAddresses::default()
        },
        deposit_amounts: (v.has_partial_deposits() && !o.deposit_amounts.is_empty())
            .then(|| o.deposit_amounts.clone()),
        consensus_protocol: String::new(),
        target_gas_limit: if v.has_gas_limit_and_compounding() {
            registration::gas_limit_or_default(o.target_gas_limit)
        } else {
            0
        },
        compounding: o.compounding,
        config_hash: Vec::new(),
        definition_hash: Vec::new(),
    }
    .with_hashes()?;
    Ok(definition)
}

/// Creates a complete cluster: a lock with all hashes and signatures set
/// (it passes [`super::verify::verify_lock`]) and each node's secrets.
pub fn create_cluster<R: RngCore + CryptoRng>(
    o: &CreateOptions,
    rng: &mut R,
) -> Result<(Lock, Vec<NodeSecrets>), CreateError> {
    let t = check_options(o)?;
    let v = o.version;
    let enr_keys: Vec<K1Secret> = (0..o.num_nodes).map(|_| random_enr_key(rng)).collect();
    let operators = enr_keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let enr = Enr::new(k, None, None, None).map_err(|e| CreateError::NodeSignature {
                operator: i,
                reason: format!("create ENR: {e}"),
            })?;
            Ok(Operator {
                enr: enr.to_string(),
                ..Operator::default()
            })
        })
        .collect::<Result<Vec<_>, CreateError>>()?;
    let definition = new_definition(o, t, operators, rng)?;

    let (material, shares) = generate_key_material(o, rng)?;
    let validators = material
        .iter()
        .map(|m| DistValidator {
            pubkey: m.pubkey.to_vec(),
            public_shares: m.public_shares.iter().map(|p| p.to_vec()).collect(),
            deposit_data: m.deposits.iter().map(lock_deposit).collect(),
            builder_registration: m
                .registration
                .as_ref()
                .map(lock_registration)
                .unwrap_or_default(),
        })
        .collect();
    let nodes: Vec<NodeSecrets> = enr_keys
        .into_iter()
        .zip(shares)
        .enumerate()
        .map(|(index, (enr_key, shares))| NodeSecrets {
            index,
            enr_key,
            shares,
        })
        .collect();

    let mut lock = Lock {
        definition,
        validators,
        signature_aggregate: Vec::new(),
        signature_aggregate_null: false,
        lock_hash: Vec::new(),
        node_signatures: Vec::new(),
    };
    let lock_hash = lock.lock_hash()?;
    lock.lock_hash = lock_hash.to_vec();
    lock.signature_aggregate = signature_aggregate(&nodes, &lock_hash)?.to_vec();
    if v.has_registrations() {
        lock.node_signatures = node_signatures(&nodes, &lock_hash)?
            .iter()
            .map(|s| s.to_vec())
            .collect();
    }
    Ok((lock, nodes))
}

/// Writes each node's directory `dir/node<i>/` as `charon create cluster`
/// does: `charon-enr-private-key` (0600), `cluster-lock.json` (0444), one
/// `deposit-data*.json` per amount (0444) and `validator_keys/` with that
/// node's shares. `dir/node<i>` must not exist yet.
pub fn write_cluster(
    dir: &Path,
    lock: &Lock,
    nodes: &[NodeSecrets],
    keystore_options: WriteOptions,
) -> Result<Vec<PathBuf>, CreateError> {
    let io = |action, path: &Path, source| CreateError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let lock_json = lock.to_json()?;
    let deposits = deposit::deposits_from_lock(lock)?;
    let fork: [u8; 4] = lock
        .definition
        .fork_version
        .as_slice()
        .try_into()
        .map_err(|_| CreateError::Params("lock fork version is not 4 bytes".into()))?;
    let network = super::network::NetworkSet::WITH_HOLESKY
        .by_fork_version(&fork)
        .ok_or_else(|| {
            CreateError::Params(format!("unknown fork version 0x{}", hex::encode(fork)))
        })?;
    let mut dirs = Vec::with_capacity(nodes.len());
    for node in nodes {
        let node_dir = dir.join(format!("node{}", node.index));
        std::fs::create_dir_all(dir).map_err(|e| io("create directory", dir, e))?;
        std::fs::create_dir(&node_dir).map_err(|e| io("create directory", &node_dir, e))?;
        let key_hex = Zeroizing::new(hex::encode(node.enr_key.to_bytes().as_slice()));
        write_file(
            &node_dir.join("charon-enr-private-key"),
            key_hex.as_bytes(),
            0o600,
        )?;
        write_file(&node_dir.join("cluster-lock.json"), &lock_json, 0o444)?;
        if !deposits.is_empty() {
            deposit::write_deposit_files(&node_dir, &deposits, &network)?;
        }
        keystore::write_keystores_with(
            &node_dir.join("validator_keys"),
            &node.shares,
            keystore_options,
        )?;
        dirs.push(node_dir);
    }
    Ok(dirs)
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CreateError> {
    super::keystore::write_new_file(path, bytes, mode).map_err(|(action, source)| CreateError::Io {
        action,
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
