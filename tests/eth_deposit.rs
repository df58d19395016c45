//! Consensus containers, deposit data and builder registrations against
//! charon's golden vectors.

use charon_dkg_sidecar::frost::bls::SecretKey;
use charon_dkg_sidecar::lock::consensus;
use charon_dkg_sidecar::lock::deposit::{self, DepositData, DepositError, GWEI_PER_ETH};
use charon_dkg_sidecar::lock::network::{NETWORKS, NetworkSet};
use charon_dkg_sidecar::lock::registration::{self, BuilderRegistration, Registration};
use serde_json::Value;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/");

fn vectors() -> Value {
    let s = std::fs::read_to_string(format!("{VECTORS}inline_vectors.json")).unwrap();
    serde_json::from_str(&s).unwrap()
}

fn hex_arr<const N: usize>(s: &str) -> [u8; N] {
    hex::decode(s.trim_start_matches("0x"))
        .unwrap()
        .try_into()
        .unwrap()
}

fn goerli() -> charon_dkg_sidecar::lock::network::Network {
    NetworkSet::DEFAULT.by_name("goerli").unwrap()
}

/// The four golden deposits, rebuilt from charon's fixed secrets.
fn golden_deposits() -> Vec<DepositData> {
    let v = vectors();
    let d = &v["deposit"];
    let secrets = d["bls_secrets"].as_array().unwrap();
    let addrs = d["withdrawal_addresses"].as_array().unwrap();
    secrets
        .iter()
        .zip(addrs)
        .map(|(s, a)| {
            let sk = SecretKey::from_bytes(&hex::decode(s.as_str().unwrap()).unwrap()).unwrap();
            let msg = deposit::new_deposit_message(
                sk.public_key().0,
                hex_arr(a.as_str().unwrap()),
                32 * GWEI_PER_ETH,
                true,
            )
            .unwrap();
            deposit::sign_deposit(&msg, &sk, goerli().genesis_fork_version).unwrap()
        })
        .collect()
}

#[test]
fn marshal_matches_charon_golden_byte_for_byte() {
    let golden = std::fs::read(format!(
        "{VECTORS}charon__eth2util__deposit__testdata__TestMarshalDepositData.golden"
    ))
    .unwrap();
    let mut dds = golden_deposits();
    let got = deposit::marshal_deposit_data(&dds, &goerli()).unwrap();
    assert_eq!(
        String::from_utf8(got).unwrap(),
        String::from_utf8(golden.clone()).unwrap()
    );
    // Input order does not matter: the file is sorted by pubkey.
    dds.reverse();
    assert_eq!(
        deposit::marshal_deposit_data(&dds, &goerli()).unwrap(),
        golden
    );
}

#[test]
fn golden_roots_and_signatures_verify() {
    let path = std::path::PathBuf::from(format!(
        "{VECTORS}charon__eth2util__deposit__testdata__TestMarshalDepositData.golden"
    ));
    let entries = deposit::read_deposit_file(&path).unwrap();
    assert_eq!(entries.len(), 4);
    for e in &entries {
        assert_eq!(e.network_name, "goerli");
        assert_eq!(e.fork_version, [0x00, 0x00, 0x10, 0x20]);
        assert_eq!(e.deposit.withdrawal_credentials[0], 0x02);
        deposit::verify_deposit(&e.deposit, e.fork_version).unwrap();
        // Wrong network: the deposit domain differs, so the signature fails.
        assert!(matches!(
            deposit::verify_deposit(&e.deposit, [0; 4]),
            Err(DepositError::Signature { .. })
        ));
    }
    let mut rebuilt: Vec<_> = golden_deposits();
    rebuilt.sort_by_key(|d| d.pubkey);
    let read: Vec<_> = entries.iter().map(|e| e.deposit).collect();
    assert_eq!(read, rebuilt);
}

