//! Verification of definitions and locks, equal to charon v1.11's
//! `VerifyHashes` + `VerifySignatures` (in the same order, with charon's error
//! texts as check names), plus deposit-data signatures, which charon skips.
//!
//! A signature that is not a valid EOA signature may still be a contract
//! wallet's (ERC-1271, e.g. a Safe). The plain functions reject it, as charon
//! does without an execution client; the `_deferred` ones return it for the
//! caller to ask the contract, so this module stays offline. With deferral,
//! a contract signature's verdict comes after the file's other checks, so a
//! file with several faults may be reported for a different one than charon
//! reports (it is rejected either way).

mod context;
mod deposits;
mod entry;
mod hashes;
mod registrations;
mod shares;
mod signatures;

pub use context::{MAX_VERIFIED_OPERATORS, VerifyOptions};
pub use entry::{
    verify_definition, verify_definition_deferred, verify_definition_hashes,
    verify_definition_signatures, verify_definition_signatures_deferred, verify_lock,
    verify_lock_deferred, verify_lock_hashes,
};
