//! Everything charon dkg checks before any networking (its pre-flight): loading
//! and verifying the definition, the version gate, threshold, deposit amounts,
//! the network, and what the ceremony derives from the definition.

use std::time::Duration;

use super::erc1271::{ContractCheckError, ExecutionClient};
use crate::lock::contract::PendingContractSignatures;
use crate::lock::definition::{Definition, verify_deposit_amounts};
use crate::lock::network::{Network, NetworkSet};
use crate::lock::verify::{
    VerifyOptions, verify_definition_hashes, verify_definition_signatures,
    verify_definition_signatures_deferred,
};
use crate::lock::version::Version;

/// 1 ETH in gwei.
pub const ETH: u64 = crate::lock::deposit::GWEI_PER_ETH;
/// Gas limit of builder registrations when the definition sets none.
pub const DEFAULT_GAS_LIMIT: u64 = 30_000_000;
/// Largest definition accepted over HTTP, as charon.
const MAX_DEFINITION_BYTES: usize = 16 << 20;

/// Why the definition cannot be used for a ceremony.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// The definition file could not be read.
    #[error("read cluster definition {path}: {reason}")]
    Read {
        /// Path or URL.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The definition does not parse.
    #[error("parse cluster definition {path}: {source}")]
    Parse {
        /// Path or URL.
        path: String,
        /// The parse error.
        source: crate::lock::error::ParseError,
    },
    /// Hashes or signatures are wrong (and --no-verify was not given).
    #[error(
        "verify cluster definition {what} (run with --no-verify to bypass at own risk): {source}"
    )]
    Verify {
        /// "hashes" or "signatures".
        what: &'static str,
        /// The failed check.
        source: crate::lock::error::VerifyError,
    },
    /// The execution client could not be asked about a contract-wallet
    /// signature (it gave no verdict, so this is not a rejection).
    #[error(transparent)]
    ExecutionClient(ContractCheckError),
    /// A rule of charon dkg's pre-flight.
    #[error("{0}")]
    Rule(String),
}

