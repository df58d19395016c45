//! Builder (MEV) validator registrations, as pre-generated into v1.7+ locks.

use crate::frost::bls::{self, PublicKey, SecretKey, Signature};
use crate::lock::eth::consensus::{self, ConsensusError, Root};
pub use crate::lock::eth::consensus::{BuilderRegistration, Registration};

/// Gas limit charon registers when the definition sets none (`target_gas_limit` 0).
pub const DEFAULT_GAS_LIMIT: u64 = 30_000_000;

/// Why a registration could not be signed or verified.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    /// An SSZ root failure (including a fee recipient that is not 20 bytes).
    #[error(transparent)]
    Consensus(#[from] ConsensusError),
    /// A signature that does not verify under the validator pubkey.
    #[error("invalid builder registration signature for validator pubkey 0x{pubkey}: {source}")]
    Signature {
        /// Hex of the registration's pubkey.
        pubkey: String,
        /// The BLS failure.
        source: bls::BlsError,
    },
}

/// The gas limit charon uses for a definition's `target_gas_limit`.
pub fn gas_limit_or_default(target_gas_limit: u64) -> u64 {
    if target_gas_limit == 0 {
        DEFAULT_GAS_LIMIT
    } else {
        target_gas_limit
    }
}

/// The root a registration signature covers:
/// `signing_root(htr(ValidatorRegistrationV1), builder_domain(genesis_fork_version))`.
pub fn registration_signing_root(
    msg: &Registration,
    genesis_fork_version: [u8; 4],
) -> Result<Root, RegistrationError> {
    let object = consensus::registration_root(msg)?;
    let domain = consensus::builder_domain(genesis_fork_version)?;
    Ok(consensus::signing_root(object, domain)?)
}

/// Signs a registration with a (full or share) key.
pub fn sign_registration(
    msg: Registration,
    key: &SecretKey,
    genesis_fork_version: [u8; 4],
) -> Result<BuilderRegistration, RegistrationError> {
    let root = registration_signing_root(&msg, genesis_fork_version)?;
    Ok(BuilderRegistration {
        signature: key.sign(&root).0,
        message: msg,
    })
}

/// Verifies `signature` over `msg` under `pubkey` (which charon takes from the
/// lock's distributed public key, not from the message).
pub fn verify_registration_signature(
    msg: &Registration,
    signature: &[u8; 96],
    pubkey: &[u8; 48],
    genesis_fork_version: [u8; 4],
) -> Result<(), RegistrationError> {
    let sig_err = |source| RegistrationError::Signature {
        pubkey: hex::encode(pubkey),
        source,
    };
    let root = registration_signing_root(msg, genesis_fork_version)?;
    let pk = PublicKey::from_bytes(pubkey).map_err(sig_err)?;
    let sig = Signature::from_bytes(signature).map_err(sig_err)?;
    bls::verify(&pk, &root, &sig).map_err(sig_err)
}

/// Verifies a signed registration under the pubkey in its own message.
pub fn verify_registration(
    reg: &BuilderRegistration,
    genesis_fork_version: [u8; 4],
) -> Result<(), RegistrationError> {
    verify_registration_signature(
        &reg.message,
        &reg.signature,
        &reg.message.pubkey,
        genesis_fork_version,
    )
}