#[test]
fn any_tampered_field_fails_verification_and_marshalling() {
    let dds = golden_deposits();
    let fv = goerli().genesis_fork_version;
    let mut cases = Vec::new();
    let mut d = dds[0];
    d.amount += 1;
    cases.push(d);
    let mut d = dds[0];
    d.withdrawal_credentials[31] ^= 1;
    cases.push(d);
    let mut d = dds[0];
    d.pubkey = dds[1].pubkey;
    cases.push(d);
    let mut d = dds[0];
    d.signature = dds[1].signature;
    cases.push(d);
    let mut d = dds[0];
    d.signature[5] ^= 0x40;
    cases.push(d);
    let mut d = dds[0];
    d.pubkey = [0; 48];
    cases.push(d);
    for bad in cases {
        assert!(deposit::verify_deposit(&bad, fv).is_err());
        let mut all = dds.clone();
        all[0] = bad;
        assert!(deposit::marshal_deposit_data(&all, &goerli()).is_err());
    }
    // Mixed amounts in one file are refused.
    let sk = SecretKey::from_bytes(&[7u8; 32]).unwrap();
    let msg =
        deposit::new_deposit_message(sk.public_key().0, [1; 20], GWEI_PER_ETH, false).unwrap();
    let one = deposit::sign_deposit(&msg, &sk, fv).unwrap();
    assert!(deposit::marshal_deposit_data(&[dds[0], one], &goerli()).is_err());
    assert!(matches!(
        deposit::marshal_deposit_data(&[], &goerli()),
        Err(DepositError::Empty)
    ));
}

