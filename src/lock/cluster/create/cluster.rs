//! The definition and lock of a new cluster, and each node's directory.

use std::path::{Path, PathBuf};

use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::lock::cluster::create::keys::{
    NodeSecrets, generate_key_material, lock_registration, node_signatures, random_enr_key,
    signature_aggregate,
};
use crate::lock::cluster::create::options::{CreateError, CreateOptions, check_options, pick};
use crate::lock::cluster::definition::{
    Creator, Definition, Operator, ValidatorAddresses, address_fields,
};
use crate::lock::cluster::lockfile::{DepositRecord, DistValidator, Lock};
use crate::lock::eth::deposit::{self};
use crate::lock::eth::registration::{self};
use crate::lock::identity::enr::Enr;
use crate::lock::identity::k1::{self, K1Secret};
use crate::lock::keystore::files::{self as keystore, WriteOptions};

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
    let (address_list, legacy_addresses) = address_fields(v, &addresses);
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
        validators: address_list,
        legacy_addresses,
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
/// (it passes [`crate::lock::cluster::verify::verify_lock`]) and each node's secrets.
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
            deposit_data: m.deposits.iter().map(DepositRecord::from).collect(),
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
    let network = crate::lock::eth::network::NetworkSet::WITH_HOLESKY
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

pub(super) fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CreateError> {
    crate::lock::newfile::write_new_file(path, bytes, mode).map_err(|(action, source)| {
        CreateError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    })
}
