//! BLS signatures on BLS12-381 (public keys in G1, signatures in G2) with the
//! Ethereum proof-of-possession ciphersuite, as herumi's Ethereum mode uses.
//!
//! `keys` holds the key, signature and prepared-input types and signing,
//! `verify` single, aggregate and batch verification, and `threshold`
//! interpolation of shares and the verify-and-combine of partial signatures.

mod error;
mod keys;
mod threshold;
mod verify;

#[cfg(test)]
mod tests;

pub use error::BlsError;
pub use keys::{DST_POP, HashedMessage, PreparedKey, PublicKey, SecretKey, Signature};
pub use threshold::{
    Merge, PartialSet, combine_public_shares, threshold_combine, verify_and_combine,
};
pub use verify::{BatchItem, aggregate, fast_aggregate_verify, verify, verify_batch};
