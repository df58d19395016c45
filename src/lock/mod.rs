//! Charon's file formats: cluster definitions and locks of every version, their
//! SSZ hashes, signatures (EIP-712, ENR, k1, BLS), deposit data, builder
//! registrations, EIP-2335 keystores, and verification.
//!
//! Reading and writing: [`Definition::from_json`] / [`Definition::to_json`] and
//! [`Lock::from_json`] / [`Lock::to_json`] read like Go's `encoding/json` and
//! write charon's exact bytes (hashes recomputed). Hashes:
//! [`Definition::config_hash`], [`Definition::definition_hash`],
//! [`Lock::lock_hash`]. Verification: [`verify_definition`] and [`verify_lock`]
//! with [`VerifyOptions`] (charon's checks plus deposits by default), and
//! [`datadir::verify_data_dir`] for a node's outputs.
//!
//! Layout, by concern:
//! - [`cluster`]: the cluster files (definition, lock), their JSON, SSZ hashes
//!   and EIP-712 digests, verification, generation and a node's data dir;
//! - [`eth`]: Ethereum consensus objects: containers and domains, deposits,
//!   builder registrations, networks;
//! - [`keystore`]: EIP-2335 keystores and their PBKDF2 (with SIMD lanes);
//! - [`identity`]: operator identities: secp256k1 keys and ENRs.
//!
//! The flat paths (`lock::deposit`, `lock::enr`, ...) are kept as re-exports.

pub mod cluster;
pub mod eth;
pub mod identity;
pub mod keystore;
mod newfile;
mod parallel;

pub use cluster::{
    contract, create, datadir, definition, eip712, error, json, lockfile, sample, ssz, verify,
    version,
};
pub use eth::{consensus, deposit, network, registration, signing};
pub use identity::{enr, k1};
pub use keystore::pbkdf2;

pub use contract::{ContractSignature, PendingContractSignatures};
pub use definition::{Creator, Definition, Operator, ValidatorAddresses};
pub use error::{HashError, ParseError, Subject, VerifyError};
pub use lockfile::{BuilderRegistration, DepositRecord, DistValidator, Lock, RegistrationMessage};
pub use verify::{VerifyOptions, verify_definition, verify_lock};
pub use version::Version;
