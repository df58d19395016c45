//! The `demo` subcommand: a complete local ceremony on one machine.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::sidecar::config::parse_go_duration;
use crate::sidecar::demo::scenario::{DemoOptions, DemoReport, run_demo, say};
use crate::sidecar::embedded::EmbeddedDkg;

/// Arguments of `demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Number of operators (one sidecar each).
    #[arg(long, default_value_t = 4)]
    pub operators: usize,
    /// Signature threshold.
    #[arg(long, default_value_t = 3)]
    pub threshold: u64,
    /// Number of distributed validators to create.
    #[arg(long, default_value_t = 2)]
    pub validators: u64,
    /// Directory for every node's data directory (must be empty or absent).
    #[arg(long, default_value = "./demo-output")]
    pub output_dir: PathBuf,
    /// First TCP port for the nodes' p2p listeners (node i uses port + i).
    #[arg(long, default_value_t = 13900)]
    pub base_port: u16,
    /// Give up after this long (Go duration).
    #[arg(long, default_value = "5m")]
    pub timeout: String,
    /// Log level of the nodes, relay and fake API: a healthy run logs nothing
    /// at the default (warn), so anything shown needs a look.
    #[arg(long, env = "LOG_LEVEL", default_value = "warn")]
    pub log_level: String,
    /// Output format: console, or json (every line, logs and steps, a JSON object).
    #[arg(long, env = "LOG_FORMAT", default_value = "console")]
    pub log_format: String,
}

/// Runs `demo`.
pub fn run(args: Args) -> ExitCode {
    let timeout = match parse_go_duration("--timeout", &args.timeout) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let non_empty = std::fs::read_dir(&args.output_dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if non_empty {
        eprintln!(
            "error: {} already exists and is not empty; remove it or pass --output-dir",
            args.output_dir.display()
        );
        return ExitCode::from(2);
    }
    let json = match args.log_format.as_str() {
        "json" => true,
        "console" | "logfmt" => false,
        other => {
            eprintln!("error: --log-format {other:?} is not console or json");
            return ExitCode::from(2);
        }
    };
    super::run::init_logging_as(&args.log_level.to_lowercase(), json);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        let relay = match start_relay().await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("demo failed: cannot start the local relay: {e}");
                return ExitCode::from(1);
            }
        };
        let relays: Vec<String> = match relay.http_addr() {
            Some(a) => vec![format!("http://{a}")],
            None => {
                eprintln!("demo failed: the local relay has no HTTP address");
                return ExitCode::from(1);
            }
        };
        let opts = DemoOptions {
            operators: args.operators,
            threshold: args.threshold,
            validators: args.validators,
            output_dir: args.output_dir.clone(),
            relays,
            base_port: args.base_port,
            timeout,
            json,
        };
        say(
            json,
            &format!(
                "charon-dkg-sidecar demo: {} operators, threshold {}, {} validators → {}",
                opts.operators,
                opts.threshold,
                opts.validators,
                opts.output_dir.display()
            ),
        );
        let result = run_demo(&opts, |_i, config| EmbeddedDkg::new(config.dkg.clone())).await;
        relay.shutdown().await;
        match result {
            Ok(report) => {
                for line in closing_lines(&report, opts.operators) {
                    say(json, &line);
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("demo failed: {e}");
                ExitCode::from(1)
            }
        }
    })
}

/// What the demo did and what to do next: where the files are, the verify
/// command, and how real operators run the same.
fn closing_lines(report: &DemoReport, operators: usize) -> Vec<String> {
    let mut out = vec![
        String::new(),
        format!(
            "Done. Cluster {} created by {} nodes, identical lock {}.",
            report.config_hash,
            report.nodes.len(),
            report.nodes.first().map_or("", |n| n.lock_hash.as_str())
        ),
    ];
    let Some(first) = report.nodes.first() else {
        return out;
    };
    let root = first.data_dir.parent().map_or_else(
        || first.data_dir.display().to_string(),
        |p| p.display().to_string(),
    );
    out.extend([
        String::new(),
        "Next:".to_string(),
        format!(
            "  ls {}                    # cluster-lock.json, validator_keys/, deposit-data*.json",
            first.data_dir.display()
        ),
        format!(
            "  charon-dkg-sidecar verify --data-dir {}   # the checks above, by hand",
            first.data_dir.display()
        ),
        format!(
            "  rm -r {root}                      # the keys are throwaway test keys"
        ),
        format!(
            "With real operators: the creator publishes the definition on the Obol API and each of the {operators}"
        ),
        "operators runs `charon-dkg-sidecar run` as the charon pod's init container (docs/sidecar.md),"
            .to_string(),
        "or `charon-dkg-sidecar dkg` by hand with a relay (README, \"A local cluster by hand\").".to_string(),
    ]);
    out
}

/// Starts an in-process relay on loopback (circuit relay plus the HTTP
/// endpoint nodes resolve it through), advertising its loopback address.
async fn start_relay() -> Result<crate::p2p::relay::RelayServer, String> {
    let base = super::localnet::free_ports(2).map_err(|e| format!("relay ports: {e}"))?;
    let tcp: std::net::SocketAddr = ([127, 0, 0, 1], base).into();
    let http: std::net::SocketAddr = ([127, 0, 0, 1], base + 1).into();
    let mut cfg = crate::p2p::relay::RelayServerConfig::new(
        crate::p2p::identity::EnrPrivateKey::generate(),
        vec![tcp],
    );
    cfg.http_addr = Some(http);
    cfg.advertise_private = true;
    crate::p2p::relay::RelayServer::start(cfg)
        .await
        .map_err(|e| e.to_string())
}
