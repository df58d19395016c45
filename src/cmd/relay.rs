//! The `relay` subcommand: a circuit-relay v2 server plus the HTTP endpoint
//! charon nodes query, with charon relay's flags.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::p2p::identity::{EnrPrivateKey, IdentityError, KEY_FILE_NAME};
use crate::p2p::relay::{RelayServer, RelayServerConfig};

/// Arguments of `relay`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The directory where the relay stores its charon-enr-private-key.
    #[arg(long, env = "CHARON_DATA_DIR", default_value = ".charon")]
    pub data_dir: PathBuf,

    /// Listening address (ip and port) for the relay http server serving runtime ENR and multiaddrs; empty disables it.
    #[arg(long, env = "CHARON_HTTP_ADDRESS", default_value = "127.0.0.1:3640")]
    pub http_address: String,

    /// Comma-separated list of listening TCP addresses (ip and port) for libp2p traffic.
    #[arg(
        long = "p2p-tcp-address",
        env = "CHARON_P2P_TCP_ADDRESS",
        value_delimiter = ','
    )]
    pub p2p_tcp_address: Vec<String>,

    /// The IP address advertised by libp2p. This may be used to advertise an external IP.
    #[arg(long = "p2p-external-ip", env = "CHARON_P2P_EXTERNAL_IP")]
    pub p2p_external_ip: Option<IpAddr>,

    /// The DNS hostname advertised by libp2p. This may be used to advertise an external DNS.
    #[arg(long = "p2p-external-hostname", env = "CHARON_P2P_EXTERNAL_HOSTNAME")]
    pub p2p_external_hostname: Option<String>,

    /// Automatically create a charon-enr-private-key if none is found in the data directory.
    #[arg(long = "auto-p2pkey", env = "CHARON_AUTO_P2PKEY", default_value_t = true, action = clap::ArgAction::Set)]
    pub auto_p2pkey: bool,

    /// Maximum circuit reservations and circuits per peer.
    #[arg(
        long = "p2p-max-reservations",
        env = "CHARON_P2P_MAX_RESERVATIONS",
        default_value_t = 512
    )]
    pub p2p_max_reservations: usize,

    /// Maximum number of reservations (peers) the relay accepts.
    #[arg(
        long = "p2p-max-connections",
        env = "CHARON_P2P_MAX_CONNECTIONS",
        default_value_t = 16384
    )]
    pub p2p_max_connections: usize,

    /// Also advertise private and loopback listen addresses (needed for local clusters).
    #[arg(
        long = "p2p-advertise-private-addresses",
        env = "CHARON_P2P_ADVERTISE_PRIVATE_ADDRESSES"
    )]
    pub p2p_advertise_private_addresses: bool,

    /// Log level: error, warn, info, debug or trace.
    #[arg(long = "log-level", env = "CHARON_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

/// Errors of the relay command.
#[derive(Debug, thiserror::Error)]
enum CmdError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(
        "{KEY_FILE_NAME} not found in data dir {0} (run with --auto-p2pkey=true to generate one)"
    )]
    NoKey(PathBuf),
    #[error("invalid address {addr:?} for {flag}: {reason}")]
    Addr {
        flag: &'static str,
        addr: String,
        reason: String,
    },
    #[error(transparent)]
    Server(#[from] crate::p2p::relay::RelayServerError),
    #[error("start async runtime: {0}")]
    Runtime(std::io::Error),
}

fn parse_listen(flag: &'static str, s: &str) -> Result<SocketAddr, CmdError> {
    super::parse_listen_addr(s).map_err(|reason| CmdError::Addr {
        flag,
        addr: s.trim().to_owned(),
        reason,
    })
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn config(args: &Args) -> Result<RelayServerConfig, CmdError> {
    let key = if args.auto_p2pkey {
        let (key, created) = EnrPrivateKey::load_or_create(&args.data_dir)?;
        if created {
            tracing::info!(path = %args.data_dir.join(KEY_FILE_NAME).display(), "Automatically created charon-enr-private-key");
        }
        key
    } else {
        match EnrPrivateKey::load(&args.data_dir) {
            Err(IdentityError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(CmdError::NoKey(args.data_dir.clone()));
            }
            other => other?,
        }
    };
    let tcp = args
        .p2p_tcp_address
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse_listen("--p2p-tcp-address", s))
        .collect::<Result<Vec<_>, _>>()?;
    let http = if args.http_address.trim().is_empty() {
        None
    } else {
        Some(parse_listen("--http-address", &args.http_address)?)
    };
    let mut cfg = RelayServerConfig::new(key, tcp);
    cfg.http_addr = http;
    cfg.external_ip = args.p2p_external_ip;
    cfg.external_hostname = args
        .p2p_external_hostname
        .clone()
        .filter(|h| !h.trim().is_empty());
    cfg.advertise_private = args.p2p_advertise_private_addresses;
    cfg.max_per_peer = args.p2p_max_reservations;
    cfg.max_reservations = args.p2p_max_connections;
    Ok(cfg)
}

async fn serve(cfg: RelayServerConfig) -> Result<(), CmdError> {
    let mut server = RelayServer::start(cfg).await?;
    tracing::info!(
        relay = %server.peer_id(),
        advertised = ?server.advertised_addrs().iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "Relay ready"
    );
    let result = tokio::select! {
        r = server.wait() => r.map_err(CmdError::from),
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("Interrupted, shutting down");
            Ok(())
        }
    };
    server.shutdown().await;
    result
}

/// Runs `relay`.
pub fn run(args: Args) -> ExitCode {
    init_logging(&args.log_level);
    let result = config(&args).and_then(|cfg| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(CmdError::Runtime)?;
        rt.block_on(serve(cfg))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("Fatal error: {e}");
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses_parse_like_go() {
        assert_eq!(
            parse_listen("f", ":3640").unwrap(),
            "0.0.0.0:3640".parse().unwrap()
        );
        assert_eq!(
            parse_listen("f", "127.0.0.1:1").unwrap(),
            "127.0.0.1:1".parse().unwrap()
        );
        assert!(parse_listen("f", "nonsense").is_err());
        assert!(parse_listen("f", "1.2.3.4:99999").is_err());
    }
}
