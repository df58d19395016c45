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

pub mod consensus;
pub mod contract;
pub mod create;
pub mod datadir;
pub mod definition;
pub mod deposit;
pub mod eip712;
pub mod enr;
pub mod error;
mod hash;
pub mod json;
pub mod k1;
pub mod keystore;
pub mod lockfile;
pub mod network;
mod parallel;
pub mod pbkdf2;
pub mod registration;
pub mod sample;
mod sha256_lanes;
pub mod signing;
pub mod ssz;
pub mod verify;
pub mod version;

pub use contract::{ContractSignature, PendingContractSignatures};
pub use definition::{Creator, Definition, Operator, ValidatorAddresses};
pub use error::{HashError, ParseError, Subject, VerifyError};
pub use lockfile::{BuilderRegistration, DepositData, DistValidator, Lock, RegistrationMessage};
pub use verify::{VerifyOptions, verify_definition, verify_lock};
pub use version::Version;
