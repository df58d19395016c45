//! The `verify` subcommand: checks a cluster lock, a cluster definition, or a
//! node's data directory the way charon does (plus deposit signatures).
//!
//! Exit codes: 0 accepted, 1 rejected (one line naming the failed check),
//! 2 unusable input (unreadable, not JSON, unknown version) or an execution
//! client that could not be asked about a contract-wallet signature.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cmd::execution_client::ExecutionClientArgs;
use crate::dkg::erc1271::{ContractCheckError, ExecutionClient};
use crate::lock::datadir::{self, DataDirError};
use crate::lock::network::NetworkSet;
use crate::lock::verify::{verify_definition_deferred, verify_lock_deferred};
use crate::lock::{
    Definition, Lock, ParseError, PendingContractSignatures, VerifyError, VerifyOptions,
    verify_definition, verify_lock,
};

/// Largest file `verify` reads; real locks with thousands of validators are a
/// few tens of megabytes.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Arguments of `verify`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["lock", "definition", "data_dir"])))]
pub struct Args {
    /// A cluster-lock.json to verify.
    #[arg(long, value_name = "FILE")]
    pub lock: Option<PathBuf>,
    /// A cluster-definition.json to verify.
    #[arg(long, value_name = "FILE")]
    pub definition: Option<PathBuf>,
    /// A node's data directory: its cluster-lock.json, validator_keys/ (which
    /// must decrypt to this node's shares) and deposit-data*.json files.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Accept the holesky network (removed in charon v1.11).
    #[arg(long)]
    pub holesky: bool,
    /// Skip the deposit-data checks charon does not make.
    #[arg(long)]
    pub skip_deposits: bool,
    #[command(flatten)]
    pub execution_client: ExecutionClientArgs,
}

/// The outcome of a `verify` run, before it becomes an exit code.
#[derive(Debug)]
pub enum Outcome {
    /// Everything checked out; a one-line summary.
    Accepted(String),
    /// A check failed; one line naming it.
    Rejected(String),
    /// The input could not be used; one line saying why.
    Unusable(String),
}

/// Runs `verify`.
pub fn run(args: Args) -> ExitCode {
    match check(&args) {
        Outcome::Accepted(msg) => {
            println!("{msg}");
            ExitCode::SUCCESS
        }
        Outcome::Rejected(msg) => {
            eprintln!("{msg}");
            ExitCode::from(1)
        }
        Outcome::Unusable(msg) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}

/// Performs the checks `args` ask for.
pub fn check(args: &Args) -> Outcome {
    let opts = VerifyOptions {
        networks: if args.holesky {
            NetworkSet::WITH_HOLESKY
        } else {
            NetworkSet::DEFAULT
        },
        check_deposits: !args.skip_deposits,
        registration_signatures: true,
    };
    let client = match args.execution_client.client() {
        Ok(c) => c,
        Err(e) => return Outcome::Unusable(format!("verify: {e}")),
    };
    let client = client.as_ref();
    if let Some(p) = &args.lock {
        return check_file(p, "lock", &opts, client);
    }
    if let Some(p) = &args.definition {
        return check_file(p, "definition", &opts, client);
    }
    if let Some(p) = &args.data_dir {
        return check_data_dir(p, &opts, client);
    }
    Outcome::Unusable("verify: give --lock, --definition or --data-dir".into())
}

/// Reads a file of at most [`MAX_FILE_BYTES`].
pub fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let f =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut buf = Vec::new();
    f.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "{} is larger than {} MiB; refusing to read it",
            path.display(),
            MAX_FILE_BYTES / 1024 / 1024
        ));
    }
    Ok(buf)
}

fn parse_outcome(path: &Path, kind: &str, e: ParseError) -> Outcome {
    match e {
        // The file is a well-formed document of a known version that breaks
        // one of charon's read-time rules: a rejection, not unusable input.
        ParseError::Rule(msg) => {
            Outcome::Rejected(format!("{kind} rejected: {msg} ({})", path.display()))
        }
        e => Outcome::Unusable(format!("cannot use {kind} {}: {e}", path.display())),
    }
}

