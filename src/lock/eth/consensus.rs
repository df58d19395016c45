//! Standard Ethereum consensus containers (phase0 `ForkData`, `SigningData`,
//! `DepositMessage`, `DepositData`, builder-spec `ValidatorRegistrationV1`),
//! their SSZ `hash_tree_root`s via `ssz_rs`, and signing domains.
//!
//! The deposit and registration types live here, below `deposit` and
//! `registration` (which sign and verify them and re-export them), because
//! their roots are computed here.

use sha2::{Digest, Sha256};
use ssz_rs::prelude::*;

/// A phase0 `DepositMessage`: what the validator key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DepositMessage {
    /// Validator (distributed) public key.
    pub pubkey: [u8; 48],
    /// `0x01`/`0x02` ‖ 11 zero bytes ‖ withdrawal address.
    pub withdrawal_credentials: [u8; 32],
    /// Amount in gwei.
    pub amount: u64,
}

/// A phase0 `DepositData`: a signed deposit message.
///
/// v1.6/v1.7 locks may hold an "empty" deposit (empty strings, amount 0); it is
/// represented by all-zero fields, which hash identically under charon's
/// left-padding `putBytesN` (see [`DepositData::is_empty`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DepositData {
    /// Validator (distributed) public key.
    pub pubkey: [u8; 48],
    /// `0x01`/`0x02` ‖ 11 zero bytes ‖ withdrawal address.
    pub withdrawal_credentials: [u8; 32],
    /// Amount in gwei.
    pub amount: u64,
    /// BLS signature over the deposit signing root.
    pub signature: [u8; 96],
}

impl DepositData {
    /// The all-zero deposit that stands for "no deposit" in v1.6/v1.7 locks.
    pub const EMPTY: DepositData = DepositData {
        pubkey: [0; 48],
        withdrawal_credentials: [0; 32],
        amount: 0,
        signature: [0; 96],
    };

    /// Whether this is the all-zero "no deposit" value.
    pub fn is_empty(&self) -> bool {
        *self == Self::EMPTY
    }

    /// The unsigned message part.
    pub fn message(&self) -> DepositMessage {
        DepositMessage {
            pubkey: self.pubkey,
            withdrawal_credentials: self.withdrawal_credentials,
            amount: self.amount,
        }
    }
}

/// A builder-spec `ValidatorRegistrationV1` message.
///
/// `fee_recipient` is kept as the bytes found in the lock: charon stores it as a
/// byte slice and hashes it with fastssz `PutBytes`, so an empty value
/// contributes nothing to the lock hash (see [`Registration::fee_recipient_address`]
/// for the 20-byte form signatures are made over).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Registration {
    /// Execution-layer fee recipient; 20 bytes in any well-formed lock.
    pub fee_recipient: Vec<u8>,
    /// Gas limit the validator asks builders for.
    pub gas_limit: u64,
    /// Unix seconds; charon uses the network's genesis time.
    pub timestamp: u64,
    /// Validator (distributed) public key.
    pub pubkey: [u8; 48],
}

impl Registration {
    /// The fee recipient as a 20-byte address, if it is exactly 20 bytes.
    pub fn fee_recipient_address(&self) -> Option<[u8; 20]> {
        self.fee_recipient.as_slice().try_into().ok()
    }
}

/// A signed builder registration as stored in a lock.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BuilderRegistration {
    /// The registration message.
    pub message: Registration,
    /// BLS signature by the distributed validator key.
    pub signature: [u8; 96],
}

impl Registration {
    /// A registration for a 20-byte fee recipient.
    pub fn new(fee_recipient: [u8; 20], gas_limit: u64, timestamp: u64, pubkey: [u8; 48]) -> Self {
        Registration {
            fee_recipient: fee_recipient.to_vec(),
            gas_limit,
            timestamp,
            pubkey,
        }
    }
}

/// A 32-byte SSZ root.
pub type Root = [u8; 32];
/// A 32-byte signing domain.
pub type Domain = [u8; 32];

/// `DOMAIN_DEPOSIT` (phase0).
pub const DOMAIN_DEPOSIT: [u8; 4] = [0x03, 0x00, 0x00, 0x00];
/// `DOMAIN_APPLICATION_BUILDER` (builder spec).
pub const DOMAIN_APPLICATION_BUILDER: [u8; 4] = [0x00, 0x00, 0x00, 0x01];

/// Why an SSZ root could not be computed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConsensusError {
    /// ssz_rs refused the container (should not happen for fixed-size inputs).
    #[error("SSZ hash_tree_root of {what} failed: {reason}")]
    Ssz {
        /// Which container.
        what: &'static str,
        /// ssz_rs's message.
        reason: String,
    },
    /// A registration whose fee recipient is not a 20-byte address.
    #[error("registration fee recipient must be 20 bytes, got {len}")]
    FeeRecipientLength {
        /// The length found.
        len: usize,
    },
}

