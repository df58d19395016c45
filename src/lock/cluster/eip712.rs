//! EIP-712 digests of charon's typed data: operator and creator config hashes,
//! ENRs, and terms and conditions.

use sha3::{Digest, Keccak256};

use crate::lock::cluster::json::to_0x_hex;
use crate::lock::cluster::version::Version;
use crate::lock::eth::network::NetworkSet;

/// The terms-and-conditions hash charon signs (`cluster/eip712sigs.go`).
pub const TERMS_AND_CONDITIONS_HASH: &str =
    "0xd33721644e8f3afab1495a74abe3523cec12d48b8da6cb760972492ca3f1a273";

fn keccak(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Keccak256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn uint256(x: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[24..].copy_from_slice(&x.to_be_bytes());
    b
}

/// The `Obol`/`1` domain separator; `None` leaves out `chainId` (terms only).
pub fn domain_separator(chain_id: Option<u64>) -> [u8; 32] {
    let name = keccak(&[b"Obol"]);
    let version = keccak(&[b"1"]);
    match chain_id {
        Some(id) => keccak(&[
            &keccak(&[b"EIP712Domain(string name,string version,uint256 chainId)"]),
            &name,
            &version,
            &uint256(id),
        ]),
        None => keccak(&[
            &keccak(&[b"EIP712Domain(string name,string version)"]),
            &name,
            &version,
        ]),
    }
}

fn digest(domain: [u8; 32], struct_hash: [u8; 32]) -> [u8; 32] {
    keccak(&[&[0x19, 0x01], &domain, &struct_hash])
}

fn string_struct(type_sig: &str, value: &str) -> [u8; 32] {
    keccak(&[
        &keccak(&[type_sig.as_bytes()]),
        &keccak(&[value.as_bytes()]),
    ])
}

/// The chain id of a genesis fork version, if the network is known.
pub fn chain_id(fork_version: &[u8], networks: NetworkSet) -> Option<u64> {
    networks.by_fork_version(fork_version).map(|n| n.chain_id)
}

/// Digest an operator signs over the config hash: type `ConfigHash` in v1.3,
/// `OperatorConfigHash` from v1.4.
pub fn operator_config_digest(version: Version, config_hash: &[u8], chain_id: u64) -> [u8; 32] {
    let value = to_0x_hex(config_hash);
    let s = if version == Version::V1_3 {
        string_struct("ConfigHash(string config_hash)", &value)
    } else {
        string_struct("OperatorConfigHash(string operator_config_hash)", &value)
    };
    digest(domain_separator(Some(chain_id)), s)
}

/// Digest the creator signs over the config hash (`CreatorConfigHash`).
pub fn creator_config_digest(config_hash: &[u8], chain_id: u64) -> [u8; 32] {
    let s = string_struct(
        "CreatorConfigHash(string creator_config_hash)",
        &to_0x_hex(config_hash),
    );
    digest(domain_separator(Some(chain_id)), s)
}

/// Digest an operator signs over its ENR string, exactly as written.
pub fn enr_digest(enr: &str, chain_id: u64) -> [u8; 32] {
    digest(
        domain_separator(Some(chain_id)),
        string_struct("ENR(string enr)", enr),
    )
}

/// Digest of the terms-and-conditions acceptance (domain without chain id).
pub fn terms_digest() -> [u8; 32] {
    let s = keccak(&[
        &keccak(&[b"TermsAndConditions(string terms_and_conditions_hash,uint256 version)"]),
        &keccak(&[TERMS_AND_CONDITIONS_HASH.as_bytes()]),
        &uint256(1),
    ]);
    digest(domain_separator(None), s)
}

#[cfg(test)]
mod tests {
    use super::*;

    // shared/vectors/inline_vectors.json -> eip712
    #[test]
    fn charon_creator_hash_vector() {
        let ch = hex::decode("e57f66637bdfa05cce6a78e8cf4120d67d305b485367a69baa5f738436533bcb")
            .unwrap();
        assert_eq!(
            hex::encode(creator_config_digest(&ch, 11_155_111)),
            "7c8fe012e2f872ca7ec870164184f57b921166f80565ff74af7bee5796f973e4"
        );
        assert_eq!(
            chain_id(&[0x90, 0, 0, 0x69], NetworkSet::DEFAULT),
            Some(11_155_111)
        );
        assert_eq!(chain_id(&[1, 1, 0x70, 0], NetworkSet::DEFAULT), None);
        // Distinct types give distinct digests.
        assert_ne!(
            operator_config_digest(Version::V1_3, &ch, 1),
            operator_config_digest(Version::V1_4, &ch, 1)
        );
        assert_ne!(
            operator_config_digest(Version::V1_4, &ch, 1),
            creator_config_digest(&ch, 1)
        );
        assert_ne!(terms_digest(), [0u8; 32]);
    }
}
