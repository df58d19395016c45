//! Deposit data: the plain types kept in locks and deposit-data files, and the
//! deposit-data files charon writes (`eth2util/deposit`).

/// One gwei-denominated ether.
pub const GWEI_PER_ETH: u64 = 1_000_000_000;

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
