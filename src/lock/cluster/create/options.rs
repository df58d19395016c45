//! What to create, its checks, and why creating can fail.

use std::path::PathBuf;

use crate::frost::bls::BlsError;
use crate::lock::cluster::error::HashError;
use crate::lock::cluster::version::Version;
use crate::lock::eth::deposit::{self, DepositError};
use crate::lock::eth::network::Network;
use crate::lock::eth::registration::RegistrationError;
use crate::lock::keystore::format::KeystoreError;

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

pub(super) fn pick<'a>(
    list: &'a [[u8; 20]],
    i: usize,
    what: &str,
) -> Result<&'a [u8; 20], CreateError> {
    match list {
        [one] => Ok(one),
        many => many.get(i).ok_or_else(|| {
            CreateError::Params(format!(
                "{what}: give one address or one per validator (missing validator {i})"
            ))
        }),
    }
}

/// Most validators one cluster may be created with: the SSZ list limit of
/// charon's definition hash, so any definition charon can hash can be created.
/// Every p2p message bound is derived from the definition's own count; the cap
/// keeps an absurd count from aborting the process on allocation.
pub const MAX_VALIDATORS: usize = crate::lock::cluster::hash::MAX_VALIDATORS as usize;

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
pub(super) fn signed_amounts(o: &CreateOptions) -> Vec<u64> {
    deposit::ceremony_deposit_amounts(
        &o.deposit_amounts,
        o.compounding,
        o.version.has_partial_deposits(),
    )
}
