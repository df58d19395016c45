//! The `create` subcommands: an ENR key for an operator, and a cluster
//! definition for a self-organised or local cluster.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::lock::create::{CreateOptions, check_options, new_definition};
use crate::lock::definition::Operator;
use crate::lock::enr::Enr;
use crate::lock::k1::{self, K1Secret};
use crate::lock::network::NetworkSet;
use crate::lock::version::Version;
use crate::p2p::identity::EnrPrivateKey;

/// What to create.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create an ENR private key (charon-enr-private-key) and print the ENR.
    Enr(EnrArgs),
    /// Create a cluster definition for a DKG from the operators' ENRs.
    Dkg(Box<DkgArgs>),
}

/// Arguments of `create enr`.
#[derive(clap::Args, Debug)]
pub struct EnrArgs {
    /// Directory to write charon-enr-private-key to (created if missing).
    #[arg(long, env = "CHARON_DATA_DIR", default_value = ".charon")]
    pub data_dir: PathBuf,
}

/// Arguments of `create dkg`.
#[derive(clap::Args, Debug)]
pub struct DkgArgs {
    /// Operators' ENRs, comma-separated, in operator order.
    #[arg(long, value_delimiter = ',', required = true)]
    pub operator_enrs: Vec<String>,
    /// Number of distributed validators to create.
    #[arg(long, default_value_t = 1)]
    pub num_validators: usize,
    /// Signing threshold; default ceil(2n/3).
    #[arg(long)]
    pub threshold: Option<usize>,
    /// Network: mainnet, hoodi, sepolia, gnosis, chiado, goerli (holesky with --compat v1.10).
    #[arg(long, default_value = "hoodi")]
    pub network: String,
    /// Fee recipient address(es): one for all validators or one per validator.
    #[arg(long, value_delimiter = ',', required = true)]
    pub fee_recipient_addresses: Vec<String>,
    /// Withdrawal address(es): one for all validators or one per validator.
    #[arg(long, value_delimiter = ',', required = true)]
    pub withdrawal_addresses: Vec<String>,
    /// Deposit amounts in ETH (partial deposits), e.g. 1,31; default [1, 32].
    #[arg(long, value_delimiter = ',')]
    pub deposit_amounts: Vec<u64>,
    /// Use 0x02 compounding withdrawal credentials.
    #[arg(long)]
    pub compounding: bool,
    /// Target gas limit of builder registrations.
    #[arg(long, default_value_t = 60_000_000)]
    pub target_gas_limit: u64,
    /// Cluster name.
    #[arg(long, default_value = "")]
    pub name: String,
    /// Definition version: v1.10.0 or v1.11.0.
    #[arg(long, default_value = "v1.11.0")]
    pub dkg_version: String,
    /// Where to write cluster-definition.json.
    #[arg(long, default_value = ".charon")]
    pub output_dir: PathBuf,
}

/// Runs a `create` subcommand.
pub fn run(cmd: Command) -> ExitCode {
    let r = match cmd {
        Command::Enr(a) => create_enr(&a),
        Command::Dkg(a) => create_dkg(&a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("create failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// Creates the key (refusing to overwrite one) and returns its ENR.
pub fn new_enr_key(data_dir: &std::path::Path) -> Result<(EnrPrivateKey, String), String> {
    if data_dir.join(crate::p2p::identity::KEY_FILE_NAME).exists() {
        return Err(format!(
            "{} already exists in {}; refusing to overwrite an operator key",
            crate::p2p::identity::KEY_FILE_NAME,
            data_dir.display()
        ));
    }
    std::fs::create_dir_all(data_dir).map_err(|e| format!("create {}: {e}", data_dir.display()))?;
    let key = EnrPrivateKey::generate();
    key.save(data_dir).map_err(|e| e.to_string())?;
    let enr = enr_of(&key)?;
    Ok((key, enr))
}

/// The ENR charon would write for this key (no addresses).
pub fn enr_of(key: &EnrPrivateKey) -> Result<String, String> {
    let secret = K1Secret::from_bytes(key.to_bytes().as_slice()).map_err(|e| e.to_string())?;
    Ok(Enr::new(&secret, None, None, None)
        .map_err(|e| e.to_string())?
        .to_string())
}

fn create_enr(a: &EnrArgs) -> Result<(), String> {
    let (_, enr) = new_enr_key(&a.data_dir)?;
    println!(
        "Created ENR private key: {}",
        a.data_dir
            .join(crate::p2p::identity::KEY_FILE_NAME)
            .display()
    );
    println!("{enr}");
    Ok(())
}

/// Builds the definition bytes `create dkg` writes.
pub fn definition_json(a: &DkgArgs) -> Result<Vec<u8>, String> {
    let version = Version::parse(&a.dkg_version)
        .filter(|v| *v >= Version::V1_10)
        .ok_or_else(|| format!("--dkg-version {:?}: use v1.10.0 or v1.11.0", a.dkg_version))?;
    let network = NetworkSet::DEFAULT
        .by_name(&a.network)
        .ok_or_else(|| format!("unknown --network {:?}", a.network))?;
    for (i, e) in a.operator_enrs.iter().enumerate() {
        Enr::parse(e).map_err(|err| format!("operator {i} ENR: {err}"))?;
    }
    let addrs = |list: &[String], what: &str| -> Result<Vec<[u8; 20]>, String> {
        list.iter()
            .map(|s| k1::parse_address(s).map_err(|e| format!("{what} {s:?}: {e}")))
            .collect()
    };
    let mut o = CreateOptions::new(
        network,
        a.operator_enrs.len(),
        a.num_validators,
        [0; 20],
        [0; 20],
    );
    o.version = version;
    o.threshold = a.threshold;
    o.name = a.name.clone();
    o.fee_recipients = addrs(&a.fee_recipient_addresses, "fee recipient")?;
    o.withdrawal_addresses = addrs(&a.withdrawal_addresses, "withdrawal address")?;
    o.deposit_amounts = a
        .deposit_amounts
        .iter()
        .map(|&eth| {
            // Unchecked, 36028797018964000 ETH wrapped to exactly 32 ETH.
            eth.checked_mul(1_000_000_000)
                .ok_or_else(|| format!("--deposit-amounts: {eth} ETH is out of range"))
        })
        .collect::<Result<_, _>>()?;
    o.compounding = a.compounding;
    o.target_gas_limit = a.target_gas_limit;
    let t = check_options(&o).map_err(|e| e.to_string())?;
    if !o.deposit_amounts.is_empty() {
        crate::lock::definition::verify_deposit_amounts(&o.deposit_amounts, o.compounding)?;
    }
    let operators = a
        .operator_enrs
        .iter()
        .map(|e| Operator {
            enr: e.clone(),
            ..Operator::default()
        })
        .collect();
    let def =
        new_definition(&o, t, operators, &mut rand::rngs::OsRng).map_err(|e| e.to_string())?;
    def.to_json().map_err(|e| e.to_string())
}

fn create_dkg(a: &DkgArgs) -> Result<(), String> {
    let json = definition_json(a)?;
    std::fs::create_dir_all(&a.output_dir)
        .map_err(|e| format!("create {}: {e}", a.output_dir.display()))?;
    let path = a.output_dir.join("cluster-definition.json");
    if path.exists() {
        return Err(format!(
            "{} already exists; refusing to overwrite",
            path.display()
        ));
    }
    std::fs::write(&path, json).map_err(|e| format!("write {}: {e}", path.display()))?;
    println!("Created cluster definition: {}", path.display());
    Ok(())
}
