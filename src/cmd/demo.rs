//! The `demo` subcommand.

use std::process::ExitCode;

/// Arguments of `demo`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `demo`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("demo: not implemented yet");
    ExitCode::from(2)
}
