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
    /// Log colouring, as charon: auto (when stderr is a terminal), force or disable.
    #[arg(long, env = "CHARON_LOG_COLOR", default_value = "auto",
          value_parser = ["auto", "force", "disable"])]
    pub log_color: String,
    /// Also append the logs to this file (created 0600 if missing), as charon's flag does.
    #[arg(long, env = "CHARON_LOG_OUTPUT_PATH")]
    pub log_output_path: Option<std::path::PathBuf>,
}

/// Installs the global subscriber; a second call is a no-op. Fails only when
/// `--log-output-path` cannot be opened.
pub fn init(args: &LogArgs) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    use tracing_subscriber::fmt::writer::{BoxMakeWriter, MakeWriterExt};

    let filter = EnvFilter::try_new(format!(
        "{},libp2p=warn,libp2p_swarm=warn,yamux=warn,multistream_select=warn",
        args.log_level
    ))
    .unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, to_file) = match &args.log_output_path {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| format!("cannot open --log-output-path {}: {e}", path.display()))?;
            (
                BoxMakeWriter::new(std::io::stderr.and(std::sync::Mutex::new(file))),
                true,
            )
        }
        None => (BoxMakeWriter::new(std::io::stderr), false),
    };
    // Escape codes would end up in the file too, so auto colours only a
    // terminal-only stream.
    let ansi = match args.log_color.as_str() {
        "force" => true,
        "disable" => false,
        _ => !to_file && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi)
        .with_target(false);
    let _ = if args.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    Ok(())
}