/// Reads a definition from a path, or from an HTTP(S) URL (10 s timeout, 16 MiB).
pub async fn load_definition_bytes(source: &str) -> Result<Vec<u8>, PreflightError> {
    let read_err = |reason: String| PreflightError::Read {
        path: source.to_string(),
        reason,
    };
    if source.starts_with("http://") || source.starts_with("https://") {
        if source.starts_with("http://") {
            tracing::warn!(url = source, "Definition URL is not HTTPS");
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| read_err(e.to_string()))?;
        let mut resp = client
            .get(source)
            .send()
            .await
            .map_err(|e| read_err(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(read_err(format!("HTTP status {}", resp.status())));
        }
        // The cap holds while reading: a server cannot make us buffer more.
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| read_err(e.to_string()))? {
            if body.len() + chunk.len() > MAX_DEFINITION_BYTES {
                return Err(read_err("larger than 16 MiB".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    } else {
        let meta = std::fs::metadata(source).map_err(|e| read_err(e.to_string()))?;
        if meta.len() > MAX_DEFINITION_BYTES as u64 {
            return Err(read_err("larger than 16 MiB".into()));
        }
        std::fs::read(source).map_err(|e| read_err(e.to_string()))
    }
}

/// What the ceremony needs from a checked definition.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The definition, with hashes set.
    pub definition: Definition,
    /// Its network.
    pub network: Network,
    /// The deposit amounts in gwei, deduplicated and ascending.
    pub deposit_amounts: Vec<u64>,
    /// The definition hash.
    pub definition_hash: [u8; 32],
}

/// Parses and checks a definition exactly as charon dkg's pre-flight does
/// without an execution client: a contract-wallet signature is rejected.
/// `max_version` is v1.11 (or v1.10 in compat mode).
pub fn check_definition(
    path: &str,
    bytes: &[u8],
    no_verify: bool,
    networks: NetworkSet,
    max_version: Version,
) -> Result<Checked, PreflightError> {
    // Without deferral nothing is pending: contract signatures were rejected.
    let (def, _) = parse_and_verify(path, bytes, no_verify, networks, false)?;
    apply_rules(def, networks, max_version)
}

/// [`check_definition`] with charon's `--execution-client-rpc-endpoint`:
/// signatures that are not valid EOA signatures are put to their signer's
/// contract (ERC-1271) right after the offline signature checks, where
/// charon asks too.
pub async fn check_definition_with(
    path: &str,
    bytes: &[u8],
    no_verify: bool,
    networks: NetworkSet,
    max_version: Version,
    execution_client: Option<&ExecutionClient>,
) -> Result<Checked, PreflightError> {
    let Some(client) = execution_client else {
        return check_definition(path, bytes, no_verify, networks, max_version);
    };
    let (def, pending) = parse_and_verify(path, bytes, no_verify, networks, true)?;
    match client.check(pending).await {
        Ok(()) => {}
        Err(e) if no_verify => {
            tracing::warn!(error = %e, "Ignoring failed definition signatures check (--no-verify)");
        }
        Err(ContractCheckError::Rejected(source)) => {
            return Err(PreflightError::Verify {
                what: "signatures",
                source,
            });
        }
        Err(e @ ContractCheckError::Endpoint { .. }) => {
            return Err(PreflightError::ExecutionClient(e));
        }
    }
    apply_rules(def, networks, max_version)
}

/// Parses, then verifies hashes and signatures (a warning each with
/// `no_verify`). With `defer`, contract-wallet signatures are returned.
fn parse_and_verify(
    path: &str,
    bytes: &[u8],
    no_verify: bool,
    networks: NetworkSet,
    defer: bool,
) -> Result<(Definition, PendingContractSignatures), PreflightError> {
    let def = Definition::from_json(bytes).map_err(|source| PreflightError::Parse {
        path: path.to_string(),
        source,
    })?;
    let opts = VerifyOptions {
        networks,
        check_deposits: true,
        registration_signatures: true,
    };
    let mut pending = PendingContractSignatures::default();
    let hashes = verify_definition_hashes(&def);
    let signatures = if defer {
        verify_definition_signatures_deferred(&def, &opts).map(|p| pending = p)
    } else {
        verify_definition_signatures(&def, &opts)
    };
    for (what, res) in [("hashes", hashes), ("signatures", signatures)] {
        if let Err(source) = res {
            if no_verify {
                tracing::warn!(error = %source, "Ignoring failed definition {what} check (--no-verify)");
            } else {
                return Err(PreflightError::Verify { what, source });
            }
        }
    }
    Ok((def, pending))
}

/// charon dkg's rules after verification: hashes set, deposit amounts,
/// version, threshold, algorithm, network.
fn apply_rules(
    def: Definition,
    networks: NetworkSet,
    max_version: Version,
) -> Result<Checked, PreflightError> {
    let definition = if def.definition_hash.is_empty() {
        def.with_hashes()
            .map_err(|e| PreflightError::Rule(format!("compute definition hashes: {e}")))?
    } else {
        def
    };
    if !definition
        .deposit_amounts
        .as_deref()
        .unwrap_or_default()
        .is_empty()
    {
        verify_deposit_amounts(
            definition.deposit_amounts.as_deref().unwrap_or_default(),
            definition.compounding,
        )
        .map_err(PreflightError::Rule)?;
    }
    if definition.version < Version::V1_6 || definition.version > max_version {
        return Err(PreflightError::Rule(format!(
            "definition version {} not supported by the DKG: only v1.6.0 to {} are",
            definition.version.as_str(),
            max_version.as_str()
        )));
    }
    check_threshold(definition.threshold, definition.operators.len())?;
    if definition.num_validators == 0 {
        return Err(PreflightError::Rule("definition has no validators".into()));
    }
    if !matches!(definition.dkg_algorithm.as_str(), "default" | "frost") {
        return Err(PreflightError::Rule(format!(
            "unsupported dkg algorithm {:?}: this node runs FROST (\"default\" or \"frost\")",
            definition.dkg_algorithm
        )));
    }
    let network = networks
        .by_fork_version(&definition.fork_version)
        .ok_or_else(|| {
            PreflightError::Rule(format!(
                "unknown fork version 0x{} (not a network this node knows)",
                hex::encode(&definition.fork_version)
            ))
        })?;
    let deposit_amounts = deposit_amounts(&definition);
    let definition_hash: [u8; 32] = definition
        .definition_hash
        .as_slice()
        .try_into()
        .map_err(|_| PreflightError::Rule("definition hash is not 32 bytes".into()))?;
    Ok(Checked {
        definition,
        network,
        deposit_amounts,
        definition_hash,
    })
}

/// charon's threshold rules: at least 2, at most n; other than ceil(2n/3) warns.
pub fn check_threshold(threshold: u64, n: usize) -> Result<(), PreflightError> {
    if threshold < 2 {
        return Err(PreflightError::Rule(format!(
            "threshold below minimum: {threshold} < 2"
        )));
    }
    if threshold > n as u64 {
        return Err(PreflightError::Rule(format!(
            "threshold exceeds number of operators: {threshold} > {n}"
        )));
    }
    let safe = (2 * n as u64).div_ceil(3);
    if threshold != safe {
        tracing::warn!(threshold, recommended = safe, "Non-standard threshold");
    }
    Ok(())
}

/// The amounts the DKG creates deposits for: the definition's, deduplicated and
/// ascending, or charon's defaults ([1, 32] ETH, [1, 8, 32, 256] ETH when
/// compounding, [32] ETH before v1.8).
pub fn deposit_amounts(def: &Definition) -> Vec<u64> {
    crate::lock::deposit::ceremony_deposit_amounts(
        def.deposit_amounts.as_deref().unwrap_or_default(),
        def.compounding,
        def.version.has_partial_deposits(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that sends more than the cap and then keeps the connection
    /// open without finishing the body: only a reader that enforces the cap
    /// while streaming answers "larger than 16 MiB" (one that reads the whole
    /// body first would wait for the request timeout instead).
    #[tokio::test]
    async fn definition_url_body_is_capped_while_streaming() {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = tokio::io::AsyncReadExt::read(&mut sock, &mut buf).await;
            let len = MAX_DEFINITION_BYTES * 2;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
            sock.write_all(head.as_bytes()).await.unwrap();
            let chunk = vec![b' '; 1 << 20];
            for _ in 0..(MAX_DEFINITION_BYTES >> 20) + 1 {
                if sock.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            // Hold the connection open, the body unfinished.
            let _ = done_rx.await;
        });
        let err = load_definition_bytes(&format!("http://{addr}/def"))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("larger than 16 MiB"), "{err}");
        let _ = done_tx.send(());
        server.await.unwrap();
    }

    fn vector(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/../shared/vectors/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn charon_testdata_definitions_meet_the_dkg_rules() {
        let check = |name: &str, no_verify: bool| {
            check_definition(
                name,
                &vector(name),
                no_verify,
                NetworkSet::DEFAULT,
                Version::V1_11,
            )
            .map(|_| ())
            .unwrap_err()
            .to_string()
        };
        // v1.5 predates the DKG's version gate.
        let e = check(
            "charon__cluster__testdata__cluster_definition_v1_5_0.json",
            true,
        );
        assert!(e.contains("not supported by the DKG"), "{e}");
        // The testdata signatures are random filler: rejected unless --no-verify,
        // and then its threshold of 3 with 2 operators is refused.
        let name = "charon__cluster__testdata__cluster_definition_v1_10_0.json";
        let e = check(name, false);
        assert!(e.contains("--no-verify"), "{e}");
        let e = check(name, true);
        assert!(e.contains("threshold exceeds number of operators"), "{e}");
    }

    #[test]
    fn thresholds() {
        assert!(check_threshold(1, 4).is_err());
        assert!(check_threshold(5, 4).is_err());
        check_threshold(3, 4).unwrap();
        check_threshold(2, 4).unwrap();
    }

    #[test]
    fn amounts_default_and_dedup() {
        let name = "charon__cluster__testdata__cluster_definition_v1_10_0.json";
        let mut d = Definition::from_json(&vector(name)).unwrap();
        d.deposit_amounts = Some(vec![32 * ETH, ETH, 32 * ETH]);
        assert_eq!(deposit_amounts(&d), vec![ETH, 32 * ETH]);
        d.deposit_amounts = None;
        d.compounding = true;
        assert_eq!(deposit_amounts(&d), vec![ETH, 8 * ETH, 32 * ETH, 256 * ETH]);
        d.version = Version::V1_7;
        assert_eq!(deposit_amounts(&d), vec![32 * ETH]);
    }
}
