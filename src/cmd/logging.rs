//! Logging set-up shared by the subcommands (charon's --log-level/--log-format).

use tracing_subscriber::EnvFilter;

/// Logging flags.
#[derive(clap::Args, Debug, Clone)]
pub struct LogArgs {
    /// Log level: error, warn, info, debug or trace.
    #[arg(long, env = "CHARON_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Log format: console, logfmt or json.
    #[arg(long, env = "CHARON_LOG_FORMAT", default_value = "console")]
    pub log_format: String,
}

/// Installs the global subscriber; a second call is a no-op.
pub fn init(args: &LogArgs) {
    let filter = EnvFilter::try_new(format!(
        "{},libp2p=warn,libp2p_swarm=warn,yamux=warn,multistream_select=warn",
        args.log_level
    ))
    .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let _ = if args.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
