//! A small generator of fully signed, verifiable clusters with real keys, for
//! tests and benchmarks (not a replacement for `charon create cluster`): random
//! validator secrets Shamir-split over the BLS scalar field, ENR and wallet
//! keys, EIP-712 signatures, deposits, registrations, aggregate and node
//! signatures.

use rand::{CryptoRng, Rng, RngCore};

use crate::frost::bls::{self, SecretKey};
use crate::frost::curve::{Scalar, eval_poly};

use crate::lock::cluster::definition::{
    Creator, Definition, ONE_ETH_GWEI, Operator, ValidatorAddresses, address_fields,
};
use crate::lock::cluster::eip712;
use crate::lock::cluster::error::HashError;
use crate::lock::cluster::lockfile::{
    BuilderRegistration, DepositRecord, DistValidator, Lock, RegistrationMessage,
};
use crate::lock::cluster::version::Version;
use crate::lock::eth::network::{NETWORKS, Network};
use crate::lock::eth::signing;
use crate::lock::identity::enr::Enr;
use crate::lock::identity::k1::{self, K1Secret};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SampleOptions {
    /// Format version (v1.3+; EIP-712 signing needs v1.3, a creator v1.4).
    pub version: Version,
    /// Number of distributed validators.
    pub num_validators: usize,
    /// Number of operators.
    pub operators: usize,
    /// Signature threshold.
    pub threshold: usize,
    /// Sign the definition with operator and creator wallet keys.
    pub signed: bool,
    /// Network (fork version, chain id, genesis time).
    pub network: Network,
    /// Deposit amounts (v1.8+), in gwei.
    pub deposit_amounts: Vec<u64>,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            version: Version::CURRENT,
            num_validators: 2,
            operators: 4,
            threshold: 3,
            signed: true,
            network: NETWORKS[5],
            deposit_amounts: vec![ONE_ETH_GWEI, 32 * ONE_ETH_GWEI],
        }
    }
}

/// A generated cluster and all its secrets.
#[derive(Debug)]
pub struct SampleCluster {
    /// The lock, all hashes and signatures set.
    pub lock: Lock,
    /// ENR private key of each operator.
    pub enr_keys: Vec<K1Secret>,
    /// Wallet key of each operator (signs the definition).
    pub wallet_keys: Vec<K1Secret>,
    /// The creator's wallet key.
    pub creator_key: K1Secret,
    /// `shares[v][i]`: operator `i`'s secret share of validator `v`.
    pub shares: Vec<Vec<SecretKey>>,
    /// The full secret of each validator.
    pub validator_keys: Vec<SecretKey>,
}

fn k1_key<R: RngCore + CryptoRng>(rng: &mut R) -> K1Secret {
    loop {
        let mut b = zeroize::Zeroizing::new([0u8; 32]);
        rng.fill_bytes(b.as_mut());
        if let Ok(k) = K1Secret::from_bytes(b.as_ref()) {
            return k;
        }
    }
}

fn addr_hex(k: &K1Secret) -> String {
    k1::checksum_address(&k1::address_from_pubkey(&k.public_key()))
}

/// Signs the definition's operator and creator signatures (EIP-712) and sets
/// both hashes. Unsigned fields stay as they are.
pub fn sign_definition(
    d: &mut Definition,
    wallets: &[K1Secret],
    creator: Option<&K1Secret>,
    chain_id: u64,
) -> Result<(), HashError> {
    d.config_hash = d.config_hash()?.to_vec();
    let op_digest = eip712::operator_config_digest(d.version, &d.config_hash, chain_id);
    for (op, key) in d.operators.iter_mut().zip(wallets) {
        op.config_signature = k1::sign65(key, &op_digest)
            .map(|s| s.to_vec())
            .unwrap_or_default();
        let enr_digest = eip712::enr_digest(&op.enr, chain_id);
        op.enr_signature = k1::sign65(key, &enr_digest)
            .map(|s| s.to_vec())
            .unwrap_or_default();
    }
    if let Some(c) = creator {
        let digest = eip712::creator_config_digest(&d.config_hash, chain_id);
        d.creator.config_signature = k1::sign65(c, &digest)
            .map(|s| s.to_vec())
            .unwrap_or_default();
    }
    d.definition_hash = d.definition_hash()?.to_vec();
    Ok(())
}

