//! Set-up shared by the ceremony tests: a cluster of fresh operator keys and
//! a definition written by `create dkg`.

#![allow(dead_code)]

pub mod contract_wallets;
pub mod fake_el;

use std::path::PathBuf;

use charon_dkg_sidecar::cmd::create::{DkgArgs, definition_json, new_enr_key};

/// The fee recipient and withdrawal address of every validator.
pub const ADDR: &str = "0x000000000000000000000000000000000000dEaD";

/// Operators' data directories and the definition, in a temporary directory.
pub struct Cluster {
    /// Removed on drop.
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub nodes: Vec<PathBuf>,
    pub definition: PathBuf,
}

/// `n` operators with fresh ENR keys and a `create dkg` definition.
pub fn cluster(n: usize, validators: usize, version: &str, amounts: &[u64]) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let mut enrs = Vec::new();
    let mut nodes = Vec::new();
    for i in 0..n {
        let d = root.join(format!("node{i}"));
        let (_, enr) = new_enr_key(&d).unwrap();
        enrs.push(enr);
        nodes.push(d);
    }
    let args = DkgArgs {
        operator_enrs: enrs,
        num_validators: validators,
        threshold: None,
        network: "hoodi".into(),
        fee_recipient_addresses: vec![ADDR.into()],
        withdrawal_addresses: vec![ADDR.into()],
        deposit_amounts: amounts.to_vec(),
        compounding: false,
        target_gas_limit: 60_000_000,
        name: "test".into(),
        dkg_version: version.into(),
        output_dir: root.clone(),
    };
    let definition = root.join("cluster-definition.json");
    std::fs::write(&definition, definition_json(&args).unwrap()).unwrap();
    Cluster {
        _dir: dir,
        root,
        nodes,
        definition,
    }
}
