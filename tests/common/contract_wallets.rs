//! Definitions and locks signed in part by contract wallets, and the
//! `verify` CLI to check them: shared by the tests against the fake
//! execution client and against a real geth.

use std::path::Path;
use std::process::Command;

use charon_dkg_sidecar::lock::k1::{self, K1Secret};
use charon_dkg_sidecar::lock::sample::{SampleOptions, sample_cluster, sign_definition, sign_lock};
use charon_dkg_sidecar::lock::{Lock, Version, eip712};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::fake_el::{FakeEl, Triple};

/// The flag that names the execution client.
pub const FLAG: &str = "--execution-client-rpc-endpoint";

/// A key derived from one byte: a wallet owner, an operator.
pub fn owner(b: u8) -> K1Secret {
    K1Secret::from_bytes(&[b; 32]).unwrap()
}

/// A signed lock whose operator 1 and/or creator are contract wallets; the
/// (contract, digest, signature) triples their contracts should accept.
pub struct Fixture {
    pub lock: Lock,
    pub triples: Vec<Triple>,
}

/// A 4-operator lock of `version` whose operator 1 is the contract wallet
/// `op_wallet` and whose creator is `creator_wallet`, where given; everyone
/// else signs as an EOA.
pub fn fixture(
    version: Version,
    op_wallet: Option<[u8; 20]>,
    creator_wallet: Option<[u8; 20]>,
    seed: u64,
) -> Fixture {
    let opts = SampleOptions {
        version,
        num_validators: 1,
        operators: 4,
        threshold: 3,
        ..SampleOptions::default()
    };
    let chain = opts.network.chain_id;
    let c = sample_cluster(&opts, &mut StdRng::seed_from_u64(seed)).unwrap();
    let mut l = c.lock.clone();
    let d = &mut l.definition;
    if let Some(w) = op_wallet {
        d.operators[1].address = k1::checksum_address(&w);
    }
    if let Some(w) = creator_wallet {
        d.creator.address = k1::checksum_address(&w);
    }
    // Everyone signs as an EOA first (sets the config hash the digests need).
    sign_definition(d, &c.wallet_keys, Some(&c.creator_key), chain).unwrap();
    let op_digest = eip712::operator_config_digest(version, &d.config_hash, chain);
    let creator_digest = eip712::creator_config_digest(&d.config_hash, chain);
    let mut triples = Vec::new();
    if let Some(w) = op_wallet {
        // A 2-of-n Safe submits its owners' signatures concatenated (only
        // v1.11 can hold them); its ENR signature is one owner's, 65 bytes
        // that recover to the owner, not to the Safe.
        let mut config = k1::sign65(&owner(0x21), &op_digest).unwrap().to_vec();
        if version >= Version::V1_11 {
            config.extend_from_slice(&k1::sign65(&owner(0x22), &op_digest).unwrap());
        }
        let enr_digest = eip712::enr_digest(&d.operators[1].enr, chain);
        let enr = k1::sign65(&owner(0x21), &enr_digest).unwrap().to_vec();
        triples.push((w, op_digest, config.clone()));
        triples.push((w, enr_digest, enr.clone()));
        d.operators[1].config_signature = config;
        d.operators[1].enr_signature = enr;
    }
    if let Some(w) = creator_wallet {
        let sig = k1::sign65(&owner(0x23), &creator_digest).unwrap().to_vec();
        triples.push((w, creator_digest, sig.clone()));
        d.creator.config_signature = sig;
    }
    d.definition_hash = d.definition_hash().unwrap().to_vec();
    sign_lock(&mut l, &c.shares, &c.enr_keys).unwrap();
    Fixture { lock: l, triples }
}

impl Fixture {
    /// Tells `el` to accept every contract signature in the file.
    pub fn accept_all(&self, el: &FakeEl) {
        for (a, h, s) in &self.triples {
            el.accept(*a, *h, s);
        }
    }

    /// The digests the contract at `wallet` is asked about.
    pub fn digests_of(&self, wallet: &[u8; 20]) -> Vec<[u8; 32]> {
        self.triples
            .iter()
            .filter(|(a, _, _)| a == wallet)
            .map(|(_, h, _)| *h)
            .collect()
    }
}

/// How a run of the CLI ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `charon-dkg-sidecar verify ARGS`, with `env` and without the endpoint's
/// variable from the caller's environment.
pub fn verify_cli(args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_charon-dkg-sidecar"))
        .arg("verify")
        .args(args)
        .env_remove("CHARON_EXECUTION_CLIENT_RPC_ENDPOINT")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Whether `s` is a single line.
pub fn one_line(s: &str) -> bool {
    s.trim_end().lines().count() == 1
}

/// Writes `dir/name` and returns its path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}
