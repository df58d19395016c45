//! Verification of a node's data directory after a DKG: the lock verifies, the
//! keystores decrypt to exactly this node's shares, and the deposit-data files
//! match the lock.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use crate::lock::cluster::contract::PendingContractSignatures;
use crate::lock::cluster::error::ParseError;
use crate::lock::cluster::json::{self, Obj};
use crate::lock::cluster::lockfile::Lock;
use crate::lock::cluster::ssz::container_root;
use crate::lock::cluster::verify::{VerifyOptions, verify_lock, verify_lock_deferred};
use crate::lock::identity::enr::Enr;
use crate::lock::identity::k1::K1Secret;
use crate::lock::keystore::files as keystore;

/// Largest file read from a data directory.
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Why a data directory is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataDirError {
    /// Something cannot be read or parsed at all.
    #[error("{0}")]
    Unusable(String),
    /// The contents are inconsistent; names the failed check.
    #[error("{0}")]
    Rejected(String),
}

/// What an accepted data directory holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDirReport {
    /// This node's operator index (0-based).
    pub node_index: usize,
    /// Number of operators.
    pub operators: usize,
    /// Number of keystores checked.
    pub keystores: usize,
    /// Number of deposit-data files checked.
    pub deposit_files: usize,
    /// The lock hash.
    pub lock_hash: Vec<u8>,
}

fn rejected(msg: impl Into<String>) -> DataDirError {
    DataDirError::Rejected(format!("data directory rejected: {}", msg.into()))
}

fn read(path: &Path) -> Result<Vec<u8>, DataDirError> {
    use std::io::Read;
    let f = std::fs::File::open(path)
        .map_err(|e| DataDirError::Unusable(format!("cannot read {}: {e}", path.display())))?;
    let mut buf = Vec::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| DataDirError::Unusable(format!("cannot read {}: {e}", path.display())))?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(DataDirError::Unusable(format!(
            "{} is too large",
            path.display()
        )));
    }
    Ok(buf)
}

/// Verifies `dir/cluster-lock.json`, `dir/validator_keys/` and
/// `dir/deposit-data*.json`. This node is identified by
/// `dir/charon-enr-private-key` when present, otherwise by its first keystore.
pub fn verify_data_dir(dir: &Path, opts: &VerifyOptions) -> Result<DataDirReport, DataDirError> {
    verify(dir, opts, false).map(|(report, _)| report)
}

/// [`verify_data_dir`] for a caller with an execution client: the lock's
/// contract-wallet signatures are returned, to be checked (ERC-1271) before
/// the directory is accepted, instead of rejected.
pub fn verify_data_dir_deferred(
    dir: &Path,
    opts: &VerifyOptions,
) -> Result<(DataDirReport, PendingContractSignatures), DataDirError> {
    verify(dir, opts, true)
}

