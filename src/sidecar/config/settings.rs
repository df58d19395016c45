//! The sidecar's raw settings as clap reads them from flags and environment.

use std::path::PathBuf;

/// Default Obol API base URL.
pub const DEFAULT_API_ENDPOINT: &str = "https://api.obol.tech";
/// Charon's default DKG relay.
pub const DEFAULT_DKG_RELAY: &str = "https://4.relay.obol.dev";

/// Raw settings as given by flags or environment, before validation.
///
/// Numbers are taken as text so that a bad value is reported with the name of
/// the environment variable an operator actually sets.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Settings {
    /// Ethereum address of this node's operator, as invited on the Launchpad (required).
    #[arg(long, env = "OPERATOR_ADDRESS", value_name = "0xADDRESS")]
    pub operator_address: Option<String>,

    /// File holding this node's public ENR (`enr:-...`); when it exists it must
    /// match the ENR derived from the ENR private key.
    #[arg(long, env = "ENR_FILE_PATH", default_value = "/enr-from-job/enr.txt")]
    pub enr_file_path: PathBuf,

    /// Where the fully signed cluster definition is written before the DKG.
    #[arg(
        long,
        env = "OUTPUT_DEFINITION_FILE",
        default_value = "/charon-data/cluster-definition.json"
    )]
    pub output_definition_file: PathBuf,

    /// Obol API base URL (a legacy value ending in `/v1/definition/operator/...` is accepted).
    #[arg(long, env = "API_ENDPOINT", default_value = DEFAULT_API_ENDPOINT)]
    pub api_endpoint: String,

    /// Charon data directory: the DKG writes cluster-lock.json, validator_keys/ and deposit data here.
    #[arg(long, env = "CHARON_NODE_ID_DIR", default_value = "/charon-data")]
    pub charon_node_id_dir: PathBuf,

    /// The node's ENR private key (hex secp256k1); copied into the data directory if it lives elsewhere.
    #[arg(
        long,
        env = "CHARON_PRIVATE_KEY_FILE",
        default_value = "/charon-data/charon-enr-private-key"
    )]
    pub charon_private_key_file: PathBuf,

    /// Seconds to wait after the first unsuccessful polling cycle.
    #[arg(long, env = "INITIAL_RETRY_INTERVAL_SECONDS", default_value = "10")]
    pub initial_retry_interval_seconds: String,

    /// Upper bound of the wait between polling cycles, in seconds.
    #[arg(long, env = "MAX_RETRY_INTERVAL_SECONDS", default_value = "300")]
    pub max_retry_interval_seconds: String,

    /// Factor the wait grows by after each cycle without progress (may be fractional, at least 1).
    #[arg(long, env = "BACKOFF_FACTOR", default_value = "2")]
    pub backoff_factor: String,

    /// Definitions requested per page from the Obol API.
    #[arg(long, env = "PAGE_LIMIT", default_value = "10")]
    pub page_limit: String,

    /// Log level: DEBUG, INFO, WARN or ERROR (case-insensitive).
    #[arg(long, env = "LOG_LEVEL", default_value = "INFO")]
    pub log_level: String,

    /// Only ever use the definition with this config hash (0x + 64 hex); also finds
    /// ENR-mode definitions that cannot be found by operator address.
    #[arg(long, env = "TARGET_CONFIG_HASH", value_name = "0xHASH")]
    pub target_config_hash: Option<String>,

    /// Hex secp256k1 private key of the operator's Ethereum address; when set, invitations
    /// authorised by TARGET_CONFIG_HASH or ACCEPT_INVITATIONS_FROM are accepted automatically
    /// (terms and conditions, ENR and config-hash signatures). Requires one of the two.
    #[arg(long, env = "OPERATOR_PRIVATE_KEY_FILE")]
    pub operator_private_key_file: Option<PathBuf>,

    /// Comma-separated creator addresses whose invitations may be accepted automatically and
    /// whose fully signed definitions may be used; anyone can publish a definition naming an
    /// operator, so without a policy an operator key would sign whatever appears first.
    #[arg(
        long,
        env = "ACCEPT_INVITATIONS_FROM",
        value_delimiter = ',',
        value_name = "0xADDRESS,..."
    )]
    pub accept_invitations_from: Vec<String>,

    /// Fetch this cluster lock (0x + 64 hex) from the Obol API instead of running a DKG;
    /// `<data-dir>/lockhash` (written by the dv-pod chart) is used when this is unset.
    #[arg(long, env = "LOCK_HASH", value_name = "0xHASH")]
    pub lock_hash: Option<String>,

    /// Execution-layer chain id of the expected network; definitions for another chain are ignored.
    #[arg(long, env = "CHAIN_ID")]
    pub chain_id: Option<String>,

    /// Timeout of each Obol API request, in seconds.
    #[arg(long, env = "API_TIMEOUT_SECONDS", default_value = "30")]
    pub api_timeout_seconds: String,

    #[command(flatten)]
    pub dkg: DkgFlags,
}

