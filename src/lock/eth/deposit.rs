//! Deposits: amounts, signing and verifying deposit messages, and the
//! deposit-data files charon writes (`eth2util/deposit`).

use std::path::{Path, PathBuf};

use crate::frost::bls::{self, PublicKey, SecretKey, Signature};
use crate::lock::eth::consensus::{self, ConsensusError, Root};
pub use crate::lock::eth::consensus::{DepositData, DepositMessage};
use crate::lock::eth::network::Network;
use crate::lock::newfile::{remove_written, write_new_file_atomic};

/// One gwei-denominated ether.
pub const GWEI_PER_ETH: u64 = 1_000_000_000;

/// Smallest deposit charon accepts: 1 ETH.
pub const MIN_DEPOSIT_GWEI: u64 = GWEI_PER_ETH;
/// A full validator deposit, 32 ETH; the largest non-compounding deposit.
pub const DEFAULT_DEPOSIT_GWEI: u64 = 32 * GWEI_PER_ETH;
/// The largest compounding (0x02) deposit, 2048 ETH (EIP-7251).
pub const MAX_COMPOUNDING_DEPOSIT_GWEI: u64 = 2048 * GWEI_PER_ETH;
/// The `deposit_cli_version` charon writes into deposit-data files.
pub const DEPOSIT_CLI_VERSION: &str = "2.7.0";