fn verify(
    dir: &Path,
    opts: &VerifyOptions,
    defer: bool,
) -> Result<(DataDirReport, PendingContractSignatures), DataDirError> {
    let lock_path = dir.join("cluster-lock.json");
    let lock = Lock::from_json(&read(&lock_path)?).map_err(|e| match e {
        ParseError::Rule(m) => rejected(format!("{}: {m}", lock_path.display())),
        e => DataDirError::Unusable(format!("cannot use lock {}: {e}", lock_path.display())),
    })?;
    let pending = if defer {
        verify_lock_deferred(&lock, opts)
    } else {
        verify_lock(&lock, opts).map(|()| PendingContractSignatures::default())
    }
    .map_err(|e| rejected(e.to_string()))?;

    let key_path = dir.join("charon-enr-private-key");
    let enr_index = if key_path.exists() {
        let text = zeroize::Zeroizing::new(read(&key_path)?);
        let key = std::str::from_utf8(&text)
            .ok()
            .and_then(|s| K1Secret::from_hex(s).ok())
            .ok_or_else(|| {
                DataDirError::Unusable(format!("{} is not a hex secp256k1 key", key_path.display()))
            })?;
        let pk = key.public_key();
        let idx = lock
            .definition
            .operators
            .iter()
            .position(|op| Enr::parse(&op.enr).is_ok_and(|e| *e.public_key() == pk))
            .ok_or_else(|| {
                rejected("charon-enr-private-key matches no operator ENR in the lock")
            })?;
        Some(idx)
    } else {
        None
    };

    let keys_dir = dir.join("validator_keys");
    let keys = keystore::load_keystores(&keys_dir).map_err(|e| rejected(e.to_string()))?;
    if keys.len() != lock.validators.len() {
        return Err(rejected(format!(
            "{} keystores for {} validators",
            keys.len(),
            lock.validators.len()
        )));
    }
    let node_index = match enr_index {
        Some(i) => i,
        None => {
            let first = keys.first().map(|(_, k)| k.public_key().0.to_vec());
            lock.validators
                .first()
                .and_then(|dv| {
                    dv.public_shares
                        .iter()
                        .position(|s| Some(s) == first.as_ref())
                })
                .ok_or_else(|| rejected("keystore-0 is no operator's share of validator 0"))?
        }
    };
    for (i, key) in &keys {
        let want = lock
            .validators
            .get(*i)
            .and_then(|dv| dv.public_shares.get(node_index));
        if want.map(Vec::as_slice) != Some(key.public_key().0.as_slice()) {
            return Err(rejected(format!(
                "keystore-{i} is not node {node_index}'s share of validator {i}"
            )));
        }
    }

    let deposit_files = check_deposit_files(dir, &lock)?;
    let report = DataDirReport {
        node_index,
        operators: lock.definition.operators.len(),
        keystores: keys.len(),
        deposit_files,
        lock_hash: lock.lock_hash.clone(),
    };
    Ok((report, pending))
}

fn hex_field(o: &Obj<'_>, name: &str, len: usize) -> Result<Vec<u8>, String> {
    let s = o.string(name).map_err(|e| e.to_string())?;
    let b = hex::decode(&s).map_err(|e| format!("{name}: invalid hex: {e}"))?;
    if b.len() != len {
        return Err(format!("{name}: {} bytes, expected {len}", b.len()));
    }
    Ok(b)
}