/// Raw DKG settings under charon's own names, so a `charon dkg` environment carries over.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DkgFlags {
    /// Comma-separated relay URLs or multiaddrs used to reach the other operators.
    #[arg(long = "p2p-relays", env = "CHARON_P2P_RELAYS", value_delimiter = ',', default_value = DEFAULT_DKG_RELAY)]
    pub p2p_relays: Vec<String>,

    /// Comma-separated TCP listen addresses (host:port) for direct connections.
    #[arg(
        long = "p2p-tcp-address",
        env = "CHARON_P2P_TCP_ADDRESS",
        value_delimiter = ','
    )]
    pub p2p_tcp_address: Vec<String>,

    /// Public IP address advertised to peers.
    #[arg(long = "p2p-external-ip", env = "CHARON_P2P_EXTERNAL_IP")]
    pub p2p_external_ip: Option<String>,

    /// Public DNS name advertised to peers.
    #[arg(long = "p2p-external-hostname", env = "CHARON_P2P_EXTERNAL_HOSTNAME")]
    pub p2p_external_hostname: Option<String>,

    /// Overall ceremony timeout (Go duration such as 2m, 90s, 1m30s).
    #[arg(long = "timeout", env = "CHARON_TIMEOUT", default_value = "2m")]
    pub timeout: String,

    /// Publish the resulting lock to the Obol API.
    #[arg(long = "publish", env = "CHARON_PUBLISH", default_value = "false")]
    pub publish: String,

    /// API the lock is published to (defaults to API_ENDPOINT + /v1).
    #[arg(long = "publish-address", env = "CHARON_PUBLISH_ADDRESS")]
    pub publish_address: Option<String>,

    /// Timeout of the lock publication (Go duration).
    #[arg(
        long = "publish-timeout",
        env = "CHARON_PUBLISH_TIMEOUT",
        default_value = "1m"
    )]
    pub publish_timeout: String,

    /// Wait after the ceremony so that slower peers can finish (Go duration).
    #[arg(
        long = "shutdown-delay",
        env = "CHARON_SHUTDOWN_DELAY",
        default_value = "5s"
    )]
    pub shutdown_delay: String,

    /// Human-readable node nickname shown to peers (at most 32 characters).
    #[arg(long = "nickname", env = "CHARON_NICKNAME")]
    pub nickname: Option<String>,

    /// Execution client JSON-RPC URL, needed only for definitions an operator
    /// or the creator signed with a smart-contract wallet (e.g. a Safe): such
    /// signatures are checked with an ERC-1271 isValidSignature call, and
    /// rejected when no endpoint is set.
    #[arg(
        long = "execution-client-rpc-endpoint",
        env = "CHARON_EXECUTION_CLIENT_RPC_ENDPOINT",
        hide_env_values = true
    )]
    pub execution_client_rpc_endpoint: Option<String>,
}
