//! Generated clusters with real keys: every version verifies, and tampering
//! that re-signs everything charon checks is still caught where it must be
//! (deposits, registrations, EIP-712 rules, Safe signatures).

use charon_dkg_sidecar::lock::network::NETWORKS;
use charon_dkg_sidecar::lock::sample::{
    SampleCluster, SampleOptions, sample_cluster, sign_definition, sign_lock,
};
use charon_dkg_sidecar::lock::{Lock, VerifyOptions, Version, verify_lock};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn cluster(version: Version, signed: bool, seed: u64) -> SampleCluster {
    let opts = SampleOptions {
        version,
        num_validators: 3,
        operators: 4,
        threshold: 3,
        signed,
        ..SampleOptions::default()
    };
    sample_cluster(&opts, &mut StdRng::seed_from_u64(seed)).unwrap()
}

fn chain_id() -> u64 {
    NETWORKS[5].chain_id
}

/// Re-signs the definition (as its signers would) and the lock.
fn resign(c: &SampleCluster, l: &mut Lock, signed: bool) {
    let wallets = if signed {
        c.wallet_keys.as_slice()
    } else {
        &[]
    };
    let creator = (signed && l.definition.version.has_creator()).then_some(&c.creator_key);
    sign_definition(&mut l.definition, wallets, creator, chain_id()).unwrap();
    sign_lock(l, &c.shares, &c.enr_keys).unwrap();
}

fn full(l: &Lock) -> Result<(), String> {
    verify_lock(l, &VerifyOptions::default()).map_err(|e| e.to_string())
}

fn charon(l: &Lock) -> Result<(), String> {
    verify_lock(l, &VerifyOptions::CHARON).map_err(|e| e.to_string())
}

fn rejects(got: Result<(), String>, check: &str) {
    let e = got.expect_err("expected a rejection");
    assert!(e.contains(check), "got {e:?}, expected {check:?}");
}

#[test]
fn generated_locks_verify_for_every_version() {
    for (k, v) in Version::ALL
        .into_iter()
        .filter(|v| v.supports_eip712())
        .enumerate()
    {
        for signed in [true, false] {
            let c = cluster(v, signed, k as u64);
            full(&c.lock).unwrap_or_else(|e| panic!("{v} signed={signed}: {e}"));
            let back = Lock::from_json(&c.lock.to_json().unwrap()).unwrap();
            full(&back).unwrap_or_else(|e| panic!("{v} signed={signed} after JSON: {e}"));
            assert_eq!(back.to_json().unwrap(), c.lock.to_json().unwrap());
        }
    }
}

#[test]
fn deposit_checks_catch_what_charon_skips() {
    let c = cluster(Version::V1_10, true, 1);
    // A deposit signed by the wrong key, everything else re-signed.
    let mut l = c.lock.clone();
    let root = [1u8; 32];
    l.validators[1].deposit_data[0].signature = c.validator_keys[0].sign(&root).0.to_vec();
    resign(&c, &mut l, true);
    charon(&l).unwrap();
    rejects(
        full(&l),
        "invalid deposit data signature (validator 1, deposit 0)",
    );

    // Credentials paying someone else.
    let mut l = c.lock.clone();
    l.validators[2].deposit_data[1].withdrawal_credentials[31] ^= 1;
    resign(&c, &mut l, true);
    charon(&l).unwrap();
    rejects(
        full(&l),
        "withdrawal credentials do not match withdrawal address (validator 2, deposit 1)",
    );

    // A deposit for another validator's key.
    let mut l = c.lock.clone();
    l.validators[0].deposit_data[0].pubkey = l.validators[1].pubkey.clone();
    resign(&c, &mut l, true);
    charon(&l).unwrap();
    rejects(full(&l), "deposit data pubkey does not match");
}

#[test]
fn registration_is_checked_against_the_definition() {
    let c = cluster(Version::V1_10, true, 2);
    // The definition's fee recipient changes; the registration was signed for the old one.
    let mut l = c.lock.clone();
    l.definition.validators[1].fee_recipient_address = format!("0x{}", "ab".repeat(20));
    resign(&c, &mut l, true);
    rejects(
        charon(&l),
        "verify builder registration signature (validator 1)",
    );

    // charon ignores the message's own fee recipient copy (it only feeds the hash).
    let mut l = c.lock.clone();
    l.validators[1].builder_registration.message.fee_recipient = vec![0xab; 20];
    resign(&c, &mut l, true);
    charon(&l).unwrap();

    let mut l = c.lock.clone();
    l.validators[2].builder_registration.signature =
        l.validators[1].builder_registration.signature.clone();
    resign(&c, &mut l, true);
    rejects(
        charon(&l),
        "verify builder registration signature (validator 2)",
    );

    let mut l = c.lock.clone();
    l.validators[0].builder_registration.signature.clear();
    resign(&c, &mut l, true);
    rejects(charon(&l), "missing validator registration (validator 0)");
}