fn check_deposit_files(dir: &Path, lock: &Lock) -> Result<usize, DataDirError> {
    let d = &lock.definition;
    // Every non-empty deposit in the lock, by (pubkey, amount).
    let mut expected: BTreeMap<(Vec<u8>, u64), &crate::lock::cluster::lockfile::DepositRecord> =
        BTreeMap::new();
    for dv in &lock.validators {
        for dd in &dv.deposit_data {
            if !dd.signature.is_empty() {
                expected.insert((dd.pubkey.clone(), dd.amount), dd);
            }
        }
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| DataDirError::Unusable(format!("cannot read {}: {e}", dir.display())))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("deposit-data") && n.ends_with(".json"))
        .collect();
    names.sort();
    if names.is_empty() {
        if expected.is_empty() {
            return Ok(0);
        }
        return Err(rejected(
            "no deposit-data*.json files, but the lock has deposits",
        ));
    }
    let mut seen: HashSet<(Vec<u8>, u64)> = HashSet::new();
    for name in &names {
        let bytes = read(&dir.join(name))?;
        let bad = |why: String| rejected(format!("{name}: {why}"));
        let v = json::parse(&bytes)
            .map_err(|e| DataDirError::Unusable(format!("cannot use {name}: {e}")))?;
        let json::JValue::Arr(items) = &v else {
            return Err(DataDirError::Unusable(format!(
                "cannot use {name}: not a JSON array"
            )));
        };
        for (k, item) in items.iter().enumerate() {
            let o = Obj::new(item, format!("[{k}]")).map_err(|e| bad(e.to_string()))?;
            let entry = |why: String| bad(format!("entry {k}: {why}"));
            let pubkey = hex_field(&o, "pubkey", 48).map_err(entry)?;
            let wc = hex_field(&o, "withdrawal_credentials", 32).map_err(entry)?;
            let sig = hex_field(&o, "signature", 96).map_err(entry)?;
            let msg_root = hex_field(&o, "deposit_message_root", 32).map_err(entry)?;
            let data_root = hex_field(&o, "deposit_data_root", 32).map_err(entry)?;
            let amount = o.uint("amount").map_err(|e| entry(e.to_string()))?;
            let file_fork = hex_field(&o, "fork_version", 4).map_err(entry)?;
            if crate::lock::eth::deposit::deposit_file_name(amount) != *name {
                return Err(entry(format!(
                    "amount {amount} gwei does not belong in this file"
                )));
            }
            if file_fork != d.fork_version {
                return Err(entry("fork version differs from the lock's".into()));
            }
            let Some(dd) = expected.get(&(pubkey.clone(), amount)) else {
                return Err(entry(format!(
                    "deposit of {amount} gwei for 0x{} is not in the lock",
                    hex::encode(&pubkey)
                )));
            };
            if dd.withdrawal_credentials != wc || dd.signature != sig {
                return Err(entry(
                    "withdrawal credentials or signature differ from the lock's".into(),
                ));
            }
            let pk: [u8; 48] = pubkey.as_slice().try_into().unwrap_or([0; 48]);
            let wc32: [u8; 32] = wc.as_slice().try_into().unwrap_or_default();
            let (want_msg, want_data) = deposit_roots(&pk, &wc32, amount, &sig);
            if msg_root != want_msg || data_root != want_data {
                return Err(entry(
                    "deposit_message_root or deposit_data_root is wrong".into(),
                ));
            }
            seen.insert((pubkey, amount));
        }
    }
    if let Some(((pk, amount), _)) = expected.iter().find(|(k, _)| !seen.contains(*k)) {
        return Err(rejected(format!(
            "the lock's deposit of {amount} gwei for 0x{} is in no deposit-data file",
            hex::encode(pk)
        )));
    }
    Ok(names.len())
}

fn deposit_roots(pk: &[u8; 48], wc: &[u8; 32], amount: u64, sig: &[u8]) -> ([u8; 32], [u8; 32]) {
    let chunk = |b: &[u8]| {
        let mut c = [0u8; 32];
        c[..b.len().min(32)].copy_from_slice(&b[..b.len().min(32)]);
        c
    };
    let pk_root = container_root(&[chunk(&pk[..32]), chunk(&pk[32..])]);
    let amount_chunk = chunk(&amount.to_le_bytes());
    let msg = container_root(&[pk_root, *wc, amount_chunk]);
    let sig_root = container_root(&[chunk(&sig[..32]), chunk(&sig[32..64]), chunk(&sig[64..96])]);
    let data = container_root(&[pk_root, *wc, amount_chunk, sig_root]);
    (msg, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::eth::deposit::deposit_file_name;

    #[test]
    fn deposit_file_names_and_roots_match_charon() {
        assert_eq!(deposit_file_name(32_000_000_000), "deposit-data.json");
        assert_eq!(deposit_file_name(1_000_000_000), "deposit-data-1eth.json");
        assert_eq!(
            deposit_file_name(31_999_999_999),
            "deposit-data-31.999999999eth.json"
        );
        assert_eq!(
            deposit_file_name(256_000_000_000),
            "deposit-data-256eth.json"
        );
        let golden = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/vectors/charon__eth2util__deposit__testdata__TestMarshalDepositData.golden"
        ))
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&golden).unwrap();
        let items = v.as_array().unwrap();
        assert_eq!(items.len(), 4);
        for it in items {
            let h = |k: &str| hex::decode(it[k].as_str().unwrap()).unwrap();
            let pk: [u8; 48] = h("pubkey").try_into().unwrap();
            let wc: [u8; 32] = h("withdrawal_credentials").try_into().unwrap();
            let (m, d) = deposit_roots(&pk, &wc, it["amount"].as_u64().unwrap(), &h("signature"));
            assert_eq!(m.to_vec(), h("deposit_message_root"));
            assert_eq!(d.to_vec(), h("deposit_data_root"));
        }
    }
}
