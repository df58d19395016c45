//! The `dkg` subcommand: one operator's node in a DKG ceremony, with charon
//! dkg's flags and `CHARON_*` environment variables.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::cmd::logging;

/// Arguments of `dkg`; every flag can also be set as `CHARON_<FLAG>`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Directory holding charon-enr-private-key; outputs are written here.
    #[arg(long, env = "CHARON_DATA_DIR", default_value = ".charon")]
    pub data_dir: PathBuf,
    /// Cluster definition: a file path or an HTTP(S) URL.
    #[arg(
        long,
        env = "CHARON_DEFINITION_FILE",
        default_value = ".charon/cluster-definition.json"
    )]
    pub definition_file: String,
    /// Relays: HTTP(S) URLs of charon relays or libp2p multiaddrs, comma-separated.
    #[arg(
        long,
        env = "CHARON_P2P_RELAYS",
        value_delimiter = ',',
        default_value = "https://4.relay.obol.dev"
    )]
    pub p2p_relays: Vec<String>,
    /// TCP listen addresses (ip:port), comma-separated; none means relay-only.
    #[arg(long, env = "CHARON_P2P_TCP_ADDRESS", value_delimiter = ',')]
    pub p2p_tcp_address: Vec<String>,
    /// Accepted for charon compatibility; the DKG uses TCP only.
    #[arg(
        long,
        env = "CHARON_P2P_UDP_ADDRESS",
        value_delimiter = ',',
        hide = true
    )]
    pub p2p_udp_address: Vec<String>,
    /// IP address other nodes can reach this node on.
    #[arg(long, env = "CHARON_P2P_EXTERNAL_IP")]
    pub p2p_external_ip: Option<String>,
    /// Host name other nodes can reach this node on.
    #[arg(long, env = "CHARON_P2P_EXTERNAL_HOSTNAME")]
    pub p2p_external_hostname: Option<String>,
    /// Time to wait for peers' partial signatures in each exchange (e.g. 2m, 90s).
    #[arg(long, env = "CHARON_TIMEOUT", default_value = "2m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Downgrade definition verification failures to warnings (at your own risk).
    #[arg(long, env = "CHARON_NO_VERIFY")]
    pub no_verify: bool,
    /// Publish the lock to the Obol API after the ceremony.
    #[arg(long, env = "CHARON_PUBLISH")]
    pub publish: bool,
    /// Obol API address used with --publish.
    #[arg(
        long,
        env = "CHARON_PUBLISH_ADDRESS",
        default_value = "https://api.obol.tech/v1"
    )]
    pub publish_address: String,
    /// Timeout for publishing the lock.
    #[arg(long, env = "CHARON_PUBLISH_TIMEOUT", default_value = "1m", value_parser = parse_duration)]
    pub publish_timeout: Duration,
    /// Import keys into this keymanager API instead of writing keystores.
    #[arg(long, env = "CHARON_KEYMANAGER_ADDRESS")]
    pub keymanager_address: Option<String>,
    /// Bearer token for --keymanager-address.
    #[arg(long, env = "CHARON_KEYMANAGER_AUTH_TOKEN", hide_env_values = true)]
    pub keymanager_auth_token: Option<String>,
    /// Time to wait after the ceremony before exiting, so peers can finish.
    #[arg(long, env = "CHARON_SHUTDOWN_DELAY", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_delay: Duration,
    /// A human-readable name for this node (at most 32 characters).
    #[arg(long, env = "CHARON_NICKNAME", default_value = "")]
    pub nickname: String,
    /// Protocol compatibility: v1.11 (default) or v1.10 for clusters still on charon v1.10.
    #[arg(long, env = "CHARON_COMPAT", default_value = "v1.11")]
    pub compat: String,
    /// Address of the Prometheus /metrics, /livez and /readyz server.
    #[arg(
        long,
        env = "CHARON_MONITORING_ADDRESS",
        default_value = "127.0.0.1:3620"
    )]
    pub monitoring_address: String,
    #[command(flatten)]
    pub log: logging::LogArgs,
}

/// Parses durations such as `2m`, `90s`, `1m30s`, `500ms` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let v: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
        num.clear();
        let secs = match unit.as_str() {
            "h" => v * 3600.0,
            "m" => v * 60.0,
            "s" => v,
            "ms" => v / 1000.0,
            _ => {
                return Err(format!(
                    "invalid duration unit {unit:?} in {s:?} (use h, m, s, ms)"
                ));
            }
        };
        total += Duration::from_secs_f64(secs);
        any = true;
    }
    if !num.is_empty() || !any {
        return Err(format!("invalid duration {s:?} (examples: 2m, 90s, 1m30s)"));
    }
    Ok(total)
}

/// Runs `dkg`.
pub fn run(args: Args) -> ExitCode {
    logging::init(&args.log);
    eprintln!("dkg: the ceremony is not wired up yet");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("x").is_err());
        assert!(parse_duration("5").is_ok());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }
}
