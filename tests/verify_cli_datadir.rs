//! `verify --data-dir` on a node directory built from a generated cluster:
//! accepted as written, rejected when keys, lock or deposit files disagree.

use std::path::Path;
use std::process::Command;

use charon_dkg_sidecar::lock::deposit::{deposits_from_lock, write_deposit_files};
use charon_dkg_sidecar::lock::keystore::{WriteOptions, write_keystores_with};
use charon_dkg_sidecar::lock::network::NETWORKS;
use charon_dkg_sidecar::lock::sample::{SampleCluster, SampleOptions, sample_cluster};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn cluster() -> SampleCluster {
    let opts = SampleOptions {
        num_validators: 3,
        ..SampleOptions::default()
    };
    sample_cluster(&opts, &mut StdRng::seed_from_u64(42)).unwrap()
}

/// Writes node `node`'s directory the way a DKG leaves it.
fn write_node(c: &SampleCluster, node: usize, dir: &Path, with_enr_key: bool) {
    std::fs::write(dir.join("cluster-lock.json"), c.lock.to_json().unwrap()).unwrap();
    if with_enr_key {
        let key = hex::encode(c.enr_keys[node].to_bytes().as_ref());
        std::fs::write(dir.join("charon-enr-private-key"), key).unwrap();
    }
    let secrets: Vec<_> = c.shares.iter().map(|s| s[node].clone()).collect();
    let opts = WriteOptions {
        pbkdf2_c: 16,
        insecure_names: true,
    };
    write_keystores_with(&dir.join("validator_keys"), &secrets, opts).unwrap();
    let deposits = deposits_from_lock(&c.lock).unwrap();
    write_deposit_files(dir, &deposits, &NETWORKS[5]).unwrap();
}

fn verify(dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_charon-dkg-sidecar"))
        .args(["verify", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_consistent_node_directory_is_accepted() {
    let c = cluster();
    for (node, with_key) in [(0, true), (2, true), (3, false)] {
        let tmp = tempfile::tempdir().unwrap();
        write_node(&c, node, tmp.path(), with_key);
        let (code, out, err) = verify(tmp.path());
        assert_eq!(code, 0, "node {node}: {err}");
        assert!(out.contains(&format!("node {node} of 4")), "{out}");
    }
}

#[test]
fn inconsistent_directories_are_rejected() {
    let c = cluster();

    // Another node's keys under this node's ENR key.
    let tmp = tempfile::tempdir().unwrap();
    write_node(&c, 1, tmp.path(), false);
    let key = hex::encode(c.enr_keys[0].to_bytes().as_ref());
    std::fs::write(tmp.path().join("charon-enr-private-key"), key).unwrap();
    let (code, _, err) = verify(tmp.path());
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("keystore-0 is not node 0's share of validator 0"),
        "{err}"
    );

    // A keystore missing.
    let tmp = tempfile::tempdir().unwrap();
    write_node(&c, 1, tmp.path(), true);
    let keys = tmp.path().join("validator_keys");
    std::fs::remove_file(keys.join("keystore-insecure-2.json")).unwrap();
    let (code, _, err) = verify(tmp.path());
    assert_eq!(code, 1, "{err}");

    // A wrong password.
    let tmp = tempfile::tempdir().unwrap();
    write_node(&c, 1, tmp.path(), true);
    let pw = tmp.path().join("validator_keys/keystore-insecure-1.txt");
    let mut perms = std::fs::metadata(&pw).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&pw, perms).unwrap();
    std::fs::write(&pw, "not the password").unwrap();
    let (code, _, err) = verify(tmp.path());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("checksum"), "{err}");

    // A deposit file removed, and one from another cluster.
    let tmp = tempfile::tempdir().unwrap();
    write_node(&c, 1, tmp.path(), true);
    std::fs::remove_file(tmp.path().join("deposit-data-1eth.json")).unwrap();
    let (code, _, err) = verify(tmp.path());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is in no deposit-data file"), "{err}");

    let other = sample_cluster(&SampleOptions::default(), &mut StdRng::seed_from_u64(7)).unwrap();
    let tmp2 = tempfile::tempdir().unwrap();
    write_node(&other, 1, tmp2.path(), true);
    let tmp = tempfile::tempdir().unwrap();
    write_node(&c, 1, tmp.path(), true);
    let target = tmp.path().join("deposit-data.json");
    let mut perms = std::fs::metadata(&target).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&target, perms).unwrap();
    std::fs::copy(tmp2.path().join("deposit-data.json"), &target).unwrap();
    let (code, _, err) = verify(tmp.path());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is not in the lock"), "{err}");

    // A tampered lock.
    let tmp = tempfile::tempdir().unwrap();
    write_node(&c, 1, tmp.path(), true);
    let lock_path = tmp.path().join("cluster-lock.json");
    let text = std::fs::read_to_string(&lock_path).unwrap().replacen(
        "sample cluster",
        "sample clusteR",
        1,
    );
    std::fs::write(&lock_path, text).unwrap();
    let (code, _, err) = verify(tmp.path());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("invalid config hash"), "{err}");

    // No lock at all: unusable.
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = verify(tmp.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.lines().count() == 1, "{err}");
}