/// Why deposit data could not be built, verified, written or read.
#[derive(Debug, thiserror::Error)]
pub enum DepositError {
    /// An amount below 1 ETH.
    #[error("deposit amount {amount} gwei is below the 1 ETH minimum")]
    AmountTooSmall {
        /// The amount in gwei.
        amount: u64,
    },
    /// An amount above 32 ETH (2048 ETH when compounding).
    #[error("deposit amount {amount} gwei exceeds the maximum of {max} gwei")]
    AmountTooLarge {
        /// The amount in gwei.
        amount: u64,
        /// The applicable maximum in gwei.
        max: u64,
    },
    /// Definition deposit amounts that add up to less than one full validator.
    #[error(
        "deposit amounts sum to {sum} gwei, less than the 32 ETH needed to activate a validator"
    )]
    AmountsSumTooSmall {
        /// The sum in gwei (saturating).
        sum: u64,
    },
    /// A deposit signature that does not verify under its pubkey.
    #[error("invalid deposit data signature for validator pubkey 0x{pubkey}: {source}")]
    Signature {
        /// Hex of the deposit's pubkey.
        pubkey: String,
        /// The BLS failure.
        source: bls::BlsError,
    },
    /// An SSZ root failure.
    #[error(transparent)]
    Consensus(#[from] ConsensusError),
    /// Nothing to write.
    #[error("no deposit data to write")]
    Empty,
    /// A verification worker thread died.
    #[error("deposit signature verification thread failed")]
    Worker,
    /// A deposit-data file on disk that cannot be used.
    #[error("deposit-data file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A deposit-data file that would be overwritten.
    #[error("deposit-data file {0} already exists; refusing to overwrite it")]
    Exists(PathBuf),
    /// An I/O failure.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The withdrawal credentials for an execution address: `0x01` (or `0x02`
/// when `compounding`) ‖ 11 zero bytes ‖ address.
pub fn withdrawal_credentials(address: [u8; 20], compounding: bool) -> [u8; 32] {
    let mut c = [0u8; 32];
    c[0] = if compounding { 0x02 } else { 0x01 };
    c[12..].copy_from_slice(&address);
    c
}

/// The largest single deposit: 32 ETH, or 2048 ETH when compounding.
pub fn max_deposit_gwei(compounding: bool) -> u64 {
    if compounding {
        MAX_COMPOUNDING_DEPOSIT_GWEI
    } else {
        DEFAULT_DEPOSIT_GWEI
    }
}

/// Checks one deposit amount lies in `[1 ETH, max_deposit_gwei(compounding)]`.
pub fn check_deposit_amount(amount: u64, compounding: bool) -> Result<(), DepositError> {
    if amount < MIN_DEPOSIT_GWEI {
        return Err(DepositError::AmountTooSmall { amount });
    }
    let max = max_deposit_gwei(compounding);
    if amount > max {
        return Err(DepositError::AmountTooLarge { amount, max });
    }
    Ok(())
}

/// charon's `VerifyDepositAmounts` for definition `deposit_amounts`: an empty
/// list is fine; otherwise every amount is in range and the sum is ≥ 32 ETH.
/// (v1.8 and v1.9 definitions are checked with `compounding = false`.)
pub fn verify_deposit_amounts(amounts: &[u64], compounding: bool) -> Result<(), DepositError> {
    if amounts.is_empty() {
        return Ok(());
    }
    let mut sum: u64 = 0;
    for &a in amounts {
        check_deposit_amount(a, compounding)?;
        sum = sum.saturating_add(a);
    }
    if sum < DEFAULT_DEPOSIT_GWEI {
        return Err(DepositError::AmountsSumTooSmall { sum });
    }
    Ok(())
}

/// Distinct amounts in ascending order (charon `DedupAmounts`).
pub fn dedup_amounts(amounts: &[u64]) -> Vec<u64> {
    let mut v = amounts.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

/// The amounts the DKG signs deposits for when the definition lists none:
/// `[1, 32]` ETH, or `[1, 8, 32, 256]` ETH when compounding.
pub fn default_deposit_amounts(compounding: bool) -> Vec<u64> {
    let eth: &[u64] = if compounding {
        &[1, 8, 32, 256]
    } else {
        &[1, 32]
    };
    eth.iter().map(|e| e * GWEI_PER_ETH).collect()
}

/// The deposit amounts a ceremony signs, in order: the definition's amounts
/// deduplicated and ascending; if none, the defaults for v1.8+
/// (`supports_partial_deposits`) or `[32 ETH]` for v1.6/v1.7.
pub fn ceremony_deposit_amounts(
    definition_amounts: &[u64],
    compounding: bool,
    supports_partial_deposits: bool,
) -> Vec<u64> {
    if !definition_amounts.is_empty() {
        dedup_amounts(definition_amounts)
    } else if supports_partial_deposits {
        default_deposit_amounts(compounding)
    } else {
        vec![DEFAULT_DEPOSIT_GWEI]
    }
}

/// Builds a deposit message, checking the amount (charon `deposit.NewMessage`).
pub fn new_deposit_message(
    pubkey: [u8; 48],
    withdrawal_address: [u8; 20],
    amount: u64,
    compounding: bool,
) -> Result<DepositMessage, DepositError> {
    check_deposit_amount(amount, compounding)?;
    Ok(DepositMessage {
        pubkey,
        withdrawal_credentials: withdrawal_credentials(withdrawal_address, compounding),
        amount,
    })
}

/// The root a deposit signature covers:
/// `signing_root(htr(DepositMessage), deposit_domain(genesis_fork_version))`.
pub fn deposit_signing_root(
    msg: &DepositMessage,
    genesis_fork_version: [u8; 4],
) -> Result<Root, DepositError> {
    let object = consensus::deposit_message_root(msg)?;
    let domain = consensus::deposit_domain(genesis_fork_version)?;
    Ok(consensus::signing_root(object, domain)?)
}

/// Signs a deposit message with a (full or share) key.
pub fn sign_deposit(
    msg: &DepositMessage,
    key: &SecretKey,
    genesis_fork_version: [u8; 4],
) -> Result<DepositData, DepositError> {
    let root = deposit_signing_root(msg, genesis_fork_version)?;
    Ok(DepositData {
        pubkey: msg.pubkey,
        withdrawal_credentials: msg.withdrawal_credentials,
        amount: msg.amount,
        signature: key.sign(&root).0,
    })
}

/// Verifies a deposit's BLS signature under its own pubkey on the network with
/// this genesis fork version.
pub fn verify_deposit(dd: &DepositData, genesis_fork_version: [u8; 4]) -> Result<(), DepositError> {
    let sig_err = |source| DepositError::Signature {
        pubkey: hex::encode(dd.pubkey),
        source,
    };
    let root = deposit_signing_root(&dd.message(), genesis_fork_version)?;
    let pk = PublicKey::from_bytes(&dd.pubkey).map_err(sig_err)?;
    let sig = Signature::from_bytes(&dd.signature).map_err(sig_err)?;
    bls::verify(&pk, &root, &sig).map_err(sig_err)
}

/// Verifies many deposits: batched (one multi-pairing per chunk, random
/// linear combination) and spread over the available cores. A failure names
/// the first bad deposit's pubkey.
pub fn verify_deposits(
    dds: &[DepositData],
    genesis_fork_version: [u8; 4],
) -> Result<(), DepositError> {
    if dds.len() <= 1 {
        return dds
            .iter()
            .try_for_each(|d| verify_deposit(d, genesis_fork_version));
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(dds.len().div_ceil(8));
    if threads <= 1 {
        return verify_deposit_batch(dds, genesis_fork_version);
    }
    let chunk = dds.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = dds
            .chunks(chunk)
            .map(|part| s.spawn(move || verify_deposit_batch(part, genesis_fork_version)))
            .collect();
        let mut result = Ok(());
        for h in handles {
            let r = h.join().unwrap_or(Err(DepositError::Worker));
            if result.is_ok() {
                result = r;
            }
        }
        result
    })
}

fn verify_deposit_batch(
    part: &[DepositData],
    genesis_fork_version: [u8; 4],
) -> Result<(), DepositError> {
    let sig_err = |d: &DepositData, source| DepositError::Signature {
        pubkey: hex::encode(d.pubkey),
        source,
    };
    let mut roots = Vec::with_capacity(part.len());
    let mut pks = Vec::with_capacity(part.len());
    let mut sigs = Vec::with_capacity(part.len());
    for d in part {
        roots.push(deposit_signing_root(&d.message(), genesis_fork_version)?);
        pks.push(PublicKey::from_bytes(&d.pubkey).map_err(|e| sig_err(d, e))?);
        sigs.push(Signature::from_bytes(&d.signature).map_err(|e| sig_err(d, e))?);
    }
    let items: Vec<bls::BatchItem<'_>> = pks
        .iter()
        .zip(&roots)
        .zip(&sigs)
        .map(|((public_key, root), signature)| bls::BatchItem {
            public_key,
            msg: root.as_slice(),
            signature,
        })
        .collect();
    bls::verify_batch(&items, &mut rand::rngs::OsRng).map_err(|e| match e {
        bls::BlsError::ItemVerify { position } | bls::BlsError::ItemEncoding { position, .. } => {
            match part.get(position) {
                Some(d) => sig_err(d, bls::BlsError::Verify),
                None => DepositError::Signature {
                    pubkey: String::from("(unknown)"),
                    source: bls::BlsError::Verify,
                },
            }
        }
        other => DepositError::Signature {
            pubkey: String::from("(batch)"),
            source: other,
        },
    })
}

/// Every deposit of a lock (validator order, then amount order) as
/// [`DepositData`], ready for [`write_deposit_files`]. Fails on a deposit
/// whose byte fields do not have their fixed lengths (such as the empty
/// deposits of some v1.6/v1.7 test locks).
pub fn deposits_from_lock(
    lock: &crate::lock::cluster::lockfile::Lock,
) -> Result<Vec<DepositData>, DepositError> {
    let mut out = Vec::new();
    for (i, dv) in lock.validators.iter().enumerate() {
        for (j, d) in dv.deposit_data.iter().enumerate() {
            let bad = |field: &str, len: usize| DepositError::File {
                path: PathBuf::from("cluster-lock.json"),
                reason: format!("validator {i} deposit {j}: {field} is {len} bytes"),
            };
            out.push(DepositData::try_from(d).map_err(|e| bad(e.field, e.len))?);
        }
    }
    Ok(out)
}

/// charon's deposit-data file name for an amount: `deposit-data.json` for
/// 32 ETH, else `deposit-data-<ETH>eth.json` with the ETH value in Go
/// `FormatFloat(x, 'f', -1, 64)` form (shortest round-trip, no exponent).
pub fn deposit_file_name(amount_gwei: u64) -> String {
    if amount_gwei == DEFAULT_DEPOSIT_GWEI {
        return "deposit-data.json".to_string();
    }
    // Rust's f64 Display prints the shortest round-trip digits without an
    // exponent, exactly like Go's 'f' format with precision -1.
    let eth = amount_gwei as f64 / GWEI_PER_ETH as f64;
    format!("deposit-data-{eth}eth.json")
}

/// One entry of a deposit-data file, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositFileEntry {
    /// The deposit.
    pub deposit: DepositData,
    /// Its genesis fork version.
    pub fork_version: [u8; 4],
    /// The network name written in the file.
    pub network_name: String,
}

