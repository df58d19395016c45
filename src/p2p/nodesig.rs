//! Node signatures (step 5): every node bcasts its 65-byte secp256k1
//! signature over the lock hash under `/charon/dkg/node_sig`. A signature may
//! arrive before we know our own lock hash, so received messages are kept
//! unverified and checked once the hash is known.

use k256::ecdsa::{SigningKey, VerifyingKey};

use super::collect::Collector;
use super::k1sig::{K1Error, sign65, verify65};
use super::proto::dkgpb::MsgNodeSig;

/// The "no signature" sentinel used by operator-removal ceremonies.
pub const NO_SIGNATURE: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];

/// A node signature was refused; names the operator.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NodeSigError {
    /// `peer_index` out of range or our own.
    #[error("invalid peer index {index} in node signature from operator {sender}")]
    InvalidPeerIndex {
        /// Sending operator.
        sender: usize,
        /// Claimed index.
        index: u32,
    },
    /// `peer_index` names another operator than the sender.
    #[error("sender peer ID does not match claimed peer index: operator {sender} claimed {index}")]
    SenderMismatch {
        /// Sending operator.
        sender: usize,
        /// Claimed index.
        index: u32,
    },
    /// Signature does not verify under the operator's ENR key.
    #[error("invalid node signature from operator {sender}: {source}")]
    BadSignature {
        /// Sending operator.
        sender: usize,
        /// Why.
        source: K1Error,
    },
    /// Signing our own failed.
    #[error("signing lock hash: {0}")]
    Sign(K1Error),
}

/// Our node-signature message.
pub fn build(
    key: &SigningKey,
    lock_hash: &[u8; 32],
    own: usize,
) -> Result<MsgNodeSig, NodeSigError> {
    let sig = sign65(key, lock_hash).map_err(NodeSigError::Sign)?;
    Ok(MsgNodeSig {
        signature: sig.to_vec(),
        peer_index: own as u32,
    })
}

/// Checks the claimed index against the sender (no signature check yet).
pub fn check_index(
    msg: &MsgNodeSig,
    sender: usize,
    own: usize,
    n: usize,
) -> Result<(), NodeSigError> {
    let index = msg.peer_index;
    let idx = usize::try_from(index).unwrap_or(usize::MAX);
    if idx >= n || idx == own {
        return Err(NodeSigError::InvalidPeerIndex { sender, index });
    }
    if idx != sender {
        return Err(NodeSigError::SenderMismatch { sender, index });
    }
    Ok(())
}

/// Verifies a node signature over the lock hash.
pub fn verify(
    key: &VerifyingKey,
    lock_hash: &[u8; 32],
    sig: &[u8],
    sender: usize,
) -> Result<(), NodeSigError> {
    verify65(key, lock_hash, sig).map_err(|source| NodeSigError::BadSignature { sender, source })
}

/// Collects node signatures from every operator, accepting them at any time.
#[derive(Debug)]
pub struct NodeSigs {
    own: usize,
    peers: Vec<VerifyingKey>,
    received: Collector<Vec<u8>>,
}

impl NodeSigs {
    /// Collector for operator `own` of `peers` (ENR keys in operator order).
    pub fn new(own: usize, peers: Vec<VerifyingKey>) -> Self {
        let n = peers.len();
        NodeSigs {
            own,
            peers,
            received: Collector::new(n),
        }
    }

    /// Accepts a delivered message from operator `sender` (index checks only;
    /// the signature is verified in [`NodeSigs::wait_all`]).
    pub fn offer(&self, sender: usize, msg: &MsgNodeSig) -> Result<(), NodeSigError> {
        check_index(msg, sender, self.own, self.peers.len())?;
        self.received.offer(sender, msg.signature.clone());
        Ok(())
    }

    /// Waits for every other operator's signature, verifies all over
    /// `lock_hash`, and returns the n signatures in operator order with
    /// `own_sig` in our slot.
    pub async fn wait_all(
        &self,
        lock_hash: &[u8; 32],
        own_sig: &[u8],
    ) -> Result<Vec<Vec<u8>>, NodeSigError> {
        let slots = self.received.wait_all_except(Some(self.own)).await;
        let mut out = Vec::with_capacity(slots.len());
        for (i, (slot, key)) in slots.into_iter().zip(&self.peers).enumerate() {
            let sig = if i == self.own {
                own_sig.to_vec()
            } else {
                slot.unwrap_or_default()
            };
            verify(key, lock_hash, &sig, i)?;
            out.push(sig);
        }
        Ok(out)
    }
}
