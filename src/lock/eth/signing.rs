//! Signing roots the lock verifier needs: builder registrations and deposits
//! (phase0 / builder-spec containers hashed with the SSZ hasher).
//!
//! The same roots as [`consensus`](crate::lock::eth::consensus) computes with
//! `ssz_rs`, infallible and over plain byte arrays, for the hot verification
//! and ceremony paths; the domain constants and withdrawal credentials are shared.

use sha2::{Digest, Sha256};

use crate::lock::cluster::ssz::container_root;
pub use crate::lock::eth::consensus::{DOMAIN_APPLICATION_BUILDER, DOMAIN_DEPOSIT};
use crate::lock::eth::deposit;

fn chunk(b: &[u8]) -> [u8; 32] {
    let mut c = [0u8; 32];
    let n = b.len().min(32);
    c[..n].copy_from_slice(&b[..n]);
    c
}

fn u64_chunk(x: u64) -> [u8; 32] {
    chunk(&x.to_le_bytes())
}

fn pubkey_root(pk: &[u8; 48]) -> [u8; 32] {
    container_root(&[chunk(&pk[..32]), chunk(&pk[32..])])
}

/// `compute_domain(domain_type, fork_version, genesis_validators_root = 0)`.
pub fn compute_domain(domain_type: [u8; 4], fork_version: [u8; 4]) -> [u8; 32] {
    let fork_data_root = container_root(&[chunk(&fork_version), [0u8; 32]]);
    let mut d = [0u8; 32];
    d[..4].copy_from_slice(&domain_type);
    d[4..].copy_from_slice(&fork_data_root[..28]);
    d
}

/// `hash_tree_root(SigningData{object_root, domain})`.
pub fn signing_root(object_root: &[u8; 32], domain: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(object_root);
    h.update(domain);
    h.finalize().into()
}

/// Signing root of a `ValidatorRegistrationV1`.
pub fn registration_signing_root(
    fee_recipient: &[u8; 20],
    gas_limit: u64,
    timestamp: u64,
    pubkey: &[u8; 48],
    genesis_fork_version: [u8; 4],
) -> [u8; 32] {
    let root = container_root(&[
        chunk(fee_recipient),
        u64_chunk(gas_limit),
        u64_chunk(timestamp),
        pubkey_root(pubkey),
    ]);
    signing_root(
        &root,
        &compute_domain(DOMAIN_APPLICATION_BUILDER, genesis_fork_version),
    )
}

/// Signing root of a phase0 `DepositMessage`.
pub fn deposit_signing_root(
    pubkey: &[u8; 48],
    withdrawal_credentials: &[u8; 32],
    amount: u64,
    genesis_fork_version: [u8; 4],
) -> [u8; 32] {
    let root = container_root(&[
        pubkey_root(pubkey),
        *withdrawal_credentials,
        u64_chunk(amount),
    ]);
    signing_root(&root, &compute_domain(DOMAIN_DEPOSIT, genesis_fork_version))
}

/// `0x01` (or `0x02` when compounding) ‖ 11 zero bytes ‖ address.
pub fn withdrawal_credentials(address: &[u8; 20], compounding: bool) -> [u8; 32] {
    deposit::withdrawal_credentials(*address, compounding)
}

#[cfg(test)]
mod tests {
    use super::*;

    // shared/vectors/inline_vectors.json -> builder_registration, deposit
    #[test]
    fn charon_vectors() {
        let hoodi = [0x10, 0x00, 0x09, 0x10];
        assert_eq!(
            hex::encode(compute_domain(DOMAIN_APPLICATION_BUILDER, hoodi)),
            "00000001719103511efa4f1362ff2a50996cccf329cc84cb410c5e5c7d351d03"
        );
        let mut fee = [0u8; 20];
        fee[18] = 0xde;
        fee[19] = 0xad;
        let pk: [u8; 48] = hex::decode("86966350b672bd502bfbdb37a6ea8a7392e8fb7f5ebb5c5e2055f4ee168ebfab0fef63084f28c9f62c3ba71f825e527e")
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(
            hex::encode(registration_signing_root(
                &fee,
                30_000_000,
                1_646_092_800,
                &pk,
                hoodi
            )),
            "69d1ac3e5fb328bcbb04afb78a30e21721e1ade1397d03299d21644f1fc48a3d"
        );
        let addr: [u8; 20] = hex::decode("c0404ed740a69d11201f5ed297c5732f562c6e4e")
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(
            hex::encode(withdrawal_credentials(&addr, false)),
            "010000000000000000000000c0404ed740a69d11201f5ed297c5732f562c6e4e"
        );
        assert_eq!(
            hex::encode(withdrawal_credentials(&addr, true)),
            "020000000000000000000000c0404ed740a69d11201f5ed297c5732f562c6e4e"
        );
    }
}