#[test]
fn eip712_rules() {
    let c = cluster(Version::V1_10, true, 3);

    // Wallet-style V = 27/28 signatures are accepted.
    let mut l = c.lock.clone();
    for op in &mut l.definition.operators {
        op.config_signature[64] += 27;
        op.enr_signature[64] += 27;
    }
    l.definition.creator.config_signature[64] += 27;
    l.definition = l.definition.with_hashes().unwrap();
    sign_lock(&mut l, &c.shares, &c.enr_keys).unwrap();
    full(&l).unwrap();

    // Upper-case operator address: case does not matter for the EOA check.
    let mut l = c.lock.clone();
    l.definition.operators[2].address = l.definition.operators[2]
        .address
        .to_uppercase()
        .replacen("0X", "0x", 1);
    resign(&c, &mut l, true);
    full(&l).unwrap();

    // A signature by another wallet.
    let mut l = c.lock.clone();
    resign(&c, &mut l, true);
    l.definition.operators[2].config_signature = l.definition.operators[1].config_signature.clone();
    l.definition = l.definition.with_hashes().unwrap();
    sign_lock(&mut l, &c.shares, &c.enr_keys).unwrap();
    rejects(full(&l), "invalid operator config signature (operator 2)");

    // Some operators signed, others not.
    let mut l = c.lock.clone();
    let op = &mut l.definition.operators[3];
    op.address.clear();
    resign(&c, &mut l, true);
    let op = &mut l.definition.operators[3];
    op.config_signature.clear();
    op.enr_signature.clear();
    l.definition = l.definition.with_hashes().unwrap();
    sign_lock(&mut l, &c.shares, &c.enr_keys).unwrap();
    rejects(full(&l), "some operators signed while others did not");

    // Operators signed but not the creator.
    let mut l = c.lock.clone();
    l.definition.creator.address.clear();
    l.definition.creator.config_signature.clear();
    resign(&c, &mut l, true);
    l.definition.creator.config_signature.clear();
    l.definition = l.definition.with_hashes().unwrap();
    sign_lock(&mut l, &c.shares, &c.enr_keys).unwrap();
    rejects(full(&l), "operators signed while creator did not");

    // Solo flow: only the creator signs.
    let u = cluster(Version::V1_10, false, 4);
    let mut l = u.lock.clone();
    l.definition.creator.address = charon_dkg_sidecar::lock::k1::checksum_address(
        &charon_dkg_sidecar::lock::k1::address_from_pubkey(&u.creator_key.public_key()),
    );
    sign_definition(&mut l.definition, &[], Some(&u.creator_key), chain_id()).unwrap();
    sign_lock(&mut l, &u.shares, &u.enr_keys).unwrap();
    full(&l).unwrap();

    // Unknown fork version, even when unsigned.
    let mut l = u.lock.clone();
    l.definition.fork_version = vec![9, 9, 9, 9];
    resign(&u, &mut l, false);
    rejects(full(&l), "invalid fork version");
}

#[test]
fn safe_multisig_signatures_need_an_execution_client() {
    let c = cluster(Version::V1_11, true, 5);
    let mut l = c.lock.clone();
    resign(&c, &mut l, true);
    // Two concatenated 65-byte signatures, as a Safe would submit: valid
    // v1.11 layout (hashes fine) but not verifiable offline.
    let mut two = l.definition.operators[0].config_signature.clone();
    two.extend_from_slice(&l.definition.operators[1].config_signature);
    l.definition.operators[0].config_signature = two;
    l.definition = l.definition.with_hashes().unwrap();
    sign_lock(&mut l, &c.shares, &c.enr_keys).unwrap();
    rejects(full(&l), "invalid operator config signature (operator 0)");

    // Not a multiple of 65 bytes.
    let mut l = c.lock.clone();
    l.definition.operators[0].config_signature.push(0);
    l.definition = l
        .definition
        .config_hash()
        .map(|_| l.definition.clone())
        .unwrap();
    assert!(l.definition.definition_hash().is_err());
    rejects(full(&l), "cannot compute definition hash");

    // Before v1.11 a 130-byte signature has the wrong length.
    let c = cluster(Version::V1_10, true, 6);
    let mut l = c.lock.clone();
    let mut two = l.definition.operators[0].config_signature.clone();
    two.extend_from_slice(&l.definition.operators[1].config_signature);
    l.definition.operators[0].config_signature = two;
    assert!(l.definition.definition_hash().is_err());
}

#[test]
fn shares_off_the_polynomial_anywhere_are_caught() {
    for (t, n) in [(2usize, 3usize), (3, 4), (4, 4), (5, 7)] {
        let opts = SampleOptions {
            num_validators: 3,
            operators: n,
            threshold: t,
            signed: false,
            ..SampleOptions::default()
        };
        let c =
            sample_cluster(&opts, &mut StdRng::seed_from_u64(t as u64 * 10 + n as u64)).unwrap();
        full(&c.lock).unwrap();
        for v in 0..3 {
            for j in 0..n {
                // Replace share j of validator v by the same operator's share of
                // another validator (a valid point off this polynomial), re-signed.
                let mut l = c.lock.clone();
                let mut shares = c.shares.clone();
                let other = (v + 1) % 3;
                l.validators[v].public_shares[j] = l.validators[other].public_shares[j].clone();
                shares[v][j] = shares[other][j].clone();
                l.lock_hash = l.lock_hash().unwrap().to_vec();
                sign_lock(&mut l, &shares, &c.enr_keys).unwrap();
                let want = if j < t {
                    "public shares do not reconstruct distributed public key"
                } else {
                    "extra share does not lie on distributed key polynomial"
                };
                let e = charon(&l).expect_err("tampered share accepted");
                assert!(e.contains(want), "t={t} n={n} v={v} j={j}: {e}");
                assert!(e.contains(&format!("validator {v}")), "{e}");
            }
        }
    }
}
