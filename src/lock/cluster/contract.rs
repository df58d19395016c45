//! Definition signatures that only a smart-contract wallet can vouch for.
//!
//! An EIP-712 signature in a definition is either an EOA signature, which
//! recovers offline to its signer's address, or possibly an ERC-1271
//! signature of a contract wallet such as a Safe: only the contract, asked
//! through an execution client, can say whether it accepts it. This module
//! only describes such signatures; asking is the caller's business, so that
//! `lock` never touches the network.

use std::fmt;

use crate::lock::cluster::error::{Subject, VerifyError};
use crate::lock::identity::k1;

/// The flag (and, upper-cased with a `CHARON_` prefix, the environment
/// variable) that names an execution client; errors point users to it.
pub const EXECUTION_CLIENT_FLAG: &str = "--execution-client-rpc-endpoint";

/// Which of a definition's EIP-712 signatures a contract must vouch for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureRole {
    /// The creator's signature over the config hash.
    CreatorConfig,
    /// An operator's signature over the config hash.
    OperatorConfig,
    /// An operator's signature over its ENR.
    OperatorEnr,
}

impl SignatureRole {
    /// charon's error text when this signature is not valid, so a rejection
    /// reads the same whether or not an execution client was asked.
    pub fn invalid_check(self) -> &'static str {
        match self {
            SignatureRole::CreatorConfig => "invalid creator config signature",
            SignatureRole::OperatorConfig => "invalid operator config signature",
            SignatureRole::OperatorEnr => "invalid operator enr signature",
        }
    }
}

impl fmt::Display for SignatureRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureRole::CreatorConfig => "creator config signature",
            SignatureRole::OperatorConfig => "operator config signature",
            SignatureRole::OperatorEnr => "operator enr signature",
        })
    }
}

/// A signature that is not a valid EOA signature by its signer and is
/// accepted only if the signer's contract says so (ERC-1271
/// `isValidSignature(digest, signature)`), as charon does when it has an
/// execution client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractSignature {
    /// `"definition"` or `"lock"`: the file the rejection is reported for.
    pub kind: &'static str,
    /// Which signature it is.
    pub role: SignatureRole,
    /// The operator or the creator it belongs to.
    pub subject: Subject,
    /// The signer's address: the contract to ask.
    pub signer: [u8; 20],
    /// The EIP-712 digest that was signed (the `hash` argument).
    pub digest: [u8; 32],
    /// The signature exactly as in the file.
    pub signature: Vec<u8>,
    /// Why it is not an EOA signature by the signer, for the rejection.
    pub not_eoa: String,
}

impl ContractSignature {
    /// The signer as an EIP-55 address.
    pub fn signer_hex(&self) -> String {
        k1::checksum_address(&self.signer)
    }

    /// The rejection to report when the contract does not accept the
    /// signature; `why` says what the contract (or the endpoint) answered.
    pub fn rejected(&self, why: impl fmt::Display) -> VerifyError {
        VerifyError::new(self.kind, self.role.invalid_check(), self.subject).with(format!(
            "{}; the contract at {} does not accept it (ERC-1271): {why}",
            self.not_eoa,
            self.signer_hex()
        ))
    }
}

impl fmt::Display for ContractSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{} by {}", self.role, self.subject, self.signer_hex())
    }
}

/// Contract-wallet signatures a verification left open. Everything else in
/// the file has been checked; the file is valid only once the contract of
/// every one of them accepts it.
#[must_use = "the file is not verified until every contract-wallet signature is checked (ERC-1271)"]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingContractSignatures(pub(crate) Vec<ContractSignature>);

impl PendingContractSignatures {
    /// Whether nothing is left to check (every signature was an EOA's).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many signatures are left to check.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The signatures, in the order charon checks them.
    pub fn iter(&self) -> std::slice::Iter<'_, ContractSignature> {
        self.0.iter()
    }

    /// The signatures, in the order charon checks them.
    pub fn into_vec(self) -> Vec<ContractSignature> {
        self.0
    }
}

/// The advice added to a rejection when no execution client was given.
pub(crate) fn hint(address: &str) -> String {
    let who = if address.is_empty() {
        "the signer (no address given)".to_string()
    } else {
        address.to_string()
    };
    format!(
        "if {who} is a smart-contract wallet (e.g. a Safe), pass {EXECUTION_CLIENT_FLAG} so its signature can be checked (ERC-1271)"
    )
}
