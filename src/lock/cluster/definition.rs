//! The cluster definition (`cluster-definition.json`) of every version: the
//! model and reading it as charon does. Its hashes are in `hash`, charon's
//! bytes for it in `write`.

use crate::lock::cluster::error::ParseError;
use crate::lock::cluster::json::{self, Obj};
use crate::lock::cluster::version::Version;

/// One gwei-denominated ETH.
pub const ONE_ETH_GWEI: u64 = 1_000_000_000;

/// One operator of a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Operator {
    /// Ethereum address, kept verbatim (case preserved); `""` when unsigned.
    pub address: String,
    /// The operator's ENR, verbatim.
    pub enr: String,
    /// EIP-712 signature of the config hash (65 bytes, or N×65 for a Safe in v1.11).
    pub config_signature: Vec<u8>,
    /// EIP-712 signature of the ENR.
    pub enr_signature: Vec<u8>,
    /// v1.0/v1.1 only: the config signature was JSON `null` (written back as `null`).
    pub config_signature_null: bool,
    /// v1.0/v1.1 only: the ENR signature was JSON `null` (written back as `null`).
    pub enr_signature_null: bool,
}

/// The creator of a cluster definition (v1.4+).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Creator {
    /// Ethereum address, verbatim; `""` when unsigned.
    pub address: String,
    /// EIP-712 signature of the config hash.
    pub config_signature: Vec<u8>,
}

/// Fee recipient and withdrawal address of one validator, verbatim `0x` hex.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidatorAddresses {
    /// 20-byte fee recipient address.
    pub fee_recipient_address: String,
    /// 20-byte withdrawal address.
    pub withdrawal_address: String,
}

/// The `(validators, legacy_addresses)` fields of a `version` definition
/// whose validators use `addresses`: the per-validator list from v1.5, only
/// the first pair before (the inverse of [`Definition::validator_addresses`]).
pub(crate) fn address_fields(
    version: Version,
    addresses: &[ValidatorAddresses],
) -> (Vec<ValidatorAddresses>, ValidatorAddresses) {
    if version.has_validator_list() {
        (addresses.to_vec(), ValidatorAddresses::default())
    } else {
        (Vec::new(), addresses.first().cloned().unwrap_or_default())
    }
}

/// A cluster definition of any version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// Format version.
    pub version: Version,
    /// Cluster name (may be empty).
    pub name: String,
    /// Opaque UUID string (≤ 64 bytes from v1.3).
    pub uuid: String,
    /// Opaque timestamp string (≤ 32 bytes from v1.3).
    pub timestamp: String,
    /// Number of distributed validators.
    pub num_validators: u64,
    /// Signature threshold.
    pub threshold: u64,
    /// `"default"`, `"frost"` or `"pedersen"`.
    pub dkg_algorithm: String,
    /// Genesis fork version (4 bytes when valid).
    pub fork_version: Vec<u8>,
    /// Operators in order; operator `i` holds share index `i + 1`.
    pub operators: Vec<Operator>,
    /// Creator (v1.4+; empty before).
    pub creator: Creator,
    /// Per-validator addresses (v1.5+; empty before, see `legacy_addresses`).
    pub validators: Vec<ValidatorAddresses>,
    /// The single address pair every validator shares (v1.0–v1.4 only).
    pub legacy_addresses: ValidatorAddresses,
    /// Partial deposit amounts in gwei (v1.8+); `None` is JSON `null`.
    pub deposit_amounts: Option<Vec<u64>>,
    /// Consensus protocol name (v1.9+).
    pub consensus_protocol: String,
    /// Target gas limit for builder registrations (v1.10+).
    pub target_gas_limit: u64,
    /// Compounding (0x02) withdrawal credentials (v1.10+).
    pub compounding: bool,
    /// The config hash as stored in the file.
    pub config_hash: Vec<u8>,
    /// The definition hash as stored in the file.
    pub definition_hash: Vec<u8>,
}

impl Definition {
    /// Reads a `cluster-definition.json` as charon does (lenient JSON, per-version
    /// layout, read-time checks). Hashes are not checked here.
    pub fn from_json(bytes: &[u8]) -> Result<Definition, ParseError> {
        let v = json::parse(bytes)?;
        let obj = Obj::new(&v, "")?;
        Definition::from_obj(&obj)
    }