#[derive(Debug, Default, Clone, PartialEq, Eq, SimpleSerialize)]
struct ForkDataSsz {
    current_version: [u8; 4],
    genesis_validators_root: [u8; 32],
}

#[derive(Debug, Default, Clone, PartialEq, Eq, SimpleSerialize)]
struct SigningDataSsz {
    object_root: [u8; 32],
    domain: [u8; 32],
}

#[derive(Debug, Default, Clone, PartialEq, Eq, SimpleSerialize)]
struct DepositMessageSsz {
    pubkey: Vector<u8, 48>,
    withdrawal_credentials: [u8; 32],
    amount: u64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, SimpleSerialize)]
struct DepositDataSsz {
    pubkey: Vector<u8, 48>,
    withdrawal_credentials: [u8; 32],
    amount: u64,
    signature: Vector<u8, 96>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, SimpleSerialize)]
struct ValidatorRegistrationSsz {
    fee_recipient: [u8; 20],
    gas_limit: u64,
    timestamp: u64,
    pubkey: Vector<u8, 48>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, SimpleSerialize)]
struct SignedRegistrationRootsSsz {
    message_root: [u8; 32],
    signature: Vector<u8, 96>,
}

fn root_of<T: Merkleized>(what: &'static str, mut v: T) -> Result<Root, ConsensusError> {
    let node = v.hash_tree_root().map_err(|e| ConsensusError::Ssz {
        what,
        reason: e.to_string(),
    })?;
    <[u8; 32]>::try_from(node.as_ref()).map_err(|e| ConsensusError::Ssz {
        what,
        reason: e.to_string(),
    })
}

fn vector<const N: usize>(
    what: &'static str,
    b: &[u8; N],
) -> Result<Vector<u8, N>, ConsensusError> {
    Vector::try_from(b.to_vec()).map_err(|(_, e)| ConsensusError::Ssz {
        what,
        reason: e.to_string(),
    })
}

/// `hash_tree_root(ForkData{current_version, genesis_validators_root})`.
pub fn fork_data_root(
    current_version: [u8; 4],
    genesis_validators_root: Root,
) -> Result<Root, ConsensusError> {
    root_of(
        "ForkData",
        ForkDataSsz {
            current_version,
            genesis_validators_root,
        },
    )
}

/// `compute_domain`: `domain_type ‖ fork_data_root[0..28]`.
pub fn compute_domain(
    domain_type: [u8; 4],
    fork_version: [u8; 4],
    genesis_validators_root: Root,
) -> Result<Domain, ConsensusError> {
    let fdr = fork_data_root(fork_version, genesis_validators_root)?;
    let mut d = [0u8; 32];
    d[..4].copy_from_slice(&domain_type);
    d[4..].copy_from_slice(&fdr[..28]);
    Ok(d)
}

/// The deposit domain of a network (genesis validators root is zero for deposits).
pub fn deposit_domain(genesis_fork_version: [u8; 4]) -> Result<Domain, ConsensusError> {
    compute_domain(DOMAIN_DEPOSIT, genesis_fork_version, [0; 32])
}

/// The builder-registration domain of a network (zero genesis validators root).
pub fn builder_domain(genesis_fork_version: [u8; 4]) -> Result<Domain, ConsensusError> {
    compute_domain(DOMAIN_APPLICATION_BUILDER, genesis_fork_version, [0; 32])
}

/// `hash_tree_root(SigningData{object_root, domain})`.
pub fn signing_root(object_root: Root, domain: Domain) -> Result<Root, ConsensusError> {
    root_of(
        "SigningData",
        SigningDataSsz {
            object_root,
            domain,
        },
    )
}

/// `hash_tree_root(DepositMessage)`.
pub fn deposit_message_root(m: &DepositMessage) -> Result<Root, ConsensusError> {
    root_of(
        "DepositMessage",
        DepositMessageSsz {
            pubkey: vector("DepositMessage", &m.pubkey)?,
            withdrawal_credentials: m.withdrawal_credentials,
            amount: m.amount,
        },
    )
}

/// `hash_tree_root(DepositData)`; equals charon's lock `DepositData` hash.
pub fn deposit_data_root(d: &DepositData) -> Result<Root, ConsensusError> {
    root_of(
        "DepositData",
        DepositDataSsz {
            pubkey: vector("DepositData", &d.pubkey)?,
            withdrawal_credentials: d.withdrawal_credentials,
            amount: d.amount,
            signature: vector("DepositData", &d.signature)?,
        },
    )
}

