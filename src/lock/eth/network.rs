//! Ethereum networks charon knows, keyed by genesis fork version.
//!
//! Holesky was removed in charon v1.11; it is only available when the caller
//! opts in (for clusters still on charon v1.10), never by default.

/// One Ethereum network as charon's `eth2util` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// Lower-case name, as written in deposit-data files.
    pub name: &'static str,
    /// Genesis fork version, the key charon looks networks up by.
    pub genesis_fork_version: [u8; 4],
    /// EIP-155 chain id, used in EIP-712 domains.
    pub chain_id: u64,
    /// Genesis time in unix seconds; the timestamp of pre-generated builder registrations.
    pub genesis_time: u64,
}

const fn net(name: &'static str, v: [u8; 4], chain_id: u64, genesis_time: u64) -> Network {
    Network {
        name,
        genesis_fork_version: v,
        chain_id,
        genesis_time,
    }
}

/// The networks charon v1.11 supports.
pub const NETWORKS: &[Network] = &[
    net("mainnet", [0x00, 0x00, 0x00, 0x00], 1, 1_606_824_023),
    net("goerli", [0x00, 0x00, 0x10, 0x20], 5, 1_616_508_000),
    net("gnosis", [0x00, 0x00, 0x00, 0x64], 100, 1_638_993_340),
    net("chiado", [0x00, 0x00, 0x00, 0x6f], 10200, 1_665_396_300),
    net(
        "sepolia",
        [0x90, 0x00, 0x00, 0x69],
        11_155_111,
        1_655_733_600,
    ),
    net("hoodi", [0x10, 0x00, 0x09, 0x10], 560_048, 1_742_213_400),
];

/// Holesky, removed from charon in v1.11; only used when explicitly allowed.
pub const HOLESKY: Network = net("holesky", [0x01, 0x01, 0x70, 0x00], 17000, 1_696_000_704);

/// Which networks a lookup may return.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkSet {
    /// Also accept holesky (charon v1.10 behaviour).
    pub allow_holesky: bool,
}

impl NetworkSet {
    /// charon v1.11's set, without holesky.
    pub const DEFAULT: NetworkSet = NetworkSet {
        allow_holesky: false,
    };
    /// The set including holesky.
    pub const WITH_HOLESKY: NetworkSet = NetworkSet {
        allow_holesky: true,
    };

    /// The network with this genesis fork version, if known.
    pub fn by_fork_version(self, fork_version: &[u8]) -> Option<Network> {
        NETWORKS
            .iter()
            .copied()
            .chain(self.allow_holesky.then_some(HOLESKY))
            .find(|n| n.genesis_fork_version.as_slice() == fork_version)
    }

    /// The network with this (case-insensitive) name, if known.
    pub fn by_name(self, name: &str) -> Option<Network> {
        NETWORKS
            .iter()
            .copied()
            .chain(self.allow_holesky.then_some(HOLESKY))
            .find(|n| n.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_fork_version_and_name() {
        let s = NetworkSet::DEFAULT;
        assert_eq!(
            s.by_fork_version(&[0x90, 0, 0, 0x69]).map(|n| n.chain_id),
            Some(11_155_111)
        );
        assert_eq!(s.by_name("HOODI").map(|n| n.chain_id), Some(560_048));
        assert!(s.by_fork_version(&HOLESKY.genesis_fork_version).is_none());
        assert!(s.by_name("holesky").is_none());
        let h = NetworkSet::WITH_HOLESKY;
        assert_eq!(
            h.by_fork_version(&[0x01, 0x01, 0x70, 0x00]).map(|n| n.name),
            Some("holesky")
        );
        assert!(s.by_fork_version(&[1, 2, 3]).is_none());
    }
}
