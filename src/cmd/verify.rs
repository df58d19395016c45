//! The `verify` subcommand.

use std::process::ExitCode;

/// Arguments of `verify`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `verify`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("verify: not implemented yet");
    ExitCode::from(2)
}
