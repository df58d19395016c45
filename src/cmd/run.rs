//! The `run` subcommand.

use std::process::ExitCode;

/// Arguments of `run`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `run`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("run: not implemented yet");
    ExitCode::from(2)
}
