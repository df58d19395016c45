//! A `charon create cluster`-like generator: random validator secrets,
//! Shamir-split into one share per node (share ids 1..n), deposits per amount
//! and builder registrations signed with the full keys, a complete signed
//! lock, and the per-node files (`nodeN/{charon-enr-private-key,
//! cluster-lock.json, deposit-data*.json, validator_keys/}`).
//!
//! Operators and creator are left unsigned, as `charon create cluster` does.

mod cluster;
mod keys;
mod options;
#[cfg(test)]
mod tests;

pub use cluster::{create_cluster, new_definition, write_cluster};
pub use keys::{
    NodeSecrets, ValidatorMaterial, generate_key_material, node_signatures, signature_aggregate,
    split_secret,
};
pub use options::{CreateError, CreateOptions, MAX_VALIDATORS, check_options, default_threshold};
