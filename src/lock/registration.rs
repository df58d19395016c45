//! Builder (MEV) validator registrations, as pre-generated into v1.7+ locks.

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
