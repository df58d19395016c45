//! The validated configuration the sidecar runs with.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use crate::dkg::erc1271::{Erc1271Error, ExecutionClient};
use crate::sidecar::backoff::BackoffPolicy;

/// Log verbosity, as the original sidecar named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Everything, including per-page details.
    Debug,
    /// Progress messages (default).
    Info,
    /// Problems that the sidecar recovers from.
    Warn,
    /// Only failures.
    Error,
}

impl LogLevel {
    /// The `tracing` filter directive for this level.
    pub fn as_filter(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// Validated settings of the embedded DKG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkgSettings {
    /// Relay URLs or multiaddrs.
    pub relays: Vec<String>,
    /// TCP listen addresses.
    pub tcp_addresses: Vec<String>,
    /// Public IP advertised to peers.
    pub external_ip: Option<String>,
    /// Public host name advertised to peers.
    pub external_hostname: Option<String>,
    /// Overall ceremony timeout.
    pub timeout: Duration,
    /// Whether to publish the lock to the Obol API.
    pub publish: bool,
    /// Base URL the lock is published to (e.g. `https://api.obol.tech/v1`).
    pub publish_address: String,
    /// Timeout of the publication.
    pub publish_timeout: Duration,
    /// Delay after the ceremony.
    pub shutdown_delay: Duration,
    /// Node nickname.
    pub nickname: Option<String>,
    /// Execution client RPC endpoint.
    pub execution_client_rpc_endpoint: Option<String>,
}

impl DkgSettings {
    /// The client for CHARON_EXECUTION_CLIENT_RPC_ENDPOINT, if one is set.
    pub fn execution_client(&self) -> Result<Option<ExecutionClient>, Erc1271Error> {
        ExecutionClient::optional(self.execution_client_rpc_endpoint.as_deref())
    }
}

/// Fully validated sidecar configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Operator address exactly as configured (checksummed or not).
    pub operator_address: String,
    /// Public ENR file; optional at run time.
    pub enr_file: PathBuf,
    /// Where the definition is written for the DKG.
    pub output_definition_file: PathBuf,
    /// Obol API base URL without a trailing slash or `/v1` suffix.
    pub api_endpoint: Url,
    /// Charon data directory.
    pub data_dir: PathBuf,
    /// ENR private key file.
    pub enr_private_key_file: PathBuf,
    /// Operator private key file enabling automatic acceptance.
    pub operator_private_key_file: Option<PathBuf>,
    /// Creators (lower-case `0x` addresses) whose definitions are authorised.
    pub accept_invitations_from: Vec<String>,
    /// Lower-case `0x` config hash to restrict selection to.
    pub target_config_hash: Option<String>,
    /// Lower-case `0x` lock hash to fetch instead of running a DKG.
    pub lock_hash: Option<String>,
    /// Expected chain id.
    pub chain_id: Option<u64>,
    /// Wait between polling cycles.
    pub backoff: BackoffPolicy,
    /// Definitions per page.
    pub page_limit: u32,
    /// Log level.
    pub log_level: LogLevel,
    /// Per-request timeout of the Obol API client.
    pub api_timeout: Duration,
    /// Settings passed to the embedded DKG.
    pub dkg: DkgSettings,
}

/// A configuration value that cannot be used; the message names the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// Why an operator key alone is refused: anyone can publish a definition that
/// lists an operator's address, so the key would sign a stranger's cluster.
pub const NO_POLICY: &str = "OPERATOR_PRIVATE_KEY_FILE is set but no acceptance policy is: anyone can publish a definition naming your operator address, so the sidecar will only accept a definition you authorise. Set TARGET_CONFIG_HASH (this one cluster) or ACCEPT_INVITATIONS_FROM (comma-separated creator addresses you trust), or both";
