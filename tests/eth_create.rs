//! The cluster generator: locks it makes pass full verification for every
//! supported version, node secrets match the lock, and the written node
//! directories match `charon create cluster`'s file lists.

use charon_dkg_sidecar::frost::bls::{self, PublicKey, SecretKey, Signature};
use charon_dkg_sidecar::lock::create::{self, CreateError, CreateOptions, NodeSecrets};
use charon_dkg_sidecar::lock::deposit::{self, GWEI_PER_ETH};
use charon_dkg_sidecar::lock::k1::K1Secret;
use charon_dkg_sidecar::lock::keystore::{self, INSECURE_PBKDF2_C, WriteOptions};
use charon_dkg_sidecar::lock::network::NetworkSet;
use charon_dkg_sidecar::lock::{Lock, VerifyOptions, Version, verify_lock};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/vectors/");
const G: u64 = GWEI_PER_ETH;

fn opts(network: &str, nodes: usize, validators: usize) -> CreateOptions {
    let net = NetworkSet::WITH_HOLESKY.by_name(network).unwrap();
    CreateOptions::new(net, nodes, validators, [0x11; 20], [0x22; 20])
}

fn insecure() -> WriteOptions {
    WriteOptions {
        pbkdf2_c: INSECURE_PBKDF2_C,
        insecure_names: false,
    }
}

fn check_secrets_match_lock(lock: &Lock, nodes: &[NodeSecrets]) {
    let t = lock.definition.threshold as usize;
    for (v, dv) in lock.validators.iter().enumerate() {
        for (i, node) in nodes.iter().enumerate() {
            assert_eq!(node.index, i);
            assert_eq!(node.shares[v].public_key().0.to_vec(), dv.public_shares[i]);
        }
        // Any threshold of partial signatures combines to a group signature.
        let msg = b"threshold check";
        let partials: Vec<(u64, Signature)> = nodes
            .iter()
            .rev()
            .take(t)
            .map(|n| (n.index as u64 + 1, n.shares[v].sign(msg)))
            .collect();
        let combined = bls::threshold_combine(&partials).unwrap();
        let pk = PublicKey::from_bytes(&dv.pubkey).unwrap();
        bls::verify(&pk, msg, &combined).unwrap();
    }
}

#[test]
fn default_cluster_verifies_and_round_trips() {
    let mut rng = rand::thread_rng();
    let o = opts("hoodi", 4, 3);
    let (lock, nodes) = create::create_cluster(&o, &mut rng).unwrap();
    assert_eq!(lock.definition.threshold, 3);
    assert_eq!(lock.definition.target_gas_limit, 30_000_000);
    assert_eq!(nodes.len(), 4);
    verify_lock(&lock, &VerifyOptions::default()).unwrap();
    verify_lock(&lock, &VerifyOptions::CHARON).unwrap();
    // Default amounts [1, 32] ETH, ascending, on every validator.
    for dv in &lock.validators {
        let amounts: Vec<u64> = dv.deposit_data.iter().map(|d| d.amount).collect();
        assert_eq!(amounts, [G, 32 * G]);
        let r = &dv.builder_registration.message;
        assert_eq!(r.timestamp, o.network.genesis_time);
        assert_eq!(r.gas_limit, 30_000_000);
        assert_eq!(r.fee_recipient, [0x11; 20]);
    }
    let json = lock.to_json().unwrap();
    let back = Lock::from_json(&json).unwrap();
    assert_eq!(back, lock);
    verify_lock(&back, &VerifyOptions::default()).unwrap();
    check_secrets_match_lock(&lock, &nodes);
    // The aggregate shortcut equals aggregating every share's signature.
    let hash: [u8; 32] = lock.lock_hash.as_slice().try_into().unwrap();
    let sigs: Vec<Signature> = nodes
        .iter()
        .flat_map(|n| n.shares.iter().map(|s| s.sign(&hash)))
        .collect();
    assert_eq!(
        bls::aggregate(&sigs).unwrap().0.to_vec(),
        lock.signature_aggregate
    );
}

