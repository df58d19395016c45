//! What every verification step shares: the options, the error context of
//! one file kind, what to do with contract-wallet signatures, and the batch
//! that verifies collected BLS signatures at once.

use crate::frost::bls::{self, PublicKey, Signature};
use crate::lock::cluster::contract::ContractSignature;
use crate::lock::cluster::error::{Subject, VerifyError};
use crate::lock::eth::network::NetworkSet;

/// Most operators a lock may have for its shares to be checked.
pub const MAX_VERIFIED_OPERATORS: usize = 1024;

/// What to verify and against which networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Networks whose fork versions are known (holesky only if allowed).
    pub networks: NetworkSet,
    /// Also verify deposit-data signatures and contents (charon does not).
    pub check_deposits: bool,
    /// Verify the builder registrations' BLS signatures (charon does). Their
    /// structure is checked either way; a DKG node that combined them from
    /// partials it verified may skip the pairings.
    pub registration_signatures: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            networks: NetworkSet::DEFAULT,
            check_deposits: true,
            registration_signatures: true,
        }
    }
}

impl VerifyOptions {
    /// charon v1.11's exact checks: default networks, no deposit checks.
    pub const CHARON: VerifyOptions = VerifyOptions {
        networks: NetworkSet::DEFAULT,
        check_deposits: false,
        registration_signatures: true,
    };
}

/// Builds errors for one kind of file.
#[derive(Clone, Copy)]
pub(super) struct Ctx {
    pub(super) kind: &'static str,
}

impl Ctx {
    pub(super) fn err(self, check: &'static str, subject: Subject) -> VerifyError {
        VerifyError::new(self.kind, check, subject)
    }
}

pub(super) fn show_hex(b: &[u8]) -> String {
    if b.is_empty() {
        "nothing".into()
    } else {
        format!("0x{}", hex::encode(b))
    }
}

/// What to do with a signature that is not a valid EOA signature by its
/// signer (charon's `verifySigOrERC1271`).
pub(super) enum ContractPolicy<'a> {
    /// No execution client: reject it, as charon does without one.
    Reject,
    /// Collect it for the caller to check through ERC-1271, as charon does
    /// with an execution client.
    Defer(&'a mut Vec<ContractSignature>),
}

/// A 48-byte key whose point encoding is checked later (by the batch).
pub(super) fn raw_pubkey(b: &[u8]) -> Option<PublicKey> {
    b.try_into().ok().map(PublicKey)
}

/// A 96-byte signature whose point encoding is checked later (by the batch).
pub(super) fn raw_signature(b: &[u8]) -> Option<Signature> {
    b.try_into().ok().map(Signature)
}

/// BLS signatures collected for one batched verification, each with the error
/// to report if it is the first bad one.
#[derive(Default)]
pub(super) struct Batch {
    items: Vec<(PublicKey, [u8; 32], Signature, VerifyError)>,
}

impl Batch {
    /// Collects with `items` (which stops at the first structural error),
    /// then verifies what it collected: see [`Batch::finish`].
    pub(super) fn run(
        items: impl FnOnce(&mut Batch) -> Result<(), VerifyError>,
    ) -> Result<(), VerifyError> {
        let mut batch = Batch::default();
        let structural = items(&mut batch);
        batch.finish(structural)
    }

    pub(super) fn push(&mut self, pk: PublicKey, msg: [u8; 32], sig: Signature, err: VerifyError) {
        self.items.push((pk, msg, sig, err));
    }

    /// Verifies the collected signatures (all made before `structural`
    /// stopped the scan), reporting the first bad one before `structural`.
    pub(super) fn finish(self, structural: Result<(), VerifyError>) -> Result<(), VerifyError> {
        let items: Vec<bls::BatchItem<'_>> = self
            .items
            .iter()
            .map(|(pk, msg, sig, _)| bls::BatchItem {
                public_key: pk,
                msg,
                signature: sig,
            })
            .collect();
        match bls::verify_batch(&items, &mut rand::thread_rng()) {
            Ok(()) => structural,
            Err(
                bls::BlsError::ItemVerify { position }
                | bls::BlsError::ItemEncoding { position, .. },
            ) => Err(self
                .items
                .get(position)
                .map(|(_, _, _, e)| e.clone())
                .unwrap_or_else(|| VerifyError::new("lock", "signature batch", Subject::File))),
            Err(e) => Err(self
                .items
                .first()
                .map(|(_, _, _, err)| err.clone().with(e.to_string()))
                .unwrap_or_else(|| VerifyError::new("lock", "signature batch", Subject::File))),
        }
    }
}
