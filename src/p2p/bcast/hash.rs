//! The bcast hash and the check of a full signature set.

use k256::ecdsa::VerifyingKey;
use sha2::{Digest, Sha256};

use crate::p2p::k1sig::verify65;
use crate::p2p::proto::Any;
use crate::p2p::protocols::Compat;

use super::error::BcastError;

/// The bcast hash of a message. v1.11 binds the session (definition hash) and
/// the message ID with u64 big-endian length prefixes; v1.10 hashes
/// `type_url || value` only.
pub fn hash_any(compat: Compat, session_hash: &[u8], msg_id: &str, any: &Any) -> [u8; 32] {
    let mut h = Sha256::new();
    if compat.session_bound_bcast() {
        for part in [
            session_hash,
            msg_id.as_bytes(),
            any.type_url.as_bytes(),
            &any.value,
        ] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
    } else {
        h.update(any.type_url.as_bytes());
        h.update(&any.value);
    }
    h.finalize().into()
}

/// Verifies a full signature set: exactly one valid 65-byte signature per
/// operator, in operator order.
pub fn verify_signatures(
    peers: &[VerifyingKey],
    hash: &[u8; 32],
    sigs: &[Vec<u8>],
) -> Result<(), BcastError> {
    if sigs.len() != peers.len() {
        return Err(BcastError::SignatureCount {
            got: sigs.len(),
            want: peers.len(),
        });
    }
    for (peer, (key, sig)) in peers.iter().zip(sigs).enumerate() {
        verify65(key, hash, sig).map_err(|source| BcastError::BadSignature { peer, source })?;
    }
    Ok(())
}
