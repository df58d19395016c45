//! The `run` subcommand: the DKG sidecar (init container of a charon pod).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::sidecar::config::Settings;
use crate::sidecar::embedded::EmbeddedDkg;
use crate::sidecar::lifecycle::{Outcome, Sidecar};

/// Arguments of `run`. Every setting also reads its environment variable, so the
/// original sidecar's environment (and charon's `CHARON_*` DKG variables) carry over.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Operator address (the original sidecar's first argument; beats OPERATOR_ADDRESS).
    #[arg(value_name = "OPERATOR_ADDRESS")]
    pub operator: Option<String>,
    /// ENR file (the original sidecar's second argument; beats ENR_FILE_PATH).
    #[arg(value_name = "ENR_FILE_PATH")]
    pub enr_file: Option<PathBuf>,
    #[command(flatten)]
    pub settings: Box<Settings>,
}

/// Exit code: the DKG completed or a lock already existed.
pub const EXIT_OK: u8 = 0;
/// Exit code: a fatal error at run time (keys inconsistent, data directory unusable).
pub const EXIT_FATAL: u8 = 1;
/// Exit code: invalid configuration, detected before any network traffic.
pub const EXIT_CONFIG: u8 = 2;
/// Exit code: stopped by SIGINT before completion.
pub const EXIT_SIGINT: u8 = 130;
/// Exit code: stopped by SIGTERM before completion.
pub const EXIT_SIGTERM: u8 = 143;

/// Runs `run`.
pub fn run(args: Args) -> ExitCode {
    let config = match args
        .settings
        .with_positional(args.operator, args.enr_file)
        .validate()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    init_logging(config.log_level.as_filter());
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FATAL);
        }
    };
    rt.block_on(async move {
        let cancel = tokio_util::sync::CancellationToken::new();
        let signal = spawn_signal_handler(cancel.clone());
        let dkg = EmbeddedDkg::new(config.dkg.clone());
        let sidecar = match Sidecar::new(config, dkg) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::from(EXIT_FATAL);
            }
        };
        match sidecar.run(cancel).await {
            Ok(Outcome::LockExists | Outcome::Completed | Outcome::LockFetched) => {
                ExitCode::from(EXIT_OK)
            }
            Ok(Outcome::Cancelled) => {
                let code = signal.await.ok().flatten().unwrap_or(EXIT_SIGTERM);
                tracing::info!(
                    "Stopped before the DKG completed; nothing half-finished was left behind"
                );
                ExitCode::from(code)
            }
            Err(e) => {
                tracing::error!("Fatal error: {e}");
                ExitCode::from(EXIT_FATAL)
            }
        }
    })
}

/// Cancels on SIGTERM or SIGINT; resolves to the exit code for the signal seen.
fn spawn_signal_handler(
    cancel: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<Option<u8>> {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                tracing::warn!("cannot install signal handlers");
                return None;
            };
            let code = tokio::select! {
                _ = term.recv() => EXIT_SIGTERM,
                _ = int.recv() => EXIT_SIGINT,
            };
            tracing::info!("Signal received; stopping");
            cancel.cancel();
            Some(code)
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            cancel.cancel();
            Some(EXIT_SIGINT)
        }
    })
}

/// Logs on stdout with timestamps, as the original sidecar wrote them: plain
/// text, or JSON lines with `LOG_FORMAT=json`.
pub fn init_logging(level: &str) {
    init_logging_as(
        level,
        std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json"),
    );
}

/// [`init_logging`] with the format chosen by the caller: JSON lines (for
/// log collectors) or plain text.
pub fn init_logging_as(level: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_target(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