#[test]
fn withdrawal_credentials_and_file_names_match_charon() {
    let v = vectors();
    let w = &v["deposit"]["withdrawal_credentials_rule"];
    let addr: [u8; 20] = hex_arr(w["addr"].as_str().unwrap());
    assert_eq!(
        hex::encode(deposit::withdrawal_credentials(addr, false)),
        w["standard"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(deposit::withdrawal_credentials(addr, true)),
        w["compounding"].as_str().unwrap()
    );
    for (amount, name) in v["deposit"]["file_names"].as_object().unwrap() {
        assert_eq!(
            deposit::deposit_file_name(amount.parse().unwrap()),
            name.as_str().unwrap()
        );
    }
    let g = GWEI_PER_ETH;
    for (amount, name) in [
        (8 * g, "deposit-data-8eth.json"),
        (256 * g, "deposit-data-256eth.json"),
        (2048 * g, "deposit-data-2048eth.json"),
        (31 * g, "deposit-data-31eth.json"),
        (g + g / 2, "deposit-data-1.5eth.json"),
        (1, "deposit-data-0.000000001eth.json"),
        (16_000_000_001, "deposit-data-16.000000001eth.json"),
        (33 * g, "deposit-data-33eth.json"),
    ] {
        assert_eq!(deposit::deposit_file_name(amount), name, "{amount}");
    }
}

#[test]
fn amount_rules() {
    let g = GWEI_PER_ETH;
    assert!(deposit::check_deposit_amount(g, false).is_ok());
    assert!(deposit::check_deposit_amount(32 * g, false).is_ok());
    assert!(matches!(
        deposit::check_deposit_amount(g - 1, false),
        Err(DepositError::AmountTooSmall { .. })
    ));
    assert!(matches!(
        deposit::check_deposit_amount(0, true),
        Err(DepositError::AmountTooSmall { .. })
    ));
    assert!(matches!(
        deposit::check_deposit_amount(32 * g + 1, false),
        Err(DepositError::AmountTooLarge { .. })
    ));
    assert!(deposit::check_deposit_amount(2048 * g, true).is_ok());
    assert!(deposit::check_deposit_amount(2048 * g + 1, true).is_err());
    assert!(deposit::new_deposit_message([0; 48], [0; 20], 33 * g, false).is_err());

    assert!(deposit::verify_deposit_amounts(&[], false).is_ok());
    assert!(deposit::verify_deposit_amounts(&[16 * g, 16 * g], false).is_ok());
    assert!(matches!(
        deposit::verify_deposit_amounts(&[g, 30 * g], false),
        Err(DepositError::AmountsSumTooSmall { .. })
    ));
    assert!(deposit::verify_deposit_amounts(&[64 * g], false).is_err());
    assert!(deposit::verify_deposit_amounts(&[64 * g], true).is_ok());
    assert!(deposit::verify_deposit_amounts(&[u64::MAX, u64::MAX], true).is_err());

    assert_eq!(
        deposit::dedup_amounts(&[32 * g, g, 32 * g, 8 * g]),
        vec![g, 8 * g, 32 * g]
    );
    assert_eq!(
        deposit::ceremony_deposit_amounts(&[], false, true),
        vec![g, 32 * g]
    );
    assert_eq!(
        deposit::ceremony_deposit_amounts(&[], true, true),
        vec![g, 8 * g, 32 * g, 256 * g]
    );
    assert_eq!(
        deposit::ceremony_deposit_amounts(&[], true, false),
        vec![32 * g]
    );
    assert_eq!(
        deposit::ceremony_deposit_amounts(&[32 * g, 16 * g, 16 * g], false, true),
        vec![16 * g, 32 * g]
    );
}

#[test]
fn write_and_read_deposit_files() {
    let dir = tempfile::tempdir().unwrap();
    let fv = goerli().genesis_fork_version;
    let mut dds = golden_deposits();
    let sk = SecretKey::from_bytes(&[9u8; 32]).unwrap();
    for amount in [GWEI_PER_ETH, 31_999_999_999] {
        let msg = deposit::new_deposit_message(sk.public_key().0, [3; 20], amount, true).unwrap();
        dds.push(deposit::sign_deposit(&msg, &sk, fv).unwrap());
    }
    let paths = deposit::write_deposit_files(dir.path(), &dds, &goerli()).unwrap();
    let names: Vec<_> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "deposit-data-1eth.json",
            "deposit-data-31.999999999eth.json",
            "deposit-data.json"
        ]
    );
    use std::os::unix::fs::PermissionsExt;
    for p in &paths {
        assert_eq!(
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777,
            0o444
        );
    }
    let golden = std::fs::read(format!(
        "{VECTORS}charon__eth2util__deposit__testdata__TestMarshalDepositData.golden"
    ))
    .unwrap();
    assert_eq!(
        std::fs::read(dir.path().join("deposit-data.json")).unwrap(),
        golden
    );
    let one = deposit::read_deposit_file(&dir.path().join("deposit-data-1eth.json")).unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].deposit, dds[4]);
    // No temporary files are left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    // Existing files are never overwritten, and nothing new is written.
    assert!(matches!(
        deposit::write_deposit_files(dir.path(), &dds, &goerli()),
        Err(DepositError::Exists(_))
    ));
    // A bad signature among many writes nothing.
    let dir2 = tempfile::tempdir().unwrap();
    let mut bad = dds.clone();
    bad[5].signature = bad[4].signature;
    assert!(deposit::write_deposit_files(dir2.path(), &bad, &goerli()).is_err());
    assert_eq!(std::fs::read_dir(dir2.path()).unwrap().count(), 0);
}