#[test]
fn every_version_and_option_verifies() {
    let mut rng = rand::thread_rng();
    let cases: Vec<CreateOptions> = vec![
        CreateOptions {
            version: Version::V1_3,
            ..opts("mainnet", 3, 1)
        },
        CreateOptions {
            version: Version::V1_5,
            ..opts("gnosis", 3, 2)
        },
        CreateOptions {
            version: Version::V1_6,
            ..opts("sepolia", 4, 2)
        },
        CreateOptions {
            version: Version::V1_7,
            ..opts("goerli", 4, 2)
        },
        CreateOptions {
            version: Version::V1_8,
            deposit_amounts: vec![16 * G, 16 * G],
            ..opts("chiado", 5, 2)
        },
        CreateOptions {
            version: Version::V1_9,
            ..opts("mainnet", 7, 1)
        },
        CreateOptions {
            version: Version::V1_10,
            compounding: true,
            target_gas_limit: 60_000_000,
            threshold: Some(2),
            fee_recipients: vec![[1; 20], [2; 20], [3; 20]],
            withdrawal_addresses: vec![[4; 20], [5; 20], [6; 20]],
            ..opts("hoodi", 3, 3)
        },
        CreateOptions {
            compounding: true,
            deposit_amounts: vec![2048 * G],
            ..opts("holesky", 4, 1)
        },
        CreateOptions {
            threshold: Some(1),
            ..opts("hoodi", 1, 1)
        },
    ];
    for o in cases {
        let label = format!(
            "{} {} n={}",
            o.version.as_str(),
            o.network.name,
            o.num_nodes
        );
        let (lock, nodes) = create::create_cluster(&o, &mut rng).expect(&label);
        let vo = VerifyOptions {
            networks: NetworkSet::WITH_HOLESKY,
            check_deposits: true,
            registration_signatures: true,
        };
        verify_lock(&lock, &vo).unwrap_or_else(|e| panic!("{label}: {e}"));
        let back = Lock::from_json(&lock.to_json().unwrap()).unwrap();
        verify_lock(&back, &vo).unwrap_or_else(|e| panic!("{label} reparsed: {e}"));
        check_secrets_match_lock(&lock, &nodes);
        let v = o.version;
        for (i, dv) in lock.validators.iter().enumerate() {
            if v >= Version::V1_8 {
                let want =
                    deposit::ceremony_deposit_amounts(&o.deposit_amounts, o.compounding, true);
                let got: Vec<u64> = dv.deposit_data.iter().map(|d| d.amount).collect();
                assert_eq!(got, want, "{label}");
            } else if v >= Version::V1_6 {
                assert_eq!(dv.deposit_data.len(), 1);
                assert_eq!(dv.deposit_data[0].amount, 32 * G);
            } else {
                assert!(dv.deposit_data.is_empty());
            }
            if o.compounding {
                assert_eq!(dv.deposit_data[0].withdrawal_credentials[0], 0x02);
            }
            if o.withdrawal_addresses.len() > 1 {
                assert_eq!(
                    dv.deposit_data[0].withdrawal_credentials[12..],
                    o.withdrawal_addresses[i]
                );
                assert_eq!(
                    dv.builder_registration.message.fee_recipient,
                    o.fee_recipients[i]
                );
            }
        }
        assert_eq!(
            lock.node_signatures.len(),
            if v >= Version::V1_7 { o.num_nodes } else { 0 }
        );
    }
}

#[test]
fn verification_catches_a_tampered_generated_lock() {
    // Guards against a generator and verifier that agree on nothing.
    let mut rng = rand::thread_rng();
    let (lock, nodes) = create::create_cluster(&opts("hoodi", 4, 2), &mut rng).unwrap();
    let mut l = lock.clone();
    l.validators[1].deposit_data[0].amount += 1;
    let l = l.with_hashes().unwrap();
    assert!(verify_lock(&l, &VerifyOptions::default()).is_err());
    let mut l = lock.clone();
    l.validators[0].public_shares.swap(0, 1);
    assert!(verify_lock(&l.with_hashes().unwrap(), &VerifyOptions::default()).is_err());
    // Signing with one node's shares missing breaks the aggregate.
    let hash: [u8; 32] = lock.lock_hash.as_slice().try_into().unwrap();
    let mut l = lock.clone();
    l.signature_aggregate = create::signature_aggregate(&nodes[1..], &hash)
        .unwrap()
        .to_vec();
    assert!(verify_lock(&l, &VerifyOptions::default()).is_err());
    // Node signatures from the wrong keys.
    let mut l = lock.clone();
    let mut shuffled = nodes.clone();
    shuffled.rotate_left(1);
    l.node_signatures = create::node_signatures(&shuffled, &hash)
        .unwrap()
        .iter()
        .map(|s| s.to_vec())
        .collect();
    assert!(verify_lock(&l, &VerifyOptions::default()).is_err());
}

#[test]
fn bad_parameters_are_refused() {
    let mut rng = rand::thread_rng();
    let bad: Vec<CreateOptions> = vec![
        CreateOptions {
            threshold: Some(5),
            ..opts("hoodi", 4, 1)
        },
        CreateOptions {
            threshold: Some(0),
            ..opts("hoodi", 4, 1)
        },
        opts("hoodi", 0, 1),
        opts("hoodi", 4, 0),
        CreateOptions {
            fee_recipients: vec![[1; 20], [2; 20]],
            ..opts("hoodi", 4, 3)
        },
        CreateOptions {
            withdrawal_addresses: vec![],
            ..opts("hoodi", 4, 1)
        },
        CreateOptions {
            version: Version::V1_7,
            deposit_amounts: vec![32 * G],
            ..opts("hoodi", 4, 1)
        },
        CreateOptions {
            version: Version::V1_9,
            compounding: true,
            ..opts("hoodi", 4, 1)
        },
        CreateOptions {
            version: Version::V1_9,
            target_gas_limit: 1,
            ..opts("hoodi", 4, 1)
        },
        CreateOptions {
            deposit_amounts: vec![G / 2, 32 * G],
            ..opts("hoodi", 4, 1)
        },
        CreateOptions {
            deposit_amounts: vec![64 * G],
            ..opts("hoodi", 4, 1)
        },
        CreateOptions {
            deposit_amounts: vec![G],
            ..opts("hoodi", 4, 1)
        },
        CreateOptions {
            version: Version::V1_4,
            fee_recipients: vec![[1; 20], [2; 20]],
            ..opts("hoodi", 4, 2)
        },
    ];
    for (i, o) in bad.iter().enumerate() {
        let r = create::create_cluster(o, &mut rng);
        assert!(r.is_err(), "case {i} accepted");
        assert!(
            matches!(
                r,
                Err(CreateError::Params(_)) | Err(CreateError::Deposit(_))
            ),
            "case {i}: {:?}",
            r.err()
        );
    }
}

fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut top: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    top.sort();
    let mut out = top.clone();
    for node in &top {
        let mut inner: Vec<String> = std::fs::read_dir(dir.join(node))
            .unwrap()
            .map(|e| format!("{node}/{}", e.unwrap().file_name().into_string().unwrap()))
            .collect();
        inner.sort();
        out.extend(inner);
    }
    out
}

fn golden_listing(name: &str) -> Vec<String> {
    let s = std::fs::read_to_string(format!(
        "{VECTORS}charon__cmd__testdata__TestCreateCluster_{name}_files.golden"
    ))
    .unwrap();
    serde_json::from_str(&s).unwrap()
}

#[test]
fn written_node_directories_match_charon_file_lists() {
    let mut rng = rand::thread_rng();
    let cases = [
        ("simnet", opts("hoodi", 4, 1)),
        ("goerli", opts("goerli", 3, 1)),
        (
            "custom_target_gas_limit",
            CreateOptions {
                target_gas_limit: 40_000_000,
                ..opts("hoodi", 4, 1)
            },
        ),
        (
            "four_partial_deposits",
            CreateOptions {
                deposit_amounts: vec![8 * G; 4],
                ..opts("hoodi", 4, 1)
            },
        ),
        (
            "two_partial_deposits",
            CreateOptions {
                deposit_amounts: vec![G, 31 * G],
                ..opts("hoodi", 4, 1)
            },
        ),
    ];
    for (golden, o) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let (lock, nodes) = create::create_cluster(&o, &mut rng).unwrap();
        create::write_cluster(tmp.path(), &lock, &nodes, insecure()).unwrap();
        assert_eq!(listing(tmp.path()), golden_listing(golden), "{golden}");
    }
}

#[test]
fn written_files_load_back() {
    use std::os::unix::fs::PermissionsExt;
    let mut rng = rand::thread_rng();
    let tmp = tempfile::tempdir().unwrap();
    let (lock, nodes) = create::create_cluster(&opts("sepolia", 3, 2), &mut rng).unwrap();
    let dirs = create::write_cluster(tmp.path(), &lock, &nodes, insecure()).unwrap();
    assert_eq!(dirs.len(), 3);
    for (node, dir) in nodes.iter().zip(&dirs) {
        let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("charon-enr-private-key"), 0o600);
        assert_eq!(mode("cluster-lock.json"), 0o444);
        assert_eq!(mode("deposit-data.json"), 0o444);
        let key = std::fs::read_to_string(dir.join("charon-enr-private-key")).unwrap();
        assert_eq!(key.len(), 64);
        let k = K1Secret::from_hex(&key).unwrap();
        assert_eq!(*k.to_bytes(), *node.enr_key.to_bytes());
        let on_disk =
            Lock::from_json(&std::fs::read(dir.join("cluster-lock.json")).unwrap()).unwrap();
        assert_eq!(on_disk, lock);
        let keys = keystore::load_keystores(&dir.join("validator_keys")).unwrap();
        assert_eq!(keys.len(), 2);
        for (v, (i, sk)) in keys.iter().enumerate() {
            assert_eq!(*i, v);
            assert_eq!(*sk.to_bytes(), *node.shares[v].to_bytes());
        }
        for f in ["deposit-data.json", "deposit-data-1eth.json"] {
            let entries = deposit::read_deposit_file(&dir.join(f)).unwrap();
            assert_eq!(entries.len(), 2);
            for e in entries {
                deposit::verify_deposit(&e.deposit, e.fork_version).unwrap();
                assert_eq!(e.network_name, "sepolia");
            }
        }
    }
    // Refuses to write over an existing cluster.
    assert!(create::write_cluster(tmp.path(), &lock, &nodes, insecure()).is_err());
}

#[test]
fn shares_of_a_given_secret_reconstruct_it() {
    let mut rng = rand::thread_rng();
    let secret = SecretKey::from_bytes(&[3u8; 32]).unwrap();
    for (n, t) in [(1, 1), (3, 2), (4, 3), (7, 5), (10, 7)] {
        let shares = create::split_secret(&secret, n, t, &mut rng).unwrap();
        let pks: Vec<(u64, PublicKey)> = shares
            .iter()
            .enumerate()
            .skip(n - t)
            .map(|(i, s)| (i as u64 + 1, s.public_key()))
            .collect();
        assert_eq!(
            bls::combine_public_shares(&pks).unwrap(),
            secret.public_key()
        );
    }
}