/// Renders deposits as charon's deposit-data JSON bytes (sorted by pubkey,
/// one-space indent, no trailing newline), after checking every signature.
/// All deposits must share one amount.
pub fn marshal_deposit_data(
    dds: &[DepositData],
    network: &Network,
) -> Result<Vec<u8>, DepositError> {
    let out = render_deposit_data(dds, network)?;
    verify_deposits(dds, network.genesis_fork_version)?;
    Ok(out)
}

/// [`marshal_deposit_data`] without checking the signatures, for a caller
/// that has proved them another way: a DKG node combines each one from
/// partials it verified against public shares that reconstruct the
/// validator's key, which makes the combination the key's signature.
/// Checking it again would cost as much as a quarter of the node's BLS work.
pub fn render_deposit_data(
    dds: &[DepositData],
    network: &Network,
) -> Result<Vec<u8>, DepositError> {
    let first = dds.first().ok_or(DepositError::Empty)?;
    if let Some(other) = dds.iter().find(|d| d.amount != first.amount) {
        return Err(DepositError::File {
            path: PathBuf::from(deposit_file_name(first.amount)),
            reason: format!(
                "deposit data amounts differ ({} and {} gwei)",
                first.amount, other.amount
            ),
        });
    }
    let mut sorted: Vec<&DepositData> = dds.iter().collect();
    // Lowercase hex preserves byte order, so sorting bytes equals charon's
    // string sort.
    sorted.sort_by_key(|d| d.pubkey);
    let name = serde_json::to_string(network.name).map_err(|e| DepositError::File {
        path: PathBuf::new(),
        reason: e.to_string(),
    })?;
    let fork = hex::encode(network.genesis_fork_version);
    let mut out = String::with_capacity(sorted.len() * 720 + 4);
    out.push('[');
    for (i, d) in sorted.iter().enumerate() {
        let msg_root = consensus::deposit_message_root(&d.message())?;
        let data_root = consensus::deposit_data_root(d)?;
        if i > 0 {
            out.push(',');
        }
        out.push_str("\n {\n");
        let fields: [(&str, String); 9] = [
            ("pubkey", quoted(&hex::encode(d.pubkey))),
            (
                "withdrawal_credentials",
                quoted(&hex::encode(d.withdrawal_credentials)),
            ),
            ("amount", d.amount.to_string()),
            ("signature", quoted(&hex::encode(d.signature))),
            ("deposit_message_root", quoted(&hex::encode(msg_root))),
            ("deposit_data_root", quoted(&hex::encode(data_root))),
            ("fork_version", quoted(&fork)),
            ("network_name", name.clone()),
            ("deposit_cli_version", quoted(DEPOSIT_CLI_VERSION)),
        ];
        for (j, (k, v)) in fields.iter().enumerate() {
            out.push_str("  \"");
            out.push_str(k);
            out.push_str("\": ");
            out.push_str(v);
            if j + 1 < fields.len() {
                out.push(',');
            }
            out.push('\n');
        }
        out.push_str(" }");
    }
    out.push_str("\n]");
    Ok(out.into_bytes())
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

/// Writes one deposit-data file per distinct amount into `dir` (ascending
/// amounts), each checked and rendered by [`marshal_deposit_data`] before
/// anything is written. Files are created read-only (0444) and never
/// overwritten. Returns the paths written.
pub fn write_deposit_files(
    dir: &Path,
    dds: &[DepositData],
    network: &Network,
) -> Result<Vec<PathBuf>, DepositError> {
    if dds.is_empty() {
        return Err(DepositError::Empty);
    }
    let amounts = dedup_amounts(&dds.iter().map(|d| d.amount).collect::<Vec<_>>());
    let mut rendered = Vec::with_capacity(amounts.len());
    for amount in amounts {
        let group: Vec<DepositData> = dds.iter().filter(|d| d.amount == amount).copied().collect();
        let path = dir.join(deposit_file_name(amount));
        if path.exists() {
            return Err(DepositError::Exists(path));
        }
        rendered.push((path, marshal_deposit_data(&group, network)?));
    }
    let mut written = Vec::with_capacity(rendered.len());
    for (path, bytes) in rendered {
        if let Err(e) = write_deposit_file(&path, &bytes, 0o444) {
            remove_written(&written);
            return Err(e);
        }
        written.push(path);
    }
    Ok(written)
}

/// Writes one deposit file with [`write_new_file_atomic`]; an existing file
/// is [`DepositError::Exists`].
fn write_deposit_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DepositError> {
    write_new_file_atomic(path, bytes, mode).map_err(|(action, source)| {
        if action == "link" && source.kind() == std::io::ErrorKind::AlreadyExists {
            DepositError::Exists(path.to_path_buf())
        } else {
            DepositError::Io {
                action,
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

#[derive(serde::Deserialize)]
struct DepositFileJson {
    pubkey: String,
    withdrawal_credentials: String,
    amount: u64,
    signature: String,
    deposit_message_root: String,
    deposit_data_root: String,
    fork_version: String,
    network_name: String,
}

fn hex_n<const N: usize>(
    path: &Path,
    idx: usize,
    field: &str,
    s: &str,
) -> Result<[u8; N], DepositError> {
    let bad = |reason: String| DepositError::File {
        path: path.to_path_buf(),
        reason: format!("entry {idx}: {field}: {reason}"),
    };
    let s = s.strip_prefix("0x").unwrap_or(s);
    let v = hex::decode(s).map_err(|e| bad(format!("invalid hex: {e}")))?;
    v.as_slice()
        .try_into()
        .map_err(|_| bad(format!("expected {N} bytes, got {}", v.len())))
}

/// Reads a deposit-data file, checking each entry's message and data roots
/// against its fields. Signatures are not checked here; see [`verify_deposit`].
pub fn read_deposit_file(path: &Path) -> Result<Vec<DepositFileEntry>, DepositError> {
    let bytes = std::fs::read(path).map_err(|source| DepositError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    let raw: Vec<DepositFileJson> =
        serde_json::from_slice(&bytes).map_err(|e| DepositError::File {
            path: path.to_path_buf(),
            reason: format!("invalid JSON: {e}"),
        })?;
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let deposit = DepositData {
            pubkey: hex_n(path, i, "pubkey", &r.pubkey)?,
            withdrawal_credentials: hex_n(
                path,
                i,
                "withdrawal_credentials",
                &r.withdrawal_credentials,
            )?,
            amount: r.amount,
            signature: hex_n(path, i, "signature", &r.signature)?,
        };
        let msg_root: [u8; 32] = hex_n(path, i, "deposit_message_root", &r.deposit_message_root)?;
        let data_root: [u8; 32] = hex_n(path, i, "deposit_data_root", &r.deposit_data_root)?;
        if consensus::deposit_message_root(&deposit.message())? != msg_root {
            return Err(DepositError::File {
                path: path.to_path_buf(),
                reason: format!("entry {i}: deposit_message_root does not match the deposit"),
            });
        }
        if consensus::deposit_data_root(&deposit)? != data_root {
            return Err(DepositError::File {
                path: path.to_path_buf(),
                reason: format!("entry {i}: deposit_data_root does not match the deposit"),
            });
        }
        out.push(DepositFileEntry {
            deposit,
            fork_version: hex_n(path, i, "fork_version", &r.fork_version)?,
            network_name: r.network_name.clone(),
        });
    }
    Ok(out)
}