#[test]
fn read_rejects_inconsistent_files() {
    let golden = std::fs::read_to_string(format!(
        "{VECTORS}charon__eth2util__deposit__testdata__TestMarshalDepositData.golden"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        golden.replacen("\"amount\": 32000000000", "\"amount\": 32000000001", 1),
        golden.replacen(
            "\"deposit_data_root\": \"10",
            "\"deposit_data_root\": \"11",
            1,
        ),
        golden.replacen("\"pubkey\": \"80d0", "\"pubkey\": \"80d", 1),
        golden.replacen("\"pubkey\": \"80d0", "\"pubkey\": \"zzd0", 1),
        golden.replacen("[", "{", 1),
        String::new(),
    ];
    for (i, c) in cases.iter().enumerate() {
        let p = dir.path().join(format!("case{i}.json"));
        std::fs::write(&p, c).unwrap();
        assert!(deposit::read_deposit_file(&p).is_err(), "case {i}");
    }
}

#[test]
fn builder_registration_vector() {
    let v = vectors();
    let b = &v["builder_registration"];
    let hoodi = NetworkSet::DEFAULT.by_name("hoodi").unwrap();
    let fv = hoodi.genesis_fork_version;
    assert_eq!(
        hex::encode(consensus::builder_domain(fv).unwrap()),
        b["domain_application_builder_hoodi"].as_str().unwrap()
    );
    let m = &b["message"];
    let msg = Registration::new(
        hex_arr(m["fee_recipient"].as_str().unwrap()),
        m["gas_limit"].as_u64().unwrap(),
        m["timestamp"].as_u64().unwrap(),
        hex_arr(m["pubkey"].as_str().unwrap()),
    );
    assert_eq!(
        hex::encode(registration::registration_signing_root(&msg, fv).unwrap()),
        b["signing_root"].as_str().unwrap()
    );
    let sk =
        SecretKey::from_bytes(&hex::decode(b["bls_secret"].as_str().unwrap()).unwrap()).unwrap();
    let signer: [u8; 48] = hex_arr(b["bls_pubkey_of_secret"].as_str().unwrap());
    assert_eq!(sk.public_key().0, signer);
    let signed = registration::sign_registration(msg.clone(), &sk, fv).unwrap();
    assert_eq!(
        hex::encode(signed.signature),
        b["signature"].as_str().unwrap().trim_start_matches("0x")
    );
    registration::verify_registration_signature(&msg, &signed.signature, &signer, fv).unwrap();
    // The vector's message pubkey is not the signer's.
    assert!(registration::verify_registration(&signed, fv).is_err());
    // Every field is covered by the signature.
    let mut tampered: Vec<Registration> = Vec::new();
    let mut t = msg.clone();
    t.gas_limit += 1;
    tampered.push(t);
    let mut t = msg.clone();
    t.timestamp += 1;
    tampered.push(t);
    let mut t = msg.clone();
    t.fee_recipient[19] ^= 1;
    tampered.push(t);
    let mut t = msg.clone();
    t.pubkey[47] ^= 1;
    tampered.push(t);
    for t in tampered {
        assert!(
            registration::verify_registration_signature(&t, &signed.signature, &signer, fv)
                .is_err()
        );
    }
    assert!(
        registration::verify_registration_signature(&msg, &signed.signature, &signer, [0; 4])
            .is_err()
    );
    // A fee recipient that is not 20 bytes cannot be signed or verified.
    let mut short = msg.clone();
    short.fee_recipient.pop();
    assert!(registration::registration_signing_root(&short, fv).is_err());
}

#[test]
fn registration_roots_in_real_locks_are_self_consistent() {
    // Self-signed registration round trip on every network, under the group key.
    let sk = SecretKey::from_bytes(&[5u8; 32]).unwrap();
    for n in NETWORKS {
        let msg = Registration::new(
            [0xaa; 20],
            registration::DEFAULT_GAS_LIMIT,
            n.genesis_time,
            sk.public_key().0,
        );
        let reg: BuilderRegistration =
            registration::sign_registration(msg, &sk, n.genesis_fork_version).unwrap();
        registration::verify_registration(&reg, n.genesis_fork_version).unwrap();
        assert_eq!(
            consensus::registration_lock_root(&reg.message).unwrap(),
            consensus::registration_root(&reg.message).unwrap()
        );
    }
    assert_eq!(registration::gas_limit_or_default(0), 30_000_000);
    assert_eq!(registration::gas_limit_or_default(60_000_000), 60_000_000);
}

#[test]
fn uint64_and_domain_roots() {
    // ForkData root of a zero version/root is sha256 of 64 zero bytes.
    use sha2::{Digest, Sha256};
    let zero: [u8; 32] = Sha256::digest([0u8; 64]).into();
    assert_eq!(consensus::fork_data_root([0; 4], [0; 32]).unwrap(), zero);
    let d = consensus::deposit_domain([0; 4]).unwrap();
    assert_eq!(d[..4], [3, 0, 0, 0]);
    assert_eq!(d[4..], zero[..28]);
    // Mainnet deposit domain as used by every staking tool.
    assert_eq!(
        hex::encode(d),
        "03000000f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a9"
    );
    let s = consensus::signing_root([1; 32], [2; 32]).unwrap();
    let mut cat = [1u8; 64];
    cat[32..].fill(2);
    assert_eq!(s, <[u8; 32]>::from(Sha256::digest(cat)));
}

#[test]
fn batch_verification_names_the_bad_deposit() {
    let fv = goerli().genesis_fork_version;
    let dds: Vec<DepositData> = (1..=40u8)
        .map(|i| {
            let sk = SecretKey::from_bytes(&[i; 32]).unwrap();
            let msg =
                deposit::new_deposit_message(sk.public_key().0, [i; 20], 32 * GWEI_PER_ETH, false)
                    .unwrap();
            deposit::sign_deposit(&msg, &sk, fv).unwrap()
        })
        .collect();
    deposit::verify_deposits(&dds, fv).unwrap();
    for bad_at in [0, 17, 39] {
        // Swapping two valid signatures: each is a real signature, just not
        // over this deposit.
        let mut bad = dds.clone();
        let other = (bad_at + 1) % dds.len();
        bad[bad_at].signature = dds[other].signature;
        let err = deposit::verify_deposits(&bad, fv).unwrap_err();
        let named = match &err {
            DepositError::Signature { pubkey, .. } => pubkey.clone(),
            e => panic!("unexpected {e}"),
        };
        assert_eq!(named, hex::encode(dds[bad_at].pubkey), "{err}");
        // Two signatures swapped between deposits also fail (they would
        // cancel in a naive unweighted sum).
        let mut swapped = dds.clone();
        swapped[bad_at].signature = dds[other].signature;
        swapped[other].signature = dds[bad_at].signature;
        assert!(deposit::verify_deposits(&swapped, fv).is_err());
    }
    // A non-point signature is named too.
    let mut bad = dds.clone();
    bad[5].signature = [0xff; 96];
    assert!(matches!(
        deposit::verify_deposits(&bad, fv),
        Err(DepositError::Signature { .. })
    ));
    assert!(deposit::verify_deposits(&dds, [0, 0, 0, 1]).is_err());
}

#[test]
fn deposits_from_real_locks() {
    use charon_dkg_sidecar::lock::Lock;
    // A real mainnet v1.8 lock made by charon: its deposits verify and render.
    let bytes = std::fs::read(format!(
        "{VECTORS}obol-sdk__test__fixtures.ts__nullDepositAmountsClusterLockV1X8.json"
    ))
    .unwrap();
    let lock = Lock::from_json(&bytes).unwrap();
    let dds = deposit::deposits_from_lock(&lock).unwrap();
    assert_eq!(dds.len(), 2);
    let mainnet = NetworkSet::DEFAULT.by_name("mainnet").unwrap();
    deposit::verify_deposits(&dds, mainnet.genesis_fork_version).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let paths = deposit::write_deposit_files(dir.path(), &dds, &mainnet).unwrap();
    assert_eq!(paths, [dir.path().join("deposit-data.json")]);
    // A v1.7 test lock with empty deposits cannot produce deposit files.
    let bytes = std::fs::read(format!(
        "{VECTORS}charon__cluster__examples__cluster-lock-003.json"
    ))
    .unwrap();
    let lock = Lock::from_json(&bytes).unwrap();
    assert!(matches!(
        deposit::deposits_from_lock(&lock),
        Err(DepositError::File { .. })
    ));
}
