//! Cluster definition versions and the features each one gates.

use std::fmt;

/// A cluster definition (and lock) format version, v1.0.0 to v1.11.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// v1.0.0: base64 byte fields, operator nonce, timestamp not hashed.
    V1_0,
    /// v1.1.0: as v1.0 with the timestamp in the definition hash.
    V1_1,
    /// v1.2.0: hex byte fields.
    V1_2,
    /// v1.3.0: real SSZ hashing, EIP-712 operator signatures.
    V1_3,
    /// v1.4.0: adds the creator.
    V1_4,
    /// v1.5.0: per-validator addresses.
    V1_5,
    /// v1.6.0: deposit data in the lock (hashed inline, a charon bug).
    V1_6,
    /// v1.7.0: builder registrations and node signatures.
    V1_7,
    /// v1.8.0: partial deposits.
    V1_8,
    /// v1.9.0: consensus protocol.
    V1_9,
    /// v1.10.0: target gas limit, compounding.
    V1_10,
    /// v1.11.0: signatures hashed as lists (Safe multisig).
    V1_11,
}

impl Version {
    /// All versions, oldest first.
    pub const ALL: [Version; 12] = [
        Version::V1_0,
        Version::V1_1,
        Version::V1_2,
        Version::V1_3,
        Version::V1_4,
        Version::V1_5,
        Version::V1_6,
        Version::V1_7,
        Version::V1_8,
        Version::V1_9,
        Version::V1_10,
        Version::V1_11,
    ];

    /// The version new definitions use.
    pub const CURRENT: Version = Version::V1_11;

    /// The version string as written in files, e.g. `"v1.10.0"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "v1.0.0",
            Version::V1_1 => "v1.1.0",
            Version::V1_2 => "v1.2.0",
            Version::V1_3 => "v1.3.0",
            Version::V1_4 => "v1.4.0",
            Version::V1_5 => "v1.5.0",
            Version::V1_6 => "v1.6.0",
            Version::V1_7 => "v1.7.0",
            Version::V1_8 => "v1.8.0",
            Version::V1_9 => "v1.9.0",
            Version::V1_10 => "v1.10.0",
            Version::V1_11 => "v1.11.0",
        }
    }

    /// Parses an exact version string.
    pub fn parse(s: &str) -> Option<Version> {
        Version::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// v1.0 and v1.1 encode byte fields as base64.
    pub fn uses_base64(self) -> bool {
        self <= Version::V1_1
    }

    /// EIP-712 operator signatures are allowed (v1.3+).
    pub fn supports_eip712(self) -> bool {
        self >= Version::V1_3
    }

    /// The definition has a creator (v1.4+).
    pub fn has_creator(self) -> bool {
        self >= Version::V1_4
    }

    /// The definition lists per-validator addresses (v1.5+).
    pub fn has_validator_list(self) -> bool {
        self >= Version::V1_5
    }

    /// The lock holds deposit data (v1.6+).
    pub fn has_deposit_data(self) -> bool {
        self >= Version::V1_6
    }

    /// The lock holds builder registrations and node signatures (v1.7+).
    pub fn has_registrations(self) -> bool {
        self >= Version::V1_7
    }

    /// Partial deposits and `deposit_amounts` (v1.8+).
    pub fn has_partial_deposits(self) -> bool {
        self >= Version::V1_8
    }

    /// `consensus_protocol` (v1.9+).
    pub fn has_consensus_protocol(self) -> bool {
        self >= Version::V1_9
    }

    /// `target_gas_limit` and `compounding` (v1.10+).
    pub fn has_gas_limit_and_compounding(self) -> bool {
        self >= Version::V1_10
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
