//! The public entry points: which checks run, in charon's order.

use crate::lock::cluster::contract::PendingContractSignatures;
use crate::lock::cluster::definition::Definition;
use crate::lock::cluster::error::VerifyError;
use crate::lock::cluster::lockfile::Lock;
use crate::lock::cluster::verify::context::{ContractPolicy, Ctx, VerifyOptions};
use crate::lock::cluster::verify::deposits::deposits;
use crate::lock::cluster::verify::hashes::{definition_hashes, lock_hashes};
use crate::lock::cluster::verify::shares::lock_signatures;
use crate::lock::cluster::verify::signatures::definition_signatures;

/// Verifies a definition: hashes, then EIP-712 signatures. A signature that
/// is not a valid EOA signature is rejected, as charon does without an
/// execution client.
pub fn verify_definition(d: &Definition, opts: &VerifyOptions) -> Result<(), VerifyError> {
    let cx = Ctx { kind: "definition" };
    definition_hashes(cx, d)?;
    definition_signatures(cx, d, opts, &mut ContractPolicy::Reject)
}

/// [`verify_definition`] for a caller that has an execution client: the
/// signatures only a contract wallet can vouch for are returned instead of
/// rejected, to be checked through ERC-1271 before the file is accepted.
pub fn verify_definition_deferred(
    d: &Definition,
    opts: &VerifyOptions,
) -> Result<PendingContractSignatures, VerifyError> {
    let cx = Ctx { kind: "definition" };
    definition_hashes(cx, d)?;
    let mut pending = Vec::new();
    definition_signatures(cx, d, opts, &mut ContractPolicy::Defer(&mut pending))?;
    Ok(PendingContractSignatures(pending))
}

/// Verifies only a definition's `config_hash` and `definition_hash`.
pub fn verify_definition_hashes(d: &Definition) -> Result<(), VerifyError> {
    definition_hashes(Ctx { kind: "definition" }, d)
}

/// Verifies only a definition's operator and creator signatures.
pub fn verify_definition_signatures(
    d: &Definition,
    opts: &VerifyOptions,
) -> Result<(), VerifyError> {
    definition_signatures(
        Ctx { kind: "definition" },
        d,
        opts,
        &mut ContractPolicy::Reject,
    )
}

/// [`verify_definition_signatures`], returning contract-wallet signatures
/// instead of rejecting them (see [`verify_definition_deferred`]).
pub fn verify_definition_signatures_deferred(
    d: &Definition,
    opts: &VerifyOptions,
) -> Result<PendingContractSignatures, VerifyError> {
    let mut pending = Vec::new();
    definition_signatures(
        Ctx { kind: "definition" },
        d,
        opts,
        &mut ContractPolicy::Defer(&mut pending),
    )?;
    Ok(PendingContractSignatures(pending))
}

/// Verifies a lock as charon's `LoadClusterLock` does, then (if enabled) its
/// deposit data.
pub fn verify_lock(l: &Lock, opts: &VerifyOptions) -> Result<(), VerifyError> {
    lock_all(l, opts, &mut ContractPolicy::Reject)
}

/// [`verify_lock`], returning the definition's contract-wallet signatures
/// instead of rejecting them (see [`verify_definition_deferred`]); every
/// other check of the lock has passed when it returns `Ok`.
pub fn verify_lock_deferred(
    l: &Lock,
    opts: &VerifyOptions,
) -> Result<PendingContractSignatures, VerifyError> {
    let mut pending = Vec::new();
    lock_all(l, opts, &mut ContractPolicy::Defer(&mut pending))?;
    Ok(PendingContractSignatures(pending))
}

pub(super) fn lock_all(
    l: &Lock,
    opts: &VerifyOptions,
    policy: &mut ContractPolicy<'_>,
) -> Result<(), VerifyError> {
    let cx = Ctx { kind: "lock" };
    lock_hashes(cx, l)?;
    lock_signatures(cx, l, opts, policy)?;
    if opts.check_deposits {
        deposits(cx, l)?;
    }
    Ok(())
}

/// Verifies only a lock's hashes and validator count.
pub fn verify_lock_hashes(l: &Lock) -> Result<(), VerifyError> {
    lock_hashes(Ctx { kind: "lock" }, l)
}
