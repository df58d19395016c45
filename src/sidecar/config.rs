//! Sidecar configuration: every environment variable of the original TypeScript
//! sidecar (same names, same defaults), the new ones, and charon's `CHARON_*`
//! DKG settings, validated up front so bad input fails before any network traffic.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use super::backoff::BackoffPolicy;

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

fn bad(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

impl Settings {
    /// Overrides the operator address and ENR file with the original sidecar's
    /// positional arguments (`<operator> <enr file>`), which beat the environment.
    pub fn with_positional(mut self, operator: Option<String>, enr_file: Option<PathBuf>) -> Self {
        if operator.is_some() {
            self.operator_address = operator;
        }
        if let Some(f) = enr_file {
            self.enr_file_path = f;
        }
        self
    }

    /// Validates every setting; reads no files and touches no network.
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let operator_address = parse_address(self.operator_address.as_deref())?;
        let api_endpoint = parse_api_endpoint(&self.api_endpoint)?;
        let initial = parse_secs(
            "INITIAL_RETRY_INTERVAL_SECONDS",
            &self.initial_retry_interval_seconds,
        )?;
        let max = parse_secs(
            "MAX_RETRY_INTERVAL_SECONDS",
            &self.max_retry_interval_seconds,
        )?;
        if max < initial {
            return Err(bad(format!(
                "MAX_RETRY_INTERVAL_SECONDS ({}) is smaller than INITIAL_RETRY_INTERVAL_SECONDS ({})",
                max.as_secs_f64(),
                initial.as_secs_f64()
            )));
        }
        let factor: f64 = self.backoff_factor.trim().parse().map_err(|_| {
            bad(format!(
                "BACKOFF_FACTOR {:?} is not a number",
                self.backoff_factor
            ))
        })?;
        if !factor.is_finite() || !(1.0..=100.0).contains(&factor) {
            return Err(bad(format!(
                "BACKOFF_FACTOR {factor} must be between 1 and 100"
            )));
        }
        let page_limit: u32 = self.page_limit.trim().parse().map_err(|_| {
            bad(format!(
                "PAGE_LIMIT {:?} is not a positive whole number",
                self.page_limit
            ))
        })?;
        if !(1..=1000).contains(&page_limit) {
            return Err(bad(format!(
                "PAGE_LIMIT {page_limit} must be between 1 and 1000"
            )));
        }
        let log_level = parse_log_level(&self.log_level)?;
        let target_config_hash = self
            .target_config_hash
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|h| parse_hash("TARGET_CONFIG_HASH", h))
            .transpose()?;
        let lock_hash = self
            .lock_hash
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|h| parse_hash("LOCK_HASH", h))
            .transpose()?;
        let chain_id = self
            .chain_id
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|c| *c > 0)
                    .ok_or_else(|| bad(format!("CHAIN_ID {s:?} is not a positive whole number")))
            })
            .transpose()?;
        let api_timeout = parse_secs("API_TIMEOUT_SECONDS", &self.api_timeout_seconds)?;
        if api_timeout.is_zero() {
            return Err(bad("API_TIMEOUT_SECONDS must be greater than 0"));
        }
        let operator_private_key_file = self
            .operator_private_key_file
            .clone()
            .filter(|p| !p.as_os_str().is_empty());
        let mut accept_invitations_from = Vec::new();
        for a in clean_list(&self.accept_invitations_from) {
            if !is_address(&a) {
                return Err(bad(format!(
                    "ACCEPT_INVITATIONS_FROM entry {a:?} is not an Ethereum address (0x followed by 40 hex digits)"
                )));
            }
            let a = a.to_ascii_lowercase();
            if !accept_invitations_from.contains(&a) {
                accept_invitations_from.push(a);
            }
        }
        if operator_private_key_file.is_some()
            && target_config_hash.is_none()
            && accept_invitations_from.is_empty()
        {
            return Err(bad(NO_POLICY));
        }
        for (name, p) in [
            ("ENR_FILE_PATH", &self.enr_file_path),
            ("OUTPUT_DEFINITION_FILE", &self.output_definition_file),
            ("CHARON_NODE_ID_DIR", &self.charon_node_id_dir),
            ("CHARON_PRIVATE_KEY_FILE", &self.charon_private_key_file),
        ] {
            if p.as_os_str().is_empty() {
                return Err(bad(format!("{name} is empty")));
            }
        }
        let dkg = self.dkg.validate(&api_endpoint)?;
        Ok(Config {
            operator_address,
            enr_file: self.enr_file_path.clone(),
            output_definition_file: self.output_definition_file.clone(),
            api_endpoint,
            data_dir: self.charon_node_id_dir.clone(),
            enr_private_key_file: self.charon_private_key_file.clone(),
            operator_private_key_file,
            accept_invitations_from,
            target_config_hash,
            lock_hash,
            chain_id,
            backoff: BackoffPolicy {
                initial,
                max,
                factor,
                jitter: true,
            },
            page_limit,
            log_level,
            api_timeout,
            dkg,
        })
    }
}

