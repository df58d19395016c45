//! secp256k1 signatures as charon's `k1util` makes them: 65-byte
//! `R || S || V` over a 32-byte prehash, plus the libp2p-style DER signature
//! the sync protocol uses. The 65-byte scheme itself lives in [`crate::lock::k1`];
//! this module gives it the p2p key types and errors.

use k256::ecdsa::{Signature, SigningKey, VerifyingKey, signature::Verifier};
use sha2::{Digest, Sha256};

use crate::lock::k1;

/// Length of a `R || S || V` signature.
pub const SIG65_LEN: usize = 65;

/// A secp256k1 signature failed to parse or verify.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum K1Error {
    /// Wrong signature length.
    #[error("invalid signature length {0}, expect 65 bytes [R || S || V] format")]
    Length(usize),
    /// Recovery byte not in {0, 1, 27, 28}.
    #[error("invalid signature recovery byte {0}")]
    RecoveryByte(u8),
    /// R or S out of range, or recovery failed.
    #[error("malformed signature")]
    Malformed,
    /// The signature does not belong to the expected key.
    #[error("invalid signature")]
    Mismatch,
    /// Signing failed.
    #[error("signing failed")]
    Sign,
}

/// Signs a 32-byte hash directly (no further hashing): RFC 6979, low-S,
/// recovery id 0 or 1 in the last byte.
pub fn sign65(key: &SigningKey, hash: &[u8; 32]) -> Result<[u8; SIG65_LEN], K1Error> {
    k1::sign65_with_key(key, hash).map_err(|_| K1Error::Sign)
}

/// Recovers the signer of a 65-byte signature over a 32-byte hash. Accepts the
/// recovery bytes Go accepts (0, 1, 27, 28) and high-S signatures.
pub fn recover65(hash: &[u8; 32], sig: &[u8]) -> Result<VerifyingKey, K1Error> {
    k1::recover65(hash, sig)
        .map(|pk| VerifyingKey::from(&pk))
        .map_err(|e| match e {
            k1::K1Error::SignatureLength(n, _) => K1Error::Length(n),
            k1::K1Error::RecoveryId(v) => K1Error::RecoveryByte(v),
            _ => K1Error::Malformed,
        })
}

/// Verifies that `sig` over `hash` was made by `expected`.
pub fn verify65(expected: &VerifyingKey, hash: &[u8; 32], sig: &[u8]) -> Result<(), K1Error> {
    if recover65(hash, sig)? == *expected {
        Ok(())
    } else {
        Err(K1Error::Mismatch)
    }
}

/// libp2p secp256k1 signature: DER ECDSA over `sha256(data)`.
pub fn sign_der(key: &SigningKey, data: &[u8]) -> Result<Vec<u8>, K1Error> {
    let digest: [u8; 32] = Sha256::digest(data).into();
    let (sig, _) = key.sign_prehash_recoverable(&digest);
    Ok(sig.to_der().as_bytes().to_vec())
}

/// Verifies a libp2p secp256k1 DER signature over `sha256(data)`. High-S
/// values are accepted, as Go's verifier does.
pub fn verify_der(key: &VerifyingKey, data: &[u8], der: &[u8]) -> Result<(), K1Error> {
    let sig = Signature::from_der(der).map_err(|_| K1Error::Malformed)?;
    let sig = sig.normalize_s();
    key.verify(data, &sig).map_err(|_| K1Error::Mismatch)
}