/// Recomputes the lock hash and re-signs everything that covers it: the
/// aggregate over all shares and every node signature.
pub fn sign_lock(
    lock: &mut Lock,
    shares: &[Vec<SecretKey>],
    enr_keys: &[K1Secret],
) -> Result<(), HashError> {
    lock.lock_hash = lock.lock_hash()?.to_vec();
    let sigs: Vec<bls::Signature> = shares
        .iter()
        .flatten()
        .map(|s| s.sign(&lock.lock_hash))
        .collect();
    lock.signature_aggregate = bls::aggregate(&sigs)
        .map(|s| s.0.to_vec())
        .unwrap_or_default();
    let digest: [u8; 32] = lock.lock_hash.as_slice().try_into().unwrap_or_default();
    lock.node_signatures = if lock.definition.version.has_registrations() {
        enr_keys
            .iter()
            .map(|k| {
                k1::sign65(k, &digest)
                    .map(|s| s.to_vec())
                    .unwrap_or_default()
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(())
}

fn random_secret<R: RngCore + CryptoRng>(rng: &mut R) -> Scalar {
    Scalar::random_nonzero(rng)
}

/// Generates a complete, verifiable cluster.
pub fn sample_cluster<R: RngCore + CryptoRng>(
    opts: &SampleOptions,
    rng: &mut R,
) -> Result<SampleCluster, HashError> {
    let v = opts.version;
    let enr_keys: Vec<K1Secret> = (0..opts.operators).map(|_| k1_key(rng)).collect();
    let wallet_keys: Vec<K1Secret> = (0..opts.operators).map(|_| k1_key(rng)).collect();
    let creator_key = k1_key(rng);
    let net = opts.network;

    let operators = enr_keys
        .iter()
        .zip(&wallet_keys)
        .map(|(ek, wk)| Operator {
            address: if opts.signed {
                addr_hex(wk)
            } else {
                String::new()
            },
            enr: Enr::new(ek, None, None, None)
                .map(|e| e.to_string())
                .unwrap_or_default(),
            ..Operator::default()
        })
        .collect();
    let validators: Vec<ValidatorAddresses> = (0..opts.num_validators)
        .map(|_| {
            let mut fee = [0u8; 20];
            let mut wd = [0u8; 20];
            rng.fill(&mut fee);
            rng.fill(&mut wd);
            ValidatorAddresses {
                fee_recipient_address: k1::checksum_address(&fee),
                withdrawal_address: k1::checksum_address(&wd),
            }
        })
        .collect();
    let (address_list, legacy_addresses) = address_fields(v, &validators);
    let mut uuid = [0u8; 16];
    rng.fill(&mut uuid);
    let mut d = Definition {
        version: v,
        name: "sample cluster".into(),
        uuid: hex::encode_upper(uuid),
        timestamp: "2025-01-01T00:00:00Z".into(),
        num_validators: opts.num_validators as u64,
        threshold: opts.threshold as u64,
        dkg_algorithm: "default".into(),
        fork_version: net.genesis_fork_version.to_vec(),
        operators,
        creator: Creator {
            address: if opts.signed && v.has_creator() {
                addr_hex(&creator_key)
            } else {
                String::new()
            },
            config_signature: Vec::new(),
        },
        validators: address_list,
        legacy_addresses,
        deposit_amounts: v
            .has_partial_deposits()
            .then(|| opts.deposit_amounts.clone()),
        consensus_protocol: String::new(),
        target_gas_limit: if v.has_gas_limit_and_compounding() {
            30_000_000
        } else {
            0
        },
        compounding: false,
        config_hash: Vec::new(),
        definition_hash: Vec::new(),
    };
    let signers = if opts.signed {
        wallet_keys.as_slice()
    } else {
        &[]
    };
    let creator = (opts.signed && v.has_creator()).then_some(&creator_key);
    sign_definition(&mut d, signers, creator, net.chain_id)?;

    let mut amounts: Vec<u64> = if v.has_partial_deposits() && !opts.deposit_amounts.is_empty() {
        opts.deposit_amounts.clone()
    } else {
        vec![32 * ONE_ETH_GWEI]
    };
    amounts.sort_unstable();
    amounts.dedup();

    let mut shares = Vec::with_capacity(opts.num_validators);
    let mut validator_keys = Vec::with_capacity(opts.num_validators);
    let mut dvs = Vec::with_capacity(opts.num_validators);
    for i in 0..opts.num_validators {
        let coeffs: Vec<Scalar> = (0..opts.threshold.max(1))
            .map(|_| random_secret(rng))
            .collect();
        let secret = coeffs.first().map(SecretKey::from_scalar);
        let Some(Ok(secret)) = secret else {
            return Err(HashError::new("sample", "zero secret"));
        };
        let mut node_shares = Vec::with_capacity(opts.operators);
        for j in 0..opts.operators {
            let s = eval_poly(&coeffs, &Scalar::from_u64(j as u64 + 1));
            node_shares.push(
                SecretKey::from_scalar(&s).map_err(|e| HashError::new("sample", e.to_string()))?,
            );
        }
        let pubkey = secret.public_key();
        let addrs = validators.get(i).cloned().unwrap_or_default();
        let fork = net.genesis_fork_version;
        let wd = k1::parse_address(&addrs.withdrawal_address).unwrap_or_default();
        let wc = signing::withdrawal_credentials(&wd, false);
        let deposit_data = if v.has_deposit_data() {
            amounts
                .iter()
                .map(|&amount| {
                    let root = signing::deposit_signing_root(&pubkey.0, &wc, amount, fork);
                    DepositRecord {
                        pubkey: pubkey.0.to_vec(),
                        withdrawal_credentials: wc.to_vec(),
                        amount,
                        signature: secret.sign(&root).0.to_vec(),
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let builder_registration = if v.has_registrations() {
            let fee = k1::parse_address(&addrs.fee_recipient_address).unwrap_or_default();
            let gas = if d.target_gas_limit == 0 {
                30_000_000
            } else {
                d.target_gas_limit
            };
            let root =
                signing::registration_signing_root(&fee, gas, net.genesis_time, &pubkey.0, fork);
            BuilderRegistration {
                message: RegistrationMessage {
                    fee_recipient: fee.to_vec(),
                    gas_limit: gas,
                    timestamp: net.genesis_time,
                    pubkey: pubkey.0.to_vec(),
                },
                signature: secret.sign(&root).0.to_vec(),
            }
        } else {
            BuilderRegistration::default()
        };
        dvs.push(DistValidator {
            pubkey: pubkey.0.to_vec(),
            public_shares: node_shares
                .iter()
                .map(|s| s.public_key().0.to_vec())
                .collect(),
            deposit_data,
            builder_registration,
        });
        shares.push(node_shares);
        validator_keys.push(secret);
    }

    let mut lock = Lock {
        definition: d,
        validators: dvs,
        signature_aggregate: Vec::new(),
        signature_aggregate_null: false,
        lock_hash: Vec::new(),
        node_signatures: Vec::new(),
    };
    sign_lock(&mut lock, &shares, &enr_keys)?;
    Ok(SampleCluster {
        lock,
        enr_keys,
        wallet_keys,
        creator_key,
        shares,
        validator_keys,
    })
}