impl DkgFlags {
    fn validate(&self, api: &Url) -> Result<DkgSettings, ConfigError> {
        let relays: Vec<String> = clean_list(&self.p2p_relays);
        for r in &relays {
            if !(r.starts_with("http://") || r.starts_with("https://") || r.starts_with('/')) {
                return Err(bad(format!(
                    "CHARON_P2P_RELAYS entry {r:?} is neither an http(s) URL nor a multiaddr"
                )));
            }
        }
        let tcp_addresses = clean_list(&self.p2p_tcp_address);
        for a in &tcp_addresses {
            if a.rsplit_once(':')
                .and_then(|(_, port)| port.parse::<u16>().ok())
                .is_none()
            {
                return Err(bad(format!(
                    "CHARON_P2P_TCP_ADDRESS entry {a:?} is not host:port"
                )));
            }
        }
        let external_ip = non_empty(&self.p2p_external_ip);
        if let Some(ip) = &external_ip
            && ip.parse::<std::net::IpAddr>().is_err()
        {
            return Err(bad(format!(
                "CHARON_P2P_EXTERNAL_IP {ip:?} is not an IP address"
            )));
        }
        let publish = parse_bool("CHARON_PUBLISH", &self.publish)?;
        let publish_address = match non_empty(&self.publish_address) {
            Some(a) => {
                Url::parse(&a)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| {
                        bad(format!(
                            "CHARON_PUBLISH_ADDRESS {a:?} is not an http(s) URL"
                        ))
                    })?;
                a.trim_end_matches('/').to_string()
            }
            None => format!("{}/v1", api.as_str().trim_end_matches('/')),
        };
        let nickname = non_empty(&self.nickname);
        if let Some(n) = &nickname
            && n.chars().count() > 32
        {
            return Err(bad(format!(
                "CHARON_NICKNAME {n:?} is longer than 32 characters"
            )));
        }
        let execution_client_rpc_endpoint = non_empty(&self.execution_client_rpc_endpoint);
        if let Some(url) = &execution_client_rpc_endpoint
            && crate::dkg::erc1271::parse_endpoint(url).is_err()
        {
            // The value is not repeated: it may hold an API key.
            return Err(bad(
                "CHARON_EXECUTION_CLIENT_RPC_ENDPOINT is not an http(s) URL with a host",
            ));
        }
        let timeout = parse_go_duration("CHARON_TIMEOUT", &self.timeout)?;
        if timeout.is_zero() {
            return Err(bad("CHARON_TIMEOUT must be greater than 0"));
        }
        Ok(DkgSettings {
            relays,
            tcp_addresses,
            external_ip,
            external_hostname: non_empty(&self.p2p_external_hostname),
            timeout,
            publish,
            publish_address,
            publish_timeout: parse_go_duration("CHARON_PUBLISH_TIMEOUT", &self.publish_timeout)?,
            shutdown_delay: parse_go_duration("CHARON_SHUTDOWN_DELAY", &self.shutdown_delay)?,
            nickname,
            execution_client_rpc_endpoint,
        })
    }
}