/// `hash_tree_root(ValidatorRegistrationV1)`; the fee recipient must be 20 bytes.
///
/// This is the root that is signed. For the root charon puts into the lock
/// hash, which tolerates other fee-recipient lengths, use [`registration_lock_root`].
pub fn registration_root(r: &Registration) -> Result<Root, ConsensusError> {
    let fee_recipient = r
        .fee_recipient_address()
        .ok_or(ConsensusError::FeeRecipientLength {
            len: r.fee_recipient.len(),
        })?;
    root_of(
        "ValidatorRegistrationV1",
        ValidatorRegistrationSsz {
            fee_recipient,
            gas_limit: r.gas_limit,
            timestamp: r.timestamp,
            pubkey: vector("ValidatorRegistrationV1", &r.pubkey)?,
        },
    )
}

/// The `Registration` root as charon's lock hash computes it (fastssz `PutBytes`
/// of the fee recipient: nothing when empty, one right-padded chunk up to 32
/// bytes, a merkleized sub-tree beyond). Equals [`registration_root`] for a
/// 20-byte fee recipient.
pub fn registration_lock_root(r: &Registration) -> Result<Root, ConsensusError> {
    if r.fee_recipient.len() == 20 {
        return registration_root(r);
    }
    let mut chunks: Vec<[u8; 32]> = Vec::with_capacity(4);
    let fr = r.fee_recipient.as_slice();
    if !fr.is_empty() {
        let sub = pad_chunks(fr);
        if fr.len() <= 32 {
            chunks.extend(sub);
        } else {
            chunks.push(merkleize_chunks(&sub));
        }
    }
    chunks.push(u64_chunk(r.gas_limit));
    chunks.push(u64_chunk(r.timestamp));
    chunks.push(merkleize_chunks(&pad_chunks(&r.pubkey)));
    Ok(merkleize_chunks(&chunks))
}

/// `hash_tree_root` of a signed registration: container(message root, signature).
pub fn builder_registration_lock_root(b: &BuilderRegistration) -> Result<Root, ConsensusError> {
    root_of(
        "BuilderRegistration",
        SignedRegistrationRootsSsz {
            message_root: registration_lock_root(&b.message)?,
            signature: vector("BuilderRegistration", &b.signature)?,
        },
    )
}

fn u64_chunk(x: u64) -> [u8; 32] {
    let mut c = [0u8; 32];
    c[..8].copy_from_slice(&x.to_le_bytes());
    c
}

fn pad_chunks(b: &[u8]) -> Vec<[u8; 32]> {
    b.chunks(32)
        .map(|c| {
            let mut out = [0u8; 32];
            out[..c.len()].copy_from_slice(c);
            out
        })
        .collect()
}

/// Merkle root of `chunks` padded with zero chunks to the next power of two
/// (fastssz `Merkleize` with no limit); one chunk is its own root.
fn merkleize_chunks(chunks: &[[u8; 32]]) -> [u8; 32] {
    let mut layer: Vec<[u8; 32]> = chunks.to_vec();
    if layer.is_empty() {
        return [0; 32];
    }
    let mut zero = [0u8; 32];
    while layer.len() > 1 {
        if layer.len() % 2 == 1 {
            layer.push(zero);
        }
        layer = layer
            .chunks_exact(2)
            .map(|p| {
                let mut h = Sha256::new();
                h.update(p[0]);
                h.update(p[1]);
                h.finalize().into()
            })
            .collect();
        let mut h = Sha256::new();
        h.update(zero);
        h.update(zero);
        zero = h.finalize().into();
    }
    layer.first().copied().unwrap_or([0; 32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merkleize_matches_ssz_rs_for_registration() {
        let r = Registration {
            fee_recipient: vec![0xab; 20],
            gas_limit: 30_000_000,
            timestamp: 1_606_824_023,
            pubkey: [0x11; 48],
        };
        // Manual path with a 20-byte recipient, forced by cloning the logic.
        let mut chunks = pad_chunks(&r.fee_recipient);
        chunks.push(u64_chunk(r.gas_limit));
        chunks.push(u64_chunk(r.timestamp));
        chunks.push(merkleize_chunks(&pad_chunks(&r.pubkey)));
        assert_eq!(merkleize_chunks(&chunks), registration_root(&r).unwrap());
    }

    #[test]
    fn empty_fee_recipient_drops_a_field() {
        let mut r = Registration {
            fee_recipient: vec![],
            gas_limit: 1,
            timestamp: 2,
            pubkey: [0x22; 48],
        };
        let empty = registration_lock_root(&r).unwrap();
        let expected = merkleize_chunks(&[
            u64_chunk(1),
            u64_chunk(2),
            merkleize_chunks(&pad_chunks(&[0x22; 48])),
        ]);
        assert_eq!(empty, expected);
        assert!(registration_root(&r).is_err());
        r.fee_recipient = vec![0; 20];
        assert_ne!(registration_lock_root(&r).unwrap(), empty);
    }
}
