//! The `dkg` subcommand: one operator's node in a DKG ceremony, with charon
//! dkg's flags and `CHARON_*` environment variables.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::cmd::execution_client::ExecutionClientArgs;
use crate::cmd::logging;
use crate::dkg::ceremony::CeremonyConfig;
use crate::lock::network::NetworkSet;
use crate::lock::version::Version;
use crate::p2p::protocols::Compat;

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
    /// TCP listen addresses (ip:port, host:port or :port), comma-separated; none means relay-only.
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
    /// How long to wait (e.g. 2m, 90s) for all peers to connect, for peers'
    /// partial signatures in each exchange, and for a silent peer: a peer that
    /// is still connected and working (sync messages arrive) is waited for at
    /// step barriers, as charon does, however long its step takes.
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
    /// Protocol compatibility: v1.11 (default), v1.10 for clusters still on charon v1.10,
    /// or v1.11.0-rc1 for clusters running that release candidate (bcast 1.0.0).
    #[arg(long, env = "CHARON_COMPAT", default_value = "v1.11")]
    pub compat: String,
    /// Address of the Prometheus /metrics, /livez and /readyz server.
    #[arg(
        long,
        env = "CHARON_MONITORING_ADDRESS",
        default_value = "127.0.0.1:3620"
    )]
    pub monitoring_address: String,
    /// After a successful ceremony, archive the data directory into dkg.tar.gz
    /// and remove the originals, ENR private key included, as charon does.
    #[arg(long, env = "CHARON_ZIPPED")]
    pub zipped: bool,
    /// Dial peers and relays from a fresh local port instead of reusing the
    /// listen port (SO_REUSEPORT), as charon's flag does.
    #[arg(long, env = "CHARON_P2P_DISABLE_REUSEPORT")]
    pub p2p_disable_reuseport: bool,
    /// Reach peers only through the relays: never dial a peer's ENR address
    /// or the addresses it announces, and no hole punching. By default nodes
    /// that met on a relay connect directly when they can and move the DKG
    /// traffic off the relay (charon's relay limits each circuit's bytes).
    /// Not a charon flag.
    #[arg(long, env = "CHARON_P2P_RELAY_ONLY")]
    pub p2p_relay_only: bool,
    #[command(flatten)]
    pub execution_client: ExecutionClientArgs,
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
    if let Err(e) = logging::init(&args.log) {
        eprintln!("dkg failed: {e}");
        return ExitCode::from(1);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dkg: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run_async(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("DKG failed: {e}");
            eprintln!("dkg failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// Everything that can stop `dkg`, as one line for the user.
#[derive(Debug, thiserror::Error)]
pub enum DkgCmdError {
    /// A flag is wrong.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The data directory is unusable.
    #[error(transparent)]
    DataDir(#[from] crate::dkg::datadir::DataDirError),
    /// The definition is unusable.
    #[error(transparent)]
    Preflight(#[from] crate::dkg::preflight::PreflightError),
    /// The ceremony failed.
    #[error(transparent)]
    Ceremony(#[from] crate::dkg::ceremony::CeremonyError),
    /// Interrupted by a signal.
    #[error("interrupted; nothing was written to the data directory")]
    Interrupted,
}

/// Builds the ceremony configuration from flags (validation only, no I/O).
pub fn ceremony_config(args: &Args) -> Result<(CeremonyConfig, Compat), DkgCmdError> {
    let compat: Compat = args.compat.parse().map_err(DkgCmdError::Config)?;
    let mut tcp_listen = Vec::new();
    for a in args.p2p_tcp_address.iter().filter(|a| !a.is_empty()) {
        tcp_listen.push(super::parse_listen_addr(a).map_err(|e| {
            DkgCmdError::Config(format!(
                "--p2p-tcp-address {a:?} is not host:port, ip:port or :port: {e}"
            ))
        })?);
    }
    let external_ip = match args.p2p_external_ip.as_deref().filter(|s| !s.is_empty()) {
        Some(ip) => Some(ip.parse().map_err(|_| {
            DkgCmdError::Config(format!("--p2p-external-ip {ip:?} is not an IP address"))
        })?),
        None => None,
    };
    if args.nickname.chars().count() > 32 {
        return Err(DkgCmdError::Config(
            "--nickname exceeds 32 character limit".into(),
        ));
    }
    let keymanager = match (
        args.keymanager_address.as_deref().filter(|s| !s.is_empty()),
        args.keymanager_auth_token
            .as_deref()
            .filter(|s| !s.is_empty()),
    ) {
        (Some(_), None) => {
            return Err(DkgCmdError::Config(
                "--keymanager-address provided but --keymanager-auth-token not set, fix configuration flags".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(DkgCmdError::Config(
                "--keymanager-auth-token provided but --keymanager-address not set, fix configuration flags".into(),
            ));
        }
        (Some(addr), Some(token)) => Some(
            crate::dkg::keymanager::Keymanager::new(addr, token)
                .map_err(|e| DkgCmdError::Config(e.to_string()))?,
        ),
        (None, None) => None,
    };
    let execution_client = args
        .execution_client
        .client()
        .map_err(|e| DkgCmdError::Config(e.to_string()))?;
    let relays: Vec<String> = args
        .p2p_relays
        .iter()
        .filter(|r| !r.is_empty())
        .cloned()
        .collect();
    if relays.is_empty() && tcp_listen.is_empty() {
        return Err(DkgCmdError::Config(
            "no --p2p-relays and no --p2p-tcp-address: peers could never reach this node".into(),
        ));
    }
    Ok((
        CeremonyConfig {
            data_dir: args.data_dir.clone(),
            relays,
            tcp_listen,
            external_ip,
            external_hostname: args.p2p_external_hostname.clone().filter(|s| !s.is_empty()),
            timeout: args.timeout,
            no_verify: args.no_verify,
            compat,
            nickname: args.nickname.clone(),
            networks: if compat.knows_holesky() {
                NetworkSet::WITH_HOLESKY
            } else {
                NetworkSet::DEFAULT
            },
            keystore_pbkdf2_c: crate::lock::keystore::DEFAULT_PBKDF2_C,
            keymanager,
            fault: fault_from_env()?,
            disable_reuseport: args.p2p_disable_reuseport,
            relay_only: args.p2p_relay_only,
            execution_client,
        },
        compat,
    ))
}

/// The origin of `--publish-address`: charon's `--publish` replaces the
/// address's path with `/lock` (`https://api.obol.tech/v1` -> `https://api.obol.tech/lock`).
fn publish_base(address: &str) -> Result<reqwest::Url, DkgCmdError> {
    let bad = || {
        DkgCmdError::Config(format!(
            "--publish-address {address:?} is not an http(s) URL"
        ))
    };
    let url = reqwest::Url::parse(address).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad());
    }
    reqwest::Url::parse(&url.origin().ascii_serialization()).map_err(|_| bad())
}

/// Publishes the written lock as charon dkg `--publish` does. A failure is
/// only a warning: the outputs on disk are complete either way.
async fn publish(base: &reqwest::Url, args: &Args, lock_hash: &[u8; 32]) {
    let lock_file = args.data_dir.join(crate::dkg::output::LOCK_FILE);
    match crate::sidecar::api::publish_lock_file(&lock_file, base, "/lock", args.publish_timeout)
        .await
    {
        Ok(outcome) => {
            if outcome == crate::sidecar::api::PublishOutcome::AlreadyPublished {
                tracing::info!(
                    "Duplicate request ignored by Obol API. Likely another node submitted the same data already."
                );
            }
            let origin = base.as_str().trim_end_matches('/');
            tracing::info!(
                launchpad = %format!("{origin}/lock/0x{}/launchpad", hex::encode_upper(lock_hash)),
                "Published lock file to Obol API"
            );
        }
        Err(e) => tracing::warn!(error = %e, "Couldn't publish lock file to Obol API"),
    }
}

/// Test-only fault injection (`CHARON_DKG_TEST_FAULT=invalid-frost-share`),
/// used by the integration tests to show that honest nodes name a cheater.
fn fault_from_env() -> Result<Option<crate::dkg::ceremony::Fault>, DkgCmdError> {
    match std::env::var("CHARON_DKG_TEST_FAULT").ok().as_deref() {
        None | Some("") => Ok(None),
        Some("invalid-frost-share") => {
            tracing::warn!("TEST FAULT INJECTION: sending invalid FROST shares");
            Ok(Some(crate::dkg::ceremony::Fault::InvalidFrostShare))
        }
        Some("slow-before-step-7") => {
            tracing::warn!("TEST FAULT INJECTION: pausing before step 7");
            Ok(Some(crate::dkg::ceremony::Fault::SlowBeforeStep7))
        }
        Some(other) => Err(DkgCmdError::Config(format!(
            "unknown CHARON_DKG_TEST_FAULT {other:?}"
        ))),
    }
}

/// The whole `dkg` command after logging is set up: pre-flight, ceremony,
/// shutdown delay. Ctrl-C or SIGTERM aborts with nothing written.
pub async fn run_async(args: Args) -> Result<(), DkgCmdError> {
    let (cfg, compat) = ceremony_config(&args)?;
    let publish_to = if args.publish {
        Some(publish_base(&args.publish_address)?)
    } else {
        None
    };
    let removed = crate::dkg::output::clean_stale_staging(&cfg.data_dir);
    if removed > 0 {
        tracing::warn!(
            removed,
            "Removed staging directories left by an interrupted run"
        );
    }
    crate::dkg::datadir::check_clean(&cfg.data_dir)?;
    let _key_lock = crate::dkg::datadir::KeyLock::acquire(&cfg.data_dir, "charon-dkg-sidecar dkg")?;
    let bytes = crate::dkg::preflight::load_definition_bytes(&args.definition_file).await?;
    let max_version = if compat == Compat::V1_10 {
        Version::V1_10
    } else {
        Version::V1_11
    };
    let checked = crate::dkg::preflight::check_definition_with(
        &args.definition_file,
        &bytes,
        args.no_verify,
        cfg.networks,
        max_version,
        cfg.execution_client.as_ref(),
    )
    .await?;
    if let Some(km) = &cfg.keymanager {
        km.probe()
            .await
            .map_err(|e| DkgCmdError::Config(format!("{e}; check --keymanager-address")))?;
        tracing::info!(
            url = km.url(),
            "Keymanager reachable; keys will be imported there"
        );
    }
    let metrics = crate::dkg::metrics::Metrics::new();
    match args.monitoring_address.parse::<std::net::SocketAddr>() {
        Ok(addr) => match metrics.clone().serve(addr).await {
            Ok(_) => tracing::info!(%addr, "Monitoring on /metrics, /livez, /readyz"),
            Err(e) => tracing::warn!(%addr, error = %e, "Monitoring server not started"),
        },
        Err(_) if args.monitoring_address.is_empty() => {}
        Err(_) => {
            return Err(DkgCmdError::Config(format!(
                "--monitoring-address {:?} is not ip:port",
                args.monitoring_address
            )));
        }
    }
    let progress = crate::dkg::ceremony::Progress::default();
    let ceremony = crate::dkg::ceremony::run_with_progress(&cfg, &checked, &metrics, &progress);
    tokio::pin!(ceremony);
    let outcome = tokio::select! {
        r = &mut ceremony => r?,
        _ = shutdown_signal() => {
            // Once this node announced step 7, peers may have written their
            // keys: stopping now could leave this node's shares (held only in
            // memory, or on their way to the keymanager) lost for good.
            if !progress.peers_may_commit() {
                return Err(DkgCmdError::Interrupted);
            }
            tracing::warn!(
                step = progress.state().step,
                "Stop requested after step 7: peers may already have written their keys, so this node finishes writing its own first"
            );
            (&mut ceremony).await?
        }
    };
    tracing::info!(
        lock_hash = %format!("0x{}", hex::encode(outcome.lock_hash)),
        validators = outcome.validators.len(),
        "DKG ceremony completed successfully"
    );
    if let Some(base) = publish_to {
        publish(&base, &args, &outcome.lock_hash).await;
    }
    if args.zipped {
        let archive = crate::dkg::bundle::bundle_output(
            &cfg.data_dir,
            BUNDLE_NAME,
            // Still held by this process; it goes when the command exits.
            &[crate::dkg::datadir::KEY_LOCK_FILE],
        )
        .map_err(|e| DkgCmdError::Config(format!("--zipped: {e}")))?;
        tracing::info!(
            archive = %archive.display(),
            "Outputs and the ENR private key archived; the originals were removed (--zipped)"
        );
    }
    if !args.shutdown_delay.is_zero() {
        tokio::time::sleep(args.shutdown_delay).await;
    }
    Ok(())
}

/// The archive `--zipped` writes, charon's name for it.
pub const BUNDLE_NAME: &str = "dkg.tar.gz";

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
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

    #[test]
    fn publish_goes_to_the_origin_of_the_address() {
        let base = |a: &str| publish_base(a).map(|u| u.to_string());
        assert_eq!(
            base("https://api.obol.tech/v1").unwrap(),
            "https://api.obol.tech/"
        );
        assert_eq!(
            base("http://127.0.0.1:3000/a/b?x=1").unwrap(),
            "http://127.0.0.1:3000/"
        );
        for bad in [
            "",
            "api.obol.tech",
            "ftp://api.obol.tech/v1",
            "file:///tmp/x",
            "http://",
        ] {
            assert!(base(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tcp_listen_addresses_resolve_like_go() {
        let parse = crate::cmd::parse_listen_addr;
        assert_eq!(parse(":3610").unwrap(), "0.0.0.0:3610".parse().unwrap());
        assert_eq!(
            parse("127.0.0.1:1").unwrap(),
            "127.0.0.1:1".parse().unwrap()
        );
        assert_eq!(parse("[::1]:5").unwrap(), "[::1]:5".parse().unwrap());
        assert!(parse("localhost:3610").unwrap().ip().is_loopback());
        for bad in ["", "3610", "127.0.0.1", "127.0.0.1:99999", "a b:1"] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