    pub(crate) fn from_obj(o: &Obj<'_>) -> Result<Definition, ParseError> {
        let vs = o.string("version")?;
        let version = Version::parse(&vs).ok_or(ParseError::UnsupportedVersion(vs))?;
        let b64 = version.uses_base64();

        let mut operators = Vec::new();
        for f in o.array("operators")?.unwrap_or_default() {
            let op = f.object()?;
            let mut out = Operator {
                address: op.string("address")?,
                enr: op.string("enr")?,
                ..Operator::default()
            };
            if b64 {
                if op.uint("nonce")? != 0 {
                    return Err(ParseError::Rule(format!(
                        "{}: non-zero operator nonce not supported",
                        op.path
                    )));
                }
                (out.config_signature, out.config_signature_null) =
                    op.base64("config_signature")?;
                (out.enr_signature, out.enr_signature_null) = op.base64("enr_signature")?;
            } else {
                out.config_signature = op.hex("config_signature")?;
                out.enr_signature = op.hex("enr_signature")?;
            }
            operators.push(out);
        }

        let creator = if version.has_creator() {
            let c = o.object("creator")?;
            Creator {
                address: c.string("address")?,
                config_signature: c.hex("config_signature")?,
            }
        } else {
            Creator::default()
        };

        let num_validators = o.uint("num_validators")?;
        let mut validators = Vec::new();
        let mut legacy_addresses = ValidatorAddresses::default();
        if version.has_validator_list() {
            for f in o.array("validators")?.unwrap_or_default() {
                let v = f.object()?;
                validators.push(ValidatorAddresses {
                    fee_recipient_address: v.string("fee_recipient_address")?,
                    withdrawal_address: v.string("withdrawal_address")?,
                });
            }
            if validators.len() as u64 != num_validators {
                return Err(ParseError::Rule(
                    "num_validators does not match validators length".into(),
                ));
            }
        } else {
            legacy_addresses = ValidatorAddresses {
                fee_recipient_address: o.string("fee_recipient_address")?,
                withdrawal_address: o.string("withdrawal_address")?,
            };
        }

        let fork_version = if b64 {
            let s = o.string("fork_version")?;
            crate::lock::cluster::ssz::from_0x_hex(&s, 4)
                .map_err(|e| ParseError::field("fork_version", e))?
        } else {
            o.hex("fork_version")?
        };

        let deposit_amounts = if version.has_partial_deposits() {
            match o.array("deposit_amounts")? {
                None => None,
                Some(items) => Some(
                    items
                        .iter()
                        .map(|f| f.quoted_uint())
                        .collect::<Result<Vec<_>, _>>()?,
                ),
            }
        } else {
            None
        };

        let (target_gas_limit, compounding) = if version.has_gas_limit_and_compounding() {
            (o.uint("target_gas_limit")?, o.boolean("compounding")?)
        } else {
            (0, false)
        };

        if let Some(amounts) = &deposit_amounts {
            verify_deposit_amounts(amounts, compounding)
                .map_err(|e| ParseError::Rule(format!("invalid deposit amounts: {e}")))?;
        }

        let (config_hash, definition_hash) = if b64 {
            (o.base64("config_hash")?.0, o.base64("definition_hash")?.0)
        } else {
            (o.hex("config_hash")?, o.hex("definition_hash")?)
        };

        Ok(Definition {
            version,
            name: o.string("name")?,
            uuid: o.string("uuid")?,
            timestamp: o.string("timestamp")?,
            num_validators,
            threshold: o.uint("threshold")?,
            dkg_algorithm: o.string("dkg_algorithm")?,
            fork_version,
            operators,
            creator,
            validators,
            legacy_addresses,
            deposit_amounts,
            consensus_protocol: if version.has_consensus_protocol() {
                o.string("consensus_protocol")?
            } else {
                String::new()
            },
            target_gas_limit,
            compounding,
            config_hash,
            definition_hash,
        })
    }

    /// The address pair every validator of a v1.0–v1.4 definition uses; empty
    /// when there are no validators (charon expands the pair per validator).
    pub(crate) fn effective_legacy_addresses(&self) -> ValidatorAddresses {
        if self.num_validators == 0 {
            ValidatorAddresses::default()
        } else {
            self.legacy_addresses.clone()
        }
    }

    /// The addresses of validator `i`, for any version.
    pub fn validator_addresses(&self, i: usize) -> Option<&ValidatorAddresses> {
        if self.version.has_validator_list() {
            self.validators.get(i)
        } else if (i as u64) < self.num_validators {
            Some(&self.legacy_addresses)
        } else {
            None
        }
    }
}

/// charon `deposit.VerifyDepositAmounts`: each amount in [1 ETH, 32 ETH] (2048 ETH
/// when compounding) and a sum of at least 32 ETH; an empty list is fine.
pub fn verify_deposit_amounts(amounts: &[u64], compounding: bool) -> Result<(), String> {
    if amounts.is_empty() {
        return Ok(());
    }
    let max = if compounding { 2048 } else { 32 } * ONE_ETH_GWEI;
    let mut sum: u64 = 0;
    for (i, &a) in amounts.iter().enumerate() {
        if a < ONE_ETH_GWEI {
            return Err(format!(
                "deposit amount {i} ({a} gwei) must be at least 1 ETH"
            ));
        }
        if a > max {
            return Err(format!(
                "deposit amount {i} ({a} gwei) is above the maximum of {max} gwei{}",
                if compounding {
                    ""
                } else {
                    " (only compounding validators may deposit more than 32 ETH)"
                }
            ));
        }
        sum = sum.saturating_add(a);
    }
    if sum < 32 * ONE_ETH_GWEI {
        return Err(format!(
            "sum of deposit amounts ({sum} gwei) must be at least 32 ETH"
        ));
    }
    Ok(())
}
