//! secp256k1 signatures as charon's `k1util` makes them: 65-byte
//! `R || S || V` over a 32-byte prehash, plus the libp2p-style DER signature
//! the sync protocol uses.
//!
//! DEDUP: `lock::k1` (owned by the `lock` helper) covers the same 65-byte
//! scheme for node signatures in lock files; merge once both have landed.

use k256::ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey, signature::Verifier};
use sha2::{Digest, Sha256};

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
    let (sig, recid) = key
        .sign_prehash_recoverable(hash)
        .map_err(|_| K1Error::Sign)?;
    let mut out = [0u8; SIG65_LEN];
    out[..64].copy_from_slice(&sig.to_bytes());
    out[64] = recid.to_byte();
    Ok(out)
}

/// Recovers the signer of a 65-byte signature over a 32-byte hash. Accepts the
/// recovery bytes Go accepts (0, 1, 27, 28) and high-S signatures.
pub fn recover65(hash: &[u8; 32], sig: &[u8]) -> Result<VerifyingKey, K1Error> {
    let bytes: &[u8; SIG65_LEN] = sig.try_into().map_err(|_| K1Error::Length(sig.len()))?;
    let (rs, v) = bytes.split_at(64);
    let v = v.first().copied().unwrap_or_default();
    let y_odd = match v {
        0 | 27 => false,
        1 | 28 => true,
        other => return Err(K1Error::RecoveryByte(other)),
    };
    let mut signature = Signature::from_slice(rs).map_err(|_| K1Error::Malformed)?;
    let mut y_odd = y_odd;
    // k256 only accepts low-S; negating S flips the parity of R's y, which
    // yields the same public key.
    if let Some(normalized) = signature.normalize_s() {
        signature = normalized;
        y_odd = !y_odd;
    }
    let recid = RecoveryId::new(y_odd, false);
    VerifyingKey::recover_from_prehash(hash, &signature, recid).map_err(|_| K1Error::Malformed)
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
    let (sig, _) = key
        .sign_prehash_recoverable(&digest)
        .map_err(|_| K1Error::Sign)?;
    Ok(sig.to_der().as_bytes().to_vec())
}

/// Verifies a libp2p secp256k1 DER signature over `sha256(data)`. High-S
/// values are accepted, as Go's verifier does.
pub fn verify_der(key: &VerifyingKey, data: &[u8], der: &[u8]) -> Result<(), K1Error> {
    let sig = Signature::from_der(der).map_err(|_| K1Error::Malformed)?;
    let sig = sig.normalize_s().unwrap_or(sig);
    key.verify(data, &sig).map_err(|_| K1Error::Mismatch)
}