fn clean_list(v: &[String]) -> Vec<String> {
    v.iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Parses an Ethereum address: `0x` followed by 40 hex digits, case preserved.
fn parse_address(v: Option<&str>) -> Result<String, ConfigError> {
    let v = v.map(str::trim).unwrap_or("");
    if v.is_empty() || v == "null" {
        return Err(bad(
            "OPERATOR_ADDRESS is not set (set it, pass it as the first argument, or set .Values.charon.operatorAddress)",
        ));
    }
    if is_address(v) {
        Ok(v.to_string())
    } else {
        Err(bad(format!(
            "OPERATOR_ADDRESS {v:?} is not an Ethereum address (0x followed by 40 hex digits)"
        )))
    }
}

/// Whether `v` is `0x` followed by 40 hex digits.
pub fn is_address(v: &str) -> bool {
    v.strip_prefix("0x")
        .or_else(|| v.strip_prefix("0X"))
        .is_some_and(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Parses a 32-byte hash (`0x` optional, any case) to lower-case `0x` hex.
pub fn parse_hash(name: &str, v: &str) -> Result<String, ConfigError> {
    let t = v.trim();
    let h = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(format!("0x{}", h.to_ascii_lowercase()))
    } else {
        Err(bad(format!(
            "{name} {v:?} is not a 32-byte hash (0x followed by 64 hex digits)"
        )))
    }
}

fn parse_api_endpoint(v: &str) -> Result<Url, ConfigError> {
    let mut s = v.trim().to_string();
    // The original accepted a full listing URL and stripped it back to the base.
    if let Some(i) = s.find("/v1/definition/operator") {
        s.truncate(i);
    }
    let s = s.trim_end_matches('/');
    let s = s.strip_suffix("/v1").unwrap_or(s);
    let url = Url::parse(s).map_err(|e| bad(format!("API_ENDPOINT {v:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(format!("API_ENDPOINT {v:?} is not an http(s) URL")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(format!(
            "API_ENDPOINT {v:?} must not have a query or fragment"
        )));
    }
    Ok(url)
}

fn parse_secs(name: &str, v: &str) -> Result<Duration, ConfigError> {
    let secs: f64 = v
        .trim()
        .parse()
        .map_err(|_| bad(format!("{name} {v:?} is not a number of seconds")))?;
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return Err(bad(format!(
            "{name} {v:?} must be between 0 and 86400 seconds"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_log_level(v: &str) -> Result<LogLevel, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "debug" | "trace" => Ok(LogLevel::Debug),
        "info" | "" => Ok(LogLevel::Info),
        "warn" | "warning" => Ok(LogLevel::Warn),
        "error" => Ok(LogLevel::Error),
        _ => Err(bad(format!(
            "LOG_LEVEL {v:?} is not one of DEBUG, INFO, WARN, ERROR"
        ))),
    }
}

fn parse_bool(name: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "yes" => Ok(true),
        "0" | "f" | "false" | "no" | "" => Ok(false),
        _ => Err(bad(format!("{name} {v:?} is not true or false"))),
    }
}

/// Parses a Go duration string (`300ms`, `1.5s`, `2m`, `1h30m`; a bare number means seconds).
pub fn parse_go_duration(name: &str, v: &str) -> Result<Duration, ConfigError> {
    let err = || {
        bad(format!(
            "{name} {v:?} is not a duration (examples: 90s, 2m, 1m30s)"
        ))
    };
    let s = v.trim();
    if s.is_empty() {
        return Err(err());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return secs_to_duration(secs).ok_or_else(err);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if num_len == 0 {
            return Err(err());
        }
        let (num, tail) = rest.split_at(num_len);
        let n: f64 = num.parse().map_err(|_| err())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let mult = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        total += n * mult;
        rest = tail;
    }
    secs_to_duration(total).ok_or_else(err)
}

fn secs_to_duration(secs: f64) -> Option<Duration> {
    (secs.is_finite() && (0.0..=7.0 * 86_400.0).contains(&secs))
        .then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Settings {
        Settings {
            operator_address: Some("0x3D1f0598943239806A251899016EAf4920d4726d".into()),
            enr_file_path: "/enr-from-job/enr.txt".into(),
            output_definition_file: "/charon-data/cluster-definition.json".into(),
            api_endpoint: DEFAULT_API_ENDPOINT.into(),
            charon_node_id_dir: "/charon-data".into(),
            charon_private_key_file: "/charon-data/charon-enr-private-key".into(),
            initial_retry_interval_seconds: "10".into(),
            max_retry_interval_seconds: "300".into(),
            backoff_factor: "2".into(),
            page_limit: "10".into(),
            log_level: "INFO".into(),
            api_timeout_seconds: "30".into(),
            dkg: DkgFlags {
                p2p_relays: vec![DEFAULT_DKG_RELAY.into()],
                timeout: "2m".into(),
                publish: "false".into(),
                publish_timeout: "1m".into(),
                shutdown_delay: "5s".into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn defaults_validate() {
        let c = base().validate().unwrap();
        assert_eq!(c.api_endpoint.as_str(), "https://api.obol.tech/");
        assert_eq!(c.backoff.initial, Duration::from_secs(10));
        assert_eq!(c.backoff.max, Duration::from_secs(300));
        assert_eq!(c.page_limit, 10);
        assert_eq!(c.dkg.timeout, Duration::from_secs(120));
        assert_eq!(c.dkg.publish_address, "https://api.obol.tech/v1");
        assert!(!c.dkg.publish);
    }

    #[test]
    fn rejects_bad_values_naming_the_variable() {
        type Mutate = Box<dyn Fn(&mut Settings)>;
        let cases: Vec<(&str, Mutate)> = vec![
            ("OPERATOR_ADDRESS", Box::new(|s| s.operator_address = None)),
            (
                "OPERATOR_ADDRESS",
                Box::new(|s| s.operator_address = Some("null".into())),
            ),
            (
                "OPERATOR_ADDRESS",
                Box::new(|s| s.operator_address = Some("0x123".into())),
            ),
            (
                "OPERATOR_ADDRESS",
                Box::new(|s| {
                    s.operator_address = Some("0xZZ1f0598943239806A251899016EAf4920d4726d".into())
                }),
            ),
            (
                "API_ENDPOINT",
                Box::new(|s| s.api_endpoint = "ftp://x".into()),
            ),
            (
                "API_ENDPOINT",
                Box::new(|s| s.api_endpoint = "not a url".into()),
            ),
            (
                "INITIAL_RETRY_INTERVAL_SECONDS",
                Box::new(|s| s.initial_retry_interval_seconds = "ten".into()),
            ),
            (
                "INITIAL_RETRY_INTERVAL_SECONDS",
                Box::new(|s| s.initial_retry_interval_seconds = "-1".into()),
            ),
            (
                "MAX_RETRY_INTERVAL_SECONDS",
                Box::new(|s| s.max_retry_interval_seconds = "5".into()),
            ),
            (
                "BACKOFF_FACTOR",
                Box::new(|s| s.backoff_factor = "0.5".into()),
            ),
            (
                "BACKOFF_FACTOR",
                Box::new(|s| s.backoff_factor = "NaN".into()),
            ),
            ("PAGE_LIMIT", Box::new(|s| s.page_limit = "0".into())),
            ("PAGE_LIMIT", Box::new(|s| s.page_limit = "1.5".into())),
            ("LOG_LEVEL", Box::new(|s| s.log_level = "loud".into())),
            (
                "TARGET_CONFIG_HASH",
                Box::new(|s| s.target_config_hash = Some("0x1234".into())),
            ),
            ("CHAIN_ID", Box::new(|s| s.chain_id = Some("hoodi".into()))),
            (
                "LOCK_HASH",
                Box::new(|s| s.lock_hash = Some("0xabc".into())),
            ),
            (
                "CHARON_TIMEOUT",
                Box::new(|s| s.dkg.timeout = "soon".into()),
            ),
            ("CHARON_TIMEOUT", Box::new(|s| s.dkg.timeout = "0s".into())),
            (
                "CHARON_PUBLISH",
                Box::new(|s| s.dkg.publish = "maybe".into()),
            ),
            (
                "CHARON_P2P_RELAYS",
                Box::new(|s| s.dkg.p2p_relays = vec!["relay.example".into()]),
            ),
            (
                "CHARON_P2P_TCP_ADDRESS",
                Box::new(|s| s.dkg.p2p_tcp_address = vec!["0.0.0.0".into()]),
            ),
            (
                "CHARON_P2P_EXTERNAL_IP",
                Box::new(|s| s.dkg.p2p_external_ip = Some("1.2.3".into())),
            ),
            (
                "CHARON_NICKNAME",
                Box::new(|s| s.dkg.nickname = Some("x".repeat(33))),
            ),
            (
                "CHARON_EXECUTION_CLIENT_RPC_ENDPOINT",
                Box::new(|s| {
                    s.dkg.execution_client_rpc_endpoint = Some("wss://node/SECRETKEY".into())
                }),
            ),
            (
                "ACCEPT_INVITATIONS_FROM",
                Box::new(|s| s.accept_invitations_from = vec!["0x1234".into()]),
            ),
            (
                "OPERATOR_PRIVATE_KEY_FILE",
                Box::new(|s| s.operator_private_key_file = Some("/secrets/key".into())),
            ),
        ];
        for (name, mutate) in cases {
            let mut s = base();
            mutate(&mut s);
            let e = s.validate().unwrap_err().to_string();
            assert!(e.contains(name), "{name}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
            assert!(!e.contains("SECRETKEY"), "echoes a secret: {e}");
        }
    }

    #[test]
    fn normalises_values() {
        let mut s = base();
        s.api_endpoint = "http://127.0.0.1:3001/v1/definition/operator/".into();
        s.target_config_hash =
            Some("7F0FD29ABB11674B4E61000DE26BFF3600237AAB0402427BD1409756665C2115".into());
        s.log_level = "debug".into();
        s.backoff_factor = "1.5".into();
        s.dkg.publish = "TRUE".into();
        s.dkg.timeout = "1m30s".into();
        let c = s.validate().unwrap();
        assert_eq!(c.api_endpoint.as_str(), "http://127.0.0.1:3001/");
        assert_eq!(
            c.target_config_hash.as_deref(),
            Some("0x7f0fd29abb11674b4e61000de26bff3600237aab0402427bd1409756665c2115")
        );
        assert_eq!(c.log_level, LogLevel::Debug);
        assert!(c.dkg.publish);
        assert_eq!(c.dkg.timeout, Duration::from_secs(90));
        assert_eq!(c.dkg.publish_address, "http://127.0.0.1:3001/v1");
    }

    #[test]
    fn an_operator_key_needs_an_acceptance_policy() {
        let mut s = base();
        s.operator_private_key_file = Some("/secrets/key".into());
        let e = s.validate().unwrap_err().to_string();
        assert!(
            e.contains("TARGET_CONFIG_HASH") && e.contains("ACCEPT_INVITATIONS_FROM"),
            "{e}"
        );
        s.accept_invitations_from = vec![
            " 0xAbCdEf0000000000000000000000000000000001".into(),
            "".into(),
            "0xabcdef0000000000000000000000000000000001".into(),
        ];
        let c = s.validate().unwrap();
        assert_eq!(
            c.accept_invitations_from,
            ["0xabcdef0000000000000000000000000000000001"]
        );
        let mut s = base();
        s.operator_private_key_file = Some("/secrets/key".into());
        s.target_config_hash = Some(format!("0x{}", "ab".repeat(32)));
        assert!(s.validate().is_ok());
    }

    #[test]
    fn positional_arguments_win() {
        let s = base().with_positional(
            Some("0x0000000000000000000000000000000000000001".into()),
            Some("/tmp/enr".into()),
        );
        let c = s.validate().unwrap();
        assert_eq!(
            c.operator_address,
            "0x0000000000000000000000000000000000000001"
        );
        assert_eq!(c.enr_file, PathBuf::from("/tmp/enr"));
    }

    #[test]
    fn go_durations() {
        let d = |s| parse_go_duration("X", s);
        assert_eq!(d("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(d("1h2m3s").unwrap(), Duration::from_secs(3723));
        assert_eq!(d("45").unwrap(), Duration::from_secs(45));
        for bad in ["", "m", "5x", "1..2s", "-1s", "1e400s", "s5"] {
            assert!(d(bad).is_err(), "{bad}");
        }
    }
}