/// Puts the signatures only a contract can vouch for to their contracts; a
/// runtime is started only when there are some.
fn check_contracts(
    client: &ExecutionClient,
    pending: PendingContractSignatures,
) -> Result<(), Outcome> {
    if pending.is_empty() {
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Outcome::Unusable(format!("verify: cannot start the async runtime: {e}")))?;
    rt.block_on(client.check(pending)).map_err(|e| match e {
        ContractCheckError::Rejected(v) => Outcome::Rejected(v.to_string()),
        e @ ContractCheckError::Endpoint { .. } => Outcome::Unusable(format!("verify: {e}")),
    })
}

/// `file`'s plain verification, or with a client the deferred one followed
/// by the contract checks.
fn verified<F>(
    client: Option<&ExecutionClient>,
    file: &F,
    opts: &VerifyOptions,
    plain: fn(&F, &VerifyOptions) -> Result<(), VerifyError>,
    deferred: fn(&F, &VerifyOptions) -> Result<PendingContractSignatures, VerifyError>,
) -> Result<(), Outcome> {
    let rejected = |e: VerifyError| Outcome::Rejected(e.to_string());
    match client {
        None => plain(file, opts).map_err(rejected),
        Some(c) => check_contracts(c, deferred(file, opts).map_err(rejected)?),
    }
}

/// A parsed `--lock` or `--definition` file.
enum ClusterFile {
    Lock(Lock),
    Definition(Definition),
}

/// Reads, parses and verifies a lock (`kind` "lock") or a definition
/// ("definition"); both are summed up in the same words.
fn check_file(
    path: &Path,
    kind: &str,
    opts: &VerifyOptions,
    client: Option<&ExecutionClient>,
) -> Outcome {
    let bytes = match read_limited(path) {
        Ok(b) => b,
        Err(e) => return Outcome::Unusable(e),
    };
    let parsed = if kind == "lock" {
        Lock::from_json(&bytes).map(ClusterFile::Lock)
    } else {
        Definition::from_json(&bytes).map(ClusterFile::Definition)
    };
    let file = match parsed {
        Ok(f) => f,
        Err(e) => return parse_outcome(path, kind, e),
    };
    let (res, def, validators, hash_name, hash) = match &file {
        ClusterFile::Lock(l) => (
            verified(client, l, opts, verify_lock, verify_lock_deferred),
            &l.definition,
            l.validators.len() as u64,
            "lock",
            &l.lock_hash,
        ),
        ClusterFile::Definition(d) => (
            verified(
                client,
                d,
                opts,
                verify_definition,
                verify_definition_deferred,
            ),
            d,
            d.num_validators,
            "config",
            &d.config_hash,
        ),
    };
    match res {
        Ok(()) => Outcome::Accepted(format!(
            "{kind} accepted: {} ({}), {validators} validators, {} operators, threshold {}, {hash_name} hash 0x{}",
            display_name(def),
            def.version,
            def.operators.len(),
            def.threshold,
            hex::encode(hash)
        )),
        Err(o) => o,
    }
}

fn display_name(d: &Definition) -> String {
    if d.name.is_empty() {
        "unnamed cluster".into()
    } else {
        format!("{:?}", d.name)
    }
}

fn data_dir_outcome(e: DataDirError) -> Outcome {
    match e {
        DataDirError::Unusable(msg) => Outcome::Unusable(msg),
        DataDirError::Rejected(msg) => Outcome::Rejected(msg),
    }
}

fn check_data_dir(dir: &Path, opts: &VerifyOptions, client: Option<&ExecutionClient>) -> Outcome {
    let res = match client {
        None => datadir::verify_data_dir(dir, opts).map_err(data_dir_outcome),
        Some(c) => datadir::verify_data_dir_deferred(dir, opts)
            .map_err(data_dir_outcome)
            .and_then(|(r, pending)| check_contracts(c, pending).map(|()| r)),
    };
    match res {
        Ok(r) => Outcome::Accepted(format!(
            "data directory accepted: node {} of {}, {} keystores match its shares, {} deposit files match the lock, lock hash 0x{}",
            r.node_index,
            r.operators,
            r.keystores,
            r.deposit_files,
            hex::encode(&r.lock_hash)
        )),
        Err(o) => o,
    }
}
